// glibc's mallopt, to bound the number of malloc arenas when a run uses several threads
// (Sources/RefundFlow/Run/MallocArenas.swift says why). Elsewhere it does nothing.
#if defined(__linux__) && __has_include(<malloc.h>)
#include <malloc.h>
#endif

static inline int refundflow_limit_malloc_arenas(int arenas) {
#ifdef M_ARENA_MAX
    return mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
    return 0;
#endif
}
