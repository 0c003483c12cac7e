#include "gig_jpeg.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

struct gig_jpeg {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr base;
    jmp_buf jump;
    int truncated;
};

static void gig_error_exit(j_common_ptr cinfo) {
    gig_jpeg *jpeg = (gig_jpeg *)cinfo->client_data;
    longjmp(jpeg->jump, 1);
}

static void gig_emit_message(j_common_ptr cinfo, int level) {
    gig_jpeg *jpeg = (gig_jpeg *)cinfo->client_data;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg->truncated = 1;
}

static void gig_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void copy_message(j_common_ptr cinfo, char *message, size_t capacity) {
    if (capacity == 0) return;
    char buffer[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buffer);
    strncpy(message, buffer, capacity - 1);
    message[capacity - 1] = 0;
}

static void fail(gig_jpeg *jpeg, const char *text, char *message, size_t capacity) {
    if (capacity > 0) snprintf(message, capacity, "%s", text);
    jpeg_destroy_decompress(&jpeg->cinfo);
    free(jpeg);
}

gig_jpeg *gig_jpeg_open(const unsigned char *data, size_t size, int *width, int *height, int *channels,
                        char *message, size_t message_capacity) {
    if (message_capacity > 0) message[0] = 0;
    gig_jpeg *jpeg = calloc(1, sizeof(gig_jpeg));
    if (!jpeg) {
        if (message_capacity > 0) snprintf(message, message_capacity, "out of memory");
        return NULL;
    }
    jpeg->cinfo.err = jpeg_std_error(&jpeg->base);
    jpeg->base.error_exit = gig_error_exit;
    jpeg->base.emit_message = gig_emit_message;
    jpeg->base.output_message = gig_output_message;
    jpeg->cinfo.client_data = jpeg;  /* kept by jpeg_create_decompress; read by the handlers */
    if (setjmp(jpeg->jump)) {
        copy_message((j_common_ptr)&jpeg->cinfo, message, message_capacity);
        jpeg_destroy_decompress(&jpeg->cinfo);
        free(jpeg);
        return NULL;
    }
    jpeg_create_decompress(&jpeg->cinfo);
    jpeg_mem_src(&jpeg->cinfo, data, (unsigned long)size);
    jpeg_read_header(&jpeg->cinfo, TRUE);
    if (jpeg->cinfo.jpeg_color_space == JCS_GRAYSCALE) {
        jpeg->cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (jpeg->cinfo.jpeg_color_space == JCS_CMYK || jpeg->cinfo.jpeg_color_space == JCS_YCCK) {
        fail(jpeg, "CMYK JPEG files are not supported", message, message_capacity);
        return NULL;
    } else {
        jpeg->cinfo.out_color_space = JCS_RGB;
    }
    jpeg_calc_output_dimensions(&jpeg->cinfo);
    *width = (int)jpeg->cinfo.output_width;
    *height = (int)jpeg->cinfo.output_height;
    *channels = jpeg->cinfo.output_components;
    return jpeg;
}

int gig_jpeg_read(gig_jpeg *jpeg, unsigned char *out, char *message, size_t message_capacity) {
    if (message_capacity > 0) message[0] = 0;
    if (setjmp(jpeg->jump)) {
        copy_message((j_common_ptr)&jpeg->cinfo, message, message_capacity);
        jpeg_destroy_decompress(&jpeg->cinfo);
        free(jpeg);
        return 1;
    }
    jpeg_start_decompress(&jpeg->cinfo);
    const size_t stride = (size_t)jpeg->cinfo.output_width * (size_t)jpeg->cinfo.output_components;
    while (jpeg->cinfo.output_scanline < jpeg->cinfo.output_height) {
        JSAMPROW row = out + stride * jpeg->cinfo.output_scanline;
        jpeg_read_scanlines(&jpeg->cinfo, &row, 1);
        if (jpeg->truncated) {
            fail(jpeg, "truncated JPEG data (premature end of file)", message, message_capacity);
            return 4;
        }
    }
    jpeg_finish_decompress(&jpeg->cinfo);
    jpeg_destroy_decompress(&jpeg->cinfo);
    free(jpeg);
    return 0;
}

void gig_jpeg_free(gig_jpeg *jpeg) {
    if (jpeg == NULL) return;
    jpeg_destroy_decompress(&jpeg->cinfo);
    free(jpeg);
}
