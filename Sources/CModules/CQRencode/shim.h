#ifndef PASSLINE_CQRENCODE_SHIM_H
#define PASSLINE_CQRENCODE_SHIM_H
#include <errno.h>
#include <qrencode.h>

/* errno is a macro over a thread-local; Swift reads it through this. */
static inline int passline_errno(void) { return errno; }
static inline void passline_clear_errno(void) { errno = 0; }
#endif
