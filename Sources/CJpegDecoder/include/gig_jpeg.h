// JPEG decoding through libjpeg(-turbo) with an error manager that returns instead of exiting.
#ifndef GIGTRACE_GIG_JPEG_H
#define GIGTRACE_GIG_JPEG_H
#include <stddef.h>

/// Decodes the JPEG in `data[0..<size]` with libjpeg's defaults (ISLOW IDCT, fancy upsampling —
/// what Pillow uses) into a malloc'ed buffer of height*width*channels bytes, row-major and
/// interleaved; channels is 1 for greyscale files and 3 (RGB) otherwise. The caller frees `*out`.
/// Returns 0 on success; otherwise `*out` is NULL and `message` holds libjpeg's one-line reason.
/// A truncated file is an error (as in Pillow); other corrupt-data warnings are tolerated.
int gig_jpeg_decode(const unsigned char *data, size_t size, unsigned char **out,
                    int *width, int *height, int *channels,
                    char *message, size_t message_capacity);

#endif
