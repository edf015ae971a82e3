#include <zbar.h>

/* "Y800": one byte of luminance a pixel. zbar_fourcc is a macro Swift cannot call. */
static inline unsigned long passline_zbar_y800(void) { return zbar_fourcc('Y', '8', '0', '0'); }
