#ifndef PASSLINE_CTHREADNAME_SHIM_H
#define PASSLINE_CTHREADNAME_SHIM_H
#if defined(__linux__)
#include <sys/prctl.h>
/* Names the calling thread for top -H, perf and /proc (15 characters are kept). prctl is
   variadic, which Swift cannot call; Foundation's Thread.name does not always reach the kernel. */
static inline void passline_name_this_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
#else
static inline void passline_name_this_thread(const char *name) {}
#endif
#endif
