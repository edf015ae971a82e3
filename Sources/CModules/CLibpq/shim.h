#ifndef PASSLINE_CLIBPQ_SHIM_H
#define PASSLINE_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
