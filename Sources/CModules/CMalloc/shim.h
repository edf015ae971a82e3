#ifndef PASSLINE_CMALLOC_SHIM_H
#define PASSLINE_CMALLOC_SHIM_H
#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
/* glibc's allocator knobs, which Swift's Glibc module does not export. */
static inline void passline_malloc_keep_large_buffers_on_heap(int mmap_threshold, int trim_threshold, int top_pad) {
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
    mallopt(M_TOP_PAD, top_pad);
}
#else
static inline void passline_malloc_keep_large_buffers_on_heap(int mmap_threshold, int trim_threshold, int top_pad) {}
#endif
#endif
