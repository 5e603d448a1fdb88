#ifndef REFUNDFLOW_CLIBXML2_SHIM_H
#define REFUNDFLOW_CLIBXML2_SHIM_H

/* libxml2's headers pull in the system ICU when LIBXML_ICU_ENABLED is set, and that ICU
   clashes with Foundation's own ICU module. Include xmlversion.h first, switch ICU off,
   then include the rest. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlerror.h>

/* xmlFree is a global function pointer in libxml2, which Swift cannot call directly. */
static inline void refundflow_xmlFree(void *ptr) { xmlFree(ptr); }

#endif
