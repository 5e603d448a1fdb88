// zlib's streaming inflate, for gzip-compressed inputs (refunds.csv.gz).
#include <zlib.h>
