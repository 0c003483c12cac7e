#include "gig_winograd.h"
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
typedef int i8 __attribute__((vector_size(32)));

// Macros, not functions: vectors of 256 and 512 bits may not cross a function boundary in the
// builds without AVX-512 (or AVX), whose calling conventions pass them differently.
#define LOAD8(p) ({ v8 x_; memcpy(&x_, (p), sizeof x_); x_; })
#define LOAD16(p) ({ v16 x_; memcpy(&x_, (p), sizeof x_); x_; })
#define STORE8(p, x) do { v8 x_ = (x); memcpy((p), &x_, sizeof x_); } while (0)
#define STORE16(p, x) do { v16 x_ = (x); memcpy((p), &x_, sizeof x_); } while (0)
#define EVEN(a) __builtin_shufflevector((a), (a), 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD(a) __builtin_shufflevector((a), (a), 1, 3, 5, 7, 9, 11, 13, 15)
#define INTERLEAVE(a, b) __builtin_shufflevector((a), (b), 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15)
/// x < 0 → 0, lane by lane; NaN and −0 stay (as the im2col path's `< 0 → 0`).
#define RECTIFY(x) do { i8 neg_ = (x) < (v8){0, 0, 0, 0, 0, 0, 0, 0}; i8 bits_; \
    memcpy(&bits_, &(x), sizeof bits_); bits_ &= ~neg_; memcpy(&(x), &bits_, sizeof bits_); } while (0)

// One build of the transforms per vector width: the x86-64 baseline (SSE2), AVX2 and AVX-512.
#define GIG_TARGET
#define GIG_NAME(name) name##_baseline
#include "gig_winograd_kernels.h"
#undef GIG_TARGET
#undef GIG_NAME

#if defined(__x86_64__)
#define GIG_TARGET __attribute__((target("avx2")))
#define GIG_NAME(name) name##_avx2
#include "gig_winograd_kernels.h"
#undef GIG_TARGET
#undef GIG_NAME

#define GIG_TARGET __attribute__((target("avx512f")))
#define GIG_NAME(name) name##_avx512
#include "gig_winograd_kernels.h"
#undef GIG_TARGET
#undef GIG_NAME
#endif

int gig_winograd_vector_level(void) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2")) return 1;
#endif
    return 0;
}

void gig_winograd_input_channel_at(int level, const float *l0, const float *l1, const float *l2, const float *l3,
                                   float *v, long tw, long cs) {
#if defined(__x86_64__)
    if (level >= 2) { input_channel_avx512(l0, l1, l2, l3, v, tw, cs); return; }
    if (level == 1) { input_channel_avx2(l0, l1, l2, l3, v, tw, cs); return; }
#endif
    input_channel_baseline(l0, l1, l2, l3, v, tw, cs);
}

void gig_winograd_output_row_at(int level, const float *prod, long ld, long ms, long channels, long tw,
                                const float *bias, int relu, float *out, long oh, long ow, long y0) {
#if defined(__x86_64__)
    if (level >= 2) { output_row_avx512(prod, ld, ms, channels, tw, bias, relu, out, oh, ow, y0); return; }
    if (level == 1) { output_row_avx2(prod, ld, ms, channels, tw, bias, relu, out, oh, ow, y0); return; }
#endif
    output_row_baseline(prod, ld, ms, channels, tw, bias, relu, out, oh, ow, y0);
}

void gig_winograd_input_channel(const float *l0, const float *l1, const float *l2, const float *l3,
                                float *v, long tw, long cs) {
    gig_winograd_input_channel_at(gig_winograd_vector_level(), l0, l1, l2, l3, v, tw, cs);
}

void gig_winograd_output_row(const float *prod, long ld, long ms, long channels, long tw,
                             const float *bias, int relu, float *out, long oh, long ow, long y0) {
    gig_winograd_output_row_at(gig_winograd_vector_level(), prod, ld, ms, channels, tw, bias, relu, out, oh, ow, y0);
}
