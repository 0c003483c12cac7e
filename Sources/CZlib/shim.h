// zlib from Debian: zlib1g-dev (gzip-compressed IDX datasets).
#ifndef GIGTRACE_CZLIB_SHIM_H
#define GIGTRACE_CZLIB_SHIM_H
#include <zlib.h>
#endif
