// libjpeg-turbo and libspng from Debian: libjpeg62-turbo-dev libspng-dev.
#ifndef GIGTRACE_CIMAGECODECS_SHIM_H
#define GIGTRACE_CIMAGECODECS_SHIM_H
#include <stdio.h>
#include <stddef.h>
#include <jpeglib.h>
#include <spng.h>
#endif
