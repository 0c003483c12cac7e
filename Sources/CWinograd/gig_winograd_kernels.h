// The two tile transforms, included once per vector width by gig_winograd.c with GIG_TARGET (a
// target attribute, or nothing) and GIG_NAME (the suffix of that build's functions) defined.
// Vectors travel only through macros (gig_winograd.c): 256- and 512-bit vectors may not cross a
// function boundary in builds without AVX or AVX-512, whose calling conventions differ.

GIG_TARGET
static void GIG_NAME(input_channel)(const float *l0, const float *l1, const float *l2, const float *l3,
                                float *v, long tw, long cs) {
    for (long tx = 0; tx < tw; tx += 8) {
        const long off = 2 * tx;
        // Input columns 2·tx + 0…3 of the 8 tiles: even/odd lanes of two 16-wide loads.
        v16 a0 = LOAD16(l0 + off), b0 = LOAD16(l0 + off + 2);
        v16 a1 = LOAD16(l1 + off), b1 = LOAD16(l1 + off + 2);
        v16 a2 = LOAD16(l2 + off), b2 = LOAD16(l2 + off + 2);
        v16 a3 = LOAD16(l3 + off), b3 = LOAD16(l3 + off + 2);
        v8 d[4][4] = {
            {EVEN(a0), ODD(a0), EVEN(b0), ODD(b0)},
            {EVEN(a1), ODD(a1), EVEN(b1), ODD(b1)},
            {EVEN(a2), ODD(a2), EVEN(b2), ODD(b2)},
            {EVEN(a3), ODD(a3), EVEN(b3), ODD(b3)},
        };
        // Row combination Bᵀ d, per tile column j.
        v8 t[4][4];
        for (int j = 0; j < 4; j++) {
            t[0][j] = d[0][j] - d[2][j];
            t[1][j] = d[1][j] + d[2][j];
            t[2][j] = d[2][j] - d[1][j];
            t[3][j] = d[1][j] - d[3][j];
        }
        // Column combination (·) B, stored at ξ = 4i + j.
        float *dst = v + tx;
        for (int i = 0; i < 4; i++) {
            STORE8(dst + (4 * i + 0) * cs, t[i][0] - t[i][2]);
            STORE8(dst + (4 * i + 1) * cs, t[i][1] + t[i][2]);
            STORE8(dst + (4 * i + 2) * cs, t[i][2] - t[i][1]);
            STORE8(dst + (4 * i + 3) * cs, t[i][1] - t[i][3]);
        }
    }
}

GIG_TARGET
static void GIG_NAME(output_row)(const float *prod, long ld, long ms, long channels, long tw,
                             const float *bias, int relu, float *out, long oh, long ow, long y0) {
    const int second = y0 + 1 < oh;
    for (long m = 0; m < channels; m++) {
        const float *src = prod + m * ld;
        const float bv = bias[m];
        const v8 b = {bv, bv, bv, bv, bv, bv, bv, bv};
        float *row0 = out + (m * oh + y0) * ow, *row1 = row0 + ow;
        for (long tx = 0; tx < tw; tx += 8) {
            v8 s0[4], s1[4];
            // Aᵀ m over the rows i, per column j: s0_j = m0j + m1j + m2j, s1_j = m1j − m2j − m3j.
            for (int j = 0; j < 4; j++) {
                v8 m1 = LOAD8(src + (4 + j) * ms + tx), m2 = LOAD8(src + (8 + j) * ms + tx);
                s0[j] = LOAD8(src + j * ms + tx) + m1 + m2;
                s1[j] = m1 - m2 - LOAD8(src + (12 + j) * ms + tx);
            }
            // (·) A over the columns, then bias and ReLU.
            v8 y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b;
            v8 y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b;
            if (relu) {
                RECTIFY(y00); RECTIFY(y01);
                RECTIFY(y10); RECTIFY(y11);
            }
            const long x0 = 2 * tx;
            if (x0 + 16 <= ow) {
                STORE16(row0 + x0, INTERLEAVE(y00, y01));
                if (second) {
                    STORE16(row1 + x0, INTERLEAVE(y10, y11));
                }
            } else {
                for (int k = 0; k < 8 && x0 + 2 * k < ow; k++) {
                    const long c = x0 + 2 * k;
                    const int pair = c + 1 < ow;
                    row0[c] = y00[k];
                    if (pair) row0[c + 1] = y01[k];
                    if (second) {
                        row1[c] = y10[k];
                        if (pair) row1[c + 1] = y11[k];
                    }
                }
            }
        }
    }
}
