// JPEG decoding through libjpeg(-turbo) with an error manager that returns instead of exiting.
#ifndef GIGTRACE_GIG_JPEG_H
#define GIGTRACE_GIG_JPEG_H
#include <stddef.h>

/// A JPEG being decoded: created by gig_jpeg_open, freed by gig_jpeg_read (always).
typedef struct gig_jpeg gig_jpeg;

/// Reads the header of the JPEG in `data[0..<size]` (which must stay valid until gig_jpeg_read
/// returns) and reports its size: channels is 1 for greyscale files, 3 (RGB) otherwise.
/// Returns NULL on failure, with libjpeg's one-line reason in `message`.
gig_jpeg *gig_jpeg_open(const unsigned char *data, size_t size, int *width, int *height, int *channels,
                        char *message, size_t message_capacity);

/// Decodes the pixels with libjpeg's defaults (ISLOW IDCT, fancy upsampling — what Pillow uses)
/// into `out` (height*width*channels bytes, row-major, interleaved) and frees `jpeg`.
/// Returns 0 on success; otherwise `message` holds the reason. A truncated file is an error (as in
/// Pillow); other corrupt-data warnings are tolerated.
int gig_jpeg_read(gig_jpeg *jpeg, unsigned char *out, char *message, size_t message_capacity);

/// Frees a `jpeg` that will not be decoded (e.g. its declared size is above a limit).
void gig_jpeg_free(gig_jpeg *jpeg);

#endif
