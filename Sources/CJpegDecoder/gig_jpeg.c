#include "gig_jpeg.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    int truncated;
} gig_error_mgr;

static void gig_error_exit(j_common_ptr cinfo) {
    gig_error_mgr *err = (gig_error_mgr *)cinfo->err;
    longjmp(err->jump, 1);
}

static void gig_emit_message(j_common_ptr cinfo, int level) {
    gig_error_mgr *err = (gig_error_mgr *)cinfo->err;
    if (level < 0 && err->base.msg_code == JWRN_JPEG_EOF) err->truncated = 1;
}

static void gig_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void copy_message(j_common_ptr cinfo, char *message, size_t capacity) {
    if (capacity == 0) return;
    char buffer[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buffer);
    strncpy(message, buffer, capacity - 1);
    message[capacity - 1] = 0;
}

int gig_jpeg_decode(const unsigned char *data, size_t size, unsigned char **out,
                    int *width, int *height, int *channels,
                    char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    gig_error_mgr err;
    unsigned char *volatile pixels = NULL;
    *out = NULL;
    if (message_capacity > 0) message[0] = 0;

    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = gig_error_exit;
    err.base.emit_message = gig_emit_message;
    err.base.output_message = gig_output_message;
    err.truncated = 0;
    if (setjmp(err.jump)) {
        copy_message((j_common_ptr)&cinfo, message, message_capacity);
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        if (message_capacity > 0) snprintf(message, message_capacity, "CMYK JPEG files are not supported");
        jpeg_destroy_decompress(&cinfo);
        return 2;
    } else {
        cinfo.out_color_space = JCS_RGB;
    }
    jpeg_start_decompress(&cinfo);
    const size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) {
        if (message_capacity > 0) snprintf(message, message_capacity, "out of memory");
        jpeg_destroy_decompress(&cinfo);
        return 3;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (err.truncated) break;
    }
    if (err.truncated) {
        if (message_capacity > 0) snprintf(message, message_capacity, "truncated JPEG data (premature end of file)");
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 4;
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *channels = cinfo.output_components;
    jpeg_destroy_decompress(&cinfo);
    *out = pixels;
    return 0;
}
