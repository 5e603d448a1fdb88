// zlib's streaming inflate, for gzip-compressed inputs (refunds.csv.gz) and .xlsx workbooks' parts.
#include <zlib.h>
