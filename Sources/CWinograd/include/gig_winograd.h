#ifndef GIG_WINOGRAD_H
#define GIG_WINOGRAD_H

/// Winograd F(2×2, 3×3) tile transforms, eight tiles of one tile row at a time (the CNN module's
/// Winograd.swift plans the tiles and runs the GEMMs). Written in C so that each has one build per
/// x86-64 vector width (AVX-512, AVX2, the SSE2 baseline), chosen on every call from the CPU's
/// features; Swift compiles its SIMD types for the baseline only.

/// V = Bᵀ d B of one input channel of one tile row: `l0`…`l3` are the four zero-padded input rows
/// (tile tx reads columns 2·tx … 2·tx + 3; each row readable to 2·tw + 18), `v` receives component
/// ξ = 4i + j of tile tx at v[ξ·cs + tx], for tx in steps of 8 while tx < tw (a ragged last step
/// writes up to 7 columns past tw).
void gig_winograd_input_channel(const float *l0, const float *l1, const float *l2, const float *l3,
                                float *v, long tw, long cs);

/// Y = Aᵀ m A + bias (then ReLU when `relu`) of one tile row for `channels` output channels: the
/// products of channel m, component ξ, tile tx sit at prod[ξ·ms + m·ld + tx]; output rows y0 and
/// y0 + 1 (when y0 + 1 < oh) of plane m of `out` ([channels, oh, ow]) receive the tiles' 2×2 outputs
/// that fall inside the plane.
void gig_winograd_output_row(const float *prod, long ld, long ms, long channels, long tw,
                             const float *bias, int relu, float *out, long oh, long ow, long y0);

/// The widest build this CPU runs: 0 the baseline, 1 AVX2, 2 AVX-512 (always 0 off x86-64).
int gig_winograd_vector_level(void);

/// The transforms of one build (`level` as `gig_winograd_vector_level`; at most the CPU's), for tests.
void gig_winograd_input_channel_at(int level, const float *l0, const float *l1, const float *l2, const float *l3,
                                   float *v, long tw, long cs);
void gig_winograd_output_row_at(int level, const float *prod, long ld, long ms, long channels, long tw,
                                const float *bias, int relu, float *out, long oh, long ow, long y0);

#endif
