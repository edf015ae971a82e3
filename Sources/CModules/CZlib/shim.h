#ifndef PASSLINE_CZLIB_SHIM_H
#define PASSLINE_CZLIB_SHIM_H
#include <zlib.h>
#endif
