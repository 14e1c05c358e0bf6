/* affect-edge's HiSTN student in C99: see ae_histn.h. */
#include "ae_histn.h"

#include <math.h>
#include <string.h>

/* On x86-64 hosts, the package build defines AE_HISTN_CLONES: GCC then compiles the hot loops
 * once per instruction set and the loader picks the best the CPU has. Firmware builds leave it
 * undefined and get plain C99. */
#if defined(AE_HISTN_CLONES) && defined(__GNUC__) && defined(__x86_64__)
#define AE_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AE_HOT
#endif
/* Small helpers of the hot loops: inlined into each clone (so compiled for its instruction set). */
#if defined(__GNUC__)
#define AE_INLINE static inline __attribute__((always_inline))
#else
#define AE_INLINE static inline
#endif

#define LANES AE_HISTN_LANES
#define VL AE_HISTN_VL

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

/* Padded input row: room for every lane block's `taps` reads. */
static int row_len(const ae_histn *net) { return round_up(net->samples, LANES) + net->taps; }

/* One map row after the temporal conv: `depth_taps - 1` zeros around the padded lanes. */
static int map_len(const ae_histn *net) {
    return round_up(net->samples, LANES) + net->depth_taps - 1;
}

/* The FFT path: the temporal conv as a circular convolution of N = 2H points, N the smallest
 * power of two with no wrap-around into the outputs the model keeps; zero for the direct path. */
static int fft_half(const ae_histn *net) {
    int n = 4, reach;
#ifdef AE_HISTN_DIRECT
    return 0;
#endif
    /* Worth it when the lanes are more than half used (measured: 8 electrodes of 16 lanes
     * cost about the same either way). */
    if (2 * net->electrodes <= (net->electrodes + VL - 1) / VL * VL || net->taps < 16) return 0;
    reach = net->samples + (net->pad > net->taps - 1 - net->pad ? net->pad
                                                                : net->taps - 1 - net->pad);
    while (n < reach) n *= 2;
    return n > AE_HISTN_MAX_FFT ? 0 : n / 2;
}

int ae_histn_fft_size(const ae_histn *net) { return 2 * fft_half(net); }

int ae_histn_check(const ae_histn *net) {
    if (net->samples < 2 || net->electrodes < 1 || net->levels < 1) return -1;
    if (net->maps < 1 || net->maps > AE_HISTN_MAX_MAPS) return -2;
    if (net->taps < 1 || net->taps > AE_HISTN_MAX_TAPS) return -3;
    if (net->pad < 0 || net->pad >= net->taps) return -4;
    if (net->depth_taps < 1 || net->depth_taps % 2 == 0) return -5;
    if (!net->temporal || !net->temporal_bias || !net->depth || !net->depth_bias || !net->head ||
        !net->head_bias)
        return -6;
    return 0;
}

/* FFT-path scratch, in floats from the start: twiddles (H), partner positions (H), the maps'
 * spectral factors (maps x H x 4), the input's spectrum (2 x H x VL), one map's (2 x H x VL),
 * one map's ELU'd conv output with the depthwise conv's zeros around it ((T + D - 1) x VL),
 * then the pooled features (maps x electrodes x T / 2). */
typedef struct {
    float *tw, *part, *ab, *zr, *zi, *vr, *vi, *e, *feat;
} fft_layout;

/* The layout's offsets in floats (o[0..8], in the struct's order); returns the total. */
static size_t fft_offsets(const ae_histn *net, int h, size_t o[9]) {
    const size_t H = (size_t)h, V = (size_t)VL;
    const size_t sizes[9] = {H,
                             H,
                             (size_t)net->maps * H * 4,
                             H * V,
                             H * V,
                             H * V,
                             H * V,
                             (size_t)(net->samples + net->depth_taps - 1) * V,
                             (size_t)net->maps * (size_t)net->electrodes *
                                     (size_t)(net->samples / 2) +
                                 V};
    size_t at = 0;
    int i;
    for (i = 0; i < 9; ++i) {
        o[i] = at;
        at += sizes[i];
    }
    return at;
}

static void fft_layout_of(const ae_histn *net, int h, float *base, fft_layout *l) {
    size_t o[9];
    fft_offsets(net, h, o);
    l->tw = base + o[0];
    l->part = base + o[1];
    l->ab = base + o[2];
    l->zr = base + o[3];
    l->zi = base + o[4];
    l->vr = base + o[5];
    l->vi = base + o[6];
    l->e = base + o[7];
    l->feat = base + o[8];
}

size_t ae_histn_scratch(const ae_histn *net) {
    const int h = fft_half(net);
    if (h) {
        size_t o[9];
        return fft_offsets(net, h, o);
    }
    return (size_t)row_len(net) + (size_t)net->maps * (size_t)map_len(net) +
           (size_t)net->maps * (size_t)net->electrodes * (size_t)(net->samples / 2);
}

static int bit_reverse(int i, int n) {
    int r = 0;
    for (; n > 1; n >>= 1, i >>= 1) r = (r << 1) | (i & 1);
    return r;
}

/* The spectral factors of map m: with Z the H-point FFT of z[n] = x[2n] + i x[2n+1] and P = Z[k],
 * Q = conj(Z[H - k]), the H-point inverse FFT of alpha P + beta Q is v[n] = y[2n] + i y[2n+1],
 * y the map's conv output (G the conv's N-point spectrum; the real-FFT split and merge folded in
 * with G, and 1 / H). Stored at k's bit-reversed position, in double until the store. */
static void spectral_factors(const ae_histn *net, int h, int m, float *ab) {
    const double pi = 3.14159265358979323846;
    const int n = 2 * h, K = net->taps;
    const float *w = net->temporal + (size_t)m * K;
    double gr[2], gi[2];
    int k, p, s, j;
    for (k = 0; k < h; ++k) {
        const int kk[2] = {k, h - k};
        double ar, ai, br, bi, cr, ci, dr, di, a2r, a2i, b2r, b2i, tr, ti, ur, ui;
        double wk_c, wk_s;
        for (s = 0; s < 2; ++s) {
            gr[s] = gi[s] = 0.0;
            for (j = 0; j < K; ++j) {
                const double th = -2.0 * pi * (double)kk[s] * (double)(net->pad - j) / (double)n;
                gr[s] += (double)w[j] * cos(th);
                gi[s] += (double)w[j] * sin(th);
            }
        }
        /* W^k = e^{-2 pi i k / N}: a_k = (1 - i W^k) / 2, b_k = (1 + i W^k) / 2,
         * c_k = (1 + i W^-k) / 2, d_k = (1 - i W^-k) / 2. */
        wk_c = cos(2.0 * pi * k / n);
        wk_s = -sin(2.0 * pi * k / n);
        ar = 0.5 * (1.0 + wk_s), ai = -0.5 * wk_c;
        br = 0.5 * (1.0 - wk_s), bi = 0.5 * wk_c;
        cr = 0.5 * (1.0 + wk_s), ci = 0.5 * wk_c; /* i W^-k = i (c - i s') with s' = -wk_s */
        dr = 0.5 * (1.0 - wk_s), di = -0.5 * wk_c;
        wk_c = cos(2.0 * pi * (h - k) / n);
        wk_s = -sin(2.0 * pi * (h - k) / n);
        a2r = 0.5 * (1.0 + wk_s), a2i = 0.5 * wk_c;  /* conj(a_{H-k}) */
        b2r = 0.5 * (1.0 - wk_s), b2i = -0.5 * wk_c; /* conj(b_{H-k}) */
        /* t = c G[k], u = d conj(G[H-k]) */
        tr = cr * gr[0] - ci * gi[0], ti = cr * gi[0] + ci * gr[0];
        ur = dr * gr[1] + di * gi[1], ui = di * gr[1] - dr * gi[1];
        p = bit_reverse(k, h);
        ab[4 * p + 0] = (float)((tr * ar - ti * ai + ur * b2r - ui * b2i) / h);
        ab[4 * p + 1] = (float)((tr * ai + ti * ar + ur * b2i + ui * b2r) / h);
        ab[4 * p + 2] = (float)((tr * br - ti * bi + ur * a2r - ui * a2i) / h);
        ab[4 * p + 3] = (float)((tr * bi + ti * br + ur * a2i + ui * a2r) / h);
    }
}

void ae_histn_prepare(const ae_histn *net, float *scratch) {
    const double pi = 3.14159265358979323846;
    const int h = fft_half(net);
    fft_layout l;
    int q, m;
    if (!h) return;
    memset(scratch, 0, sizeof(float) * ae_histn_scratch(net));
    fft_layout_of(net, h, scratch, &l);
    for (q = 0; q < h / 2; ++q) {
        l.tw[q] = (float)cos(2.0 * pi * q / h);
        l.tw[h / 2 + q] = (float)-sin(2.0 * pi * q / h);
    }
    for (q = 0; q < h; ++q)
        l.part[q] = (float)bit_reverse((h - bit_reverse(q, h)) & (h - 1), h);
    for (m = 0; m < net->maps; ++m) spectral_factors(net, h, m, l.ab + (size_t)m * h * 4);
}

/* exp(x) - 1 for x <= 0 (ELU's negative side), branch free so that loops over it vectorise:
 * exp by 2^k e^r with |r| <= ln2 / 2 and a degree-5 polynomial (relative error about 2e-7),
 * 2^k built in the exponent bits. The integer k is read from the bits of the float that rounded
 * it (no float-to-int conversion, which may trap and so would not be computed on both sides). */
static float elu(float x) {
    const float log2e = 1.44269504f, ln2 = 0.693147182f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float v = x < -87.0f ? -87.0f : x;
    float r, p, neg;
    union {
        unsigned int i;
        float f;
    } k, scale;
    v = v > 0.0f ? 0.0f : v;
    k.f = v * log2e + magic;
    /* ln2 in one float: its rounding (2e-9) moves r by at most 126 times that, where e^v is
     * below 1e-38. */
    r = v - (k.f - magic) * ln2;
    /* 1 + r + r^2 (c2 + c3 r + c4 r^2 + c5 r^3), c fitted for relative error on |r| <= ln2 / 2
     * (largest 1.8e-7 in float, as Taylor's degree 6). */
    p = 0.008312525f;
    p = p * r + 0.041890115f;
    p = p * r + 0.16667114f;
    p = p * r + 0.49999231f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* k.i = 0x4B400000 + k for -126 <= k <= 0; the exponent field of 2^k is k + 127. */
    scale.i = (k.i - (0x4B400000u - 127u)) << 23;
    neg = p * scale.f - 1.0f;
    return x > 0.0f ? x : neg;
}

/* Four maps of the temporal conv over one padded row, `LANES` outputs at a time (the four
 * maps share each load). */
AE_HOT static void temporal4(const float *xp, const float *w, const float *bias, int taps,
                             int lanes_total, float *y, int stride) {
    int b, k, j;
    for (b = 0; b < lanes_total; b += LANES) {
        float a0[LANES], a1[LANES], a2[LANES], a3[LANES];
        for (j = 0; j < LANES; ++j) {
            a0[j] = bias[0];
            a1[j] = bias[1];
            a2[j] = bias[2];
            a3[j] = bias[3];
        }
        for (k = 0; k < taps; ++k) {
            const float *s = xp + b + k;
            const float w0 = w[k], w1 = w[taps + k], w2 = w[2 * taps + k], w3 = w[3 * taps + k];
            for (j = 0; j < LANES; ++j) {
                const float v = s[j];
                a0[j] += w0 * v;
                a1[j] += w1 * v;
                a2[j] += w2 * v;
                a3[j] += w3 * v;
            }
        }
        for (j = 0; j < LANES; ++j) {
            y[b + j] = elu(a0[j]);
            y[stride + b + j] = elu(a1[j]);
            y[2 * stride + b + j] = elu(a2[j]);
            y[3 * stride + b + j] = elu(a3[j]);
        }
    }
}

/* One map (when the maps do not come in fours). */
AE_HOT static void temporal1(const float *xp, const float *w, float bias, int taps,
                             int lanes_total, float *y) {
    int b, k, j;
    for (b = 0; b < lanes_total; b += LANES) {
        float a[LANES];
        for (j = 0; j < LANES; ++j) a[j] = bias;
        for (k = 0; k < taps; ++k) {
            const float *s = xp + b + k;
            const float wk = w[k];
            for (j = 0; j < LANES; ++j) a[j] += wk * s[j];
        }
        for (j = 0; j < LANES; ++j) y[b + j] = elu(a[j]);
    }
}

/* The depthwise conv of one map row (zeros around it), ELU, and pooling by 2 into
 * out[0], out[stride], ..., LANES samples at a time in registers. */
AE_HOT static void depth_pool(const float *e, const float *w, float bias, int taps, int half,
                              float *out, int stride) {
    int b, t, j;
    for (b = 0; b < 2 * half; b += LANES) {
        float a[LANES], p[LANES / 2];
        const int n = half - b / 2 < LANES / 2 ? half - b / 2 : LANES / 2;
        for (t = 0; t < LANES; ++t) a[t] = bias;
        for (j = 0; j < taps; ++j) {
            const float wj = w[j];
            const float *ej = e + b + j;
            for (t = 0; t < LANES; ++t) a[t] += wj * ej[t];
        }
        for (t = 0; t < LANES; ++t) a[t] = elu(a[t]);
        for (t = 0; t < LANES / 2; ++t) p[t] = 0.5f * (a[2 * t] + a[2 * t + 1]);
        for (t = 0; t < n; ++t) out[(size_t)(b / 2 + t) * stride] = p[t];
    }
}

/* A dot product in LANES partial sums (they vectorise), added pairwise at the end. */
AE_HOT static float dot(const float *a, const float *b, int n) {
    float acc[LANES];
    int i, j, m = n / LANES * LANES;
    for (j = 0; j < LANES; ++j) acc[j] = 0.0f;
    for (i = 0; i < m; i += LANES)
        for (j = 0; j < LANES; ++j) acc[j] += a[i + j] * b[i + j];
    for (i = m; i < n; ++i) acc[i - m] += a[i] * b[i];
    for (j = LANES / 2; j > 0; j /= 2) {
        int q;
        for (q = 0; q < j; ++q) acc[q] += acc[q + j];
    }
    return acc[0];
}

static void run_direct(const ae_histn *net, const float *x, float *scratch, float *out) {
    const int T = net->samples, C = net->electrodes, M = net->maps, K = net->taps;
    const int D = net->depth_taps, dpad = D / 2, half = T / 2;
    const int lanes_total = round_up(T, LANES), rl = row_len(net), ml = map_len(net);
    float *xp = scratch;
    float *maps = xp + rl;
    float *feat = maps + (size_t)M * ml;
    int c, m, t, l;
    for (c = 0; c < C; ++c) {
        memset(xp, 0, sizeof(float) * (size_t)rl);
        for (t = 0; t < T; ++t) xp[net->pad + t] = x[(size_t)t * C + c];
        /* Each map row: dpad zeros, the conv's lanes, zeros after. */
        m = 0;
        for (; m + 4 <= M; m += 4)
            temporal4(xp, net->temporal + (size_t)m * K, net->temporal_bias + m, K, lanes_total,
                      maps + (size_t)m * ml + dpad, ml);
        for (; m < M; ++m)
            temporal1(xp, net->temporal + (size_t)m * K, net->temporal_bias[m], K, lanes_total,
                      maps + (size_t)m * ml + dpad);
        for (m = 0; m < M; ++m) {
            float *row = maps + (size_t)m * ml;
            for (t = 0; t < dpad; ++t) row[t] = 0.0f;
            for (t = dpad + T; t < ml; ++t) row[t] = 0.0f;
            depth_pool(row, net->depth + (size_t)m * D, net->depth_bias[m], D, half,
                       feat + (size_t)m * half * C + c, C);
        }
    }
    for (l = 0; l < net->levels; ++l) {
        const size_t n = (size_t)M * C * half;
        out[l] = net->head_bias[l] + dot(net->head + (size_t)l * n, feat, (int)n);
    }
}

/* The FFT path's transforms: H complex points, each a vector of VL lanes (the electrodes) in
 * split form (re[n][VL], im[n][VL]); tw: cos then -sin of 2 pi q / H for q < H / 2. */

/* Two radix-2 stages fused over four points (one pass over memory instead of two; the same
 * arithmetic, so the same bit-reversed order). DIF: stage one pairs (0, 2) and (1, 3) with
 * twiddles w0, w1, stage two pairs (0, 1) and (2, 3) with w2. */
AE_INLINE void bfly2x2_dif(float *restrict r0, float *restrict i0, float *restrict r1,
                        float *restrict i1, float *restrict r2, float *restrict i2,
                        float *restrict r3, float *restrict i3, const float *w) {
    const float w0r = w[0], w0i = w[1], w1r = w[2], w1i = w[3], w2r = w[4], w2i = w[5];
    int j;
    for (j = 0; j < VL; ++j) {
        const float d0r = r0[j] - r2[j], d0i = i0[j] - i2[j];
        const float d1r = r1[j] - r3[j], d1i = i1[j] - i3[j];
        const float s0r = r0[j] + r2[j], s0i = i0[j] + i2[j];
        const float s1r = r1[j] + r3[j], s1i = i1[j] + i3[j];
        const float t0r = d0r * w0r - d0i * w0i, t0i = d0r * w0i + d0i * w0r;
        const float t1r = d1r * w1r - d1i * w1i, t1i = d1r * w1i + d1i * w1r;
        const float e0r = s0r - s1r, e0i = s0i - s1i, e1r = t0r - t1r, e1i = t0i - t1i;
        r0[j] = s0r + s1r;
        i0[j] = s0i + s1i;
        r1[j] = e0r * w2r - e0i * w2i;
        i1[j] = e0r * w2i + e0i * w2r;
        r2[j] = t0r + t1r;
        i2[j] = t0i + t1i;
        r3[j] = e1r * w2r - e1i * w2i;
        i3[j] = e1r * w2i + e1i * w2r;
    }
}

/* DIT: stage one pairs (0, 1) and (2, 3) with w2, stage two pairs (0, 2) and (1, 3) with w0,
 * w1 (conjugate twiddles given). */
AE_INLINE void bfly2x2_dit(float *restrict r0, float *restrict i0, float *restrict r1,
                        float *restrict i1, float *restrict r2, float *restrict i2,
                        float *restrict r3, float *restrict i3, const float *w) {
    const float w0r = w[0], w0i = w[1], w1r = w[2], w1i = w[3], w2r = w[4], w2i = w[5];
    int j;
    for (j = 0; j < VL; ++j) {
        const float u1r = r1[j] * w2r - i1[j] * w2i, u1i = r1[j] * w2i + i1[j] * w2r;
        const float u3r = r3[j] * w2r - i3[j] * w2i, u3i = r3[j] * w2i + i3[j] * w2r;
        const float a0r = r0[j] + u1r, a0i = i0[j] + u1i, a1r = r0[j] - u1r, a1i = i0[j] - u1i;
        const float a2r = r2[j] + u3r, a2i = i2[j] + u3i, a3r = r2[j] - u3r, a3i = i2[j] - u3i;
        const float t2r = a2r * w0r - a2i * w0i, t2i = a2r * w0i + a2i * w0r;
        const float t3r = a3r * w1r - a3i * w1i, t3i = a3r * w1i + a3i * w1r;
        r0[j] = a0r + t2r;
        i0[j] = a0i + t2i;
        r2[j] = a0r - t2r;
        i2[j] = a0i - t2i;
        r1[j] = a1r + t3r;
        i1[j] = a1i + t3i;
        r3[j] = a1r - t3r;
        i3[j] = a1i - t3i;
    }
}

/* The fused butterflies of i = 0, whose twiddles are 1, -i (DIF) or +i (DIT) and 1: no
 * multiplications. */
AE_INLINE void bfly2x2_dif0(float *restrict r0, float *restrict i0, float *restrict r1,
                            float *restrict i1, float *restrict r2, float *restrict i2,
                            float *restrict r3, float *restrict i3) {
    int j;
    for (j = 0; j < VL; ++j) {
        const float t0r = r0[j] - r2[j], t0i = i0[j] - i2[j];
        const float t1r = i1[j] - i3[j], t1i = r3[j] - r1[j]; /* (r1 - r3) times -i */
        const float s0r = r0[j] + r2[j], s0i = i0[j] + i2[j];
        const float s1r = r1[j] + r3[j], s1i = i1[j] + i3[j];
        r0[j] = s0r + s1r;
        i0[j] = s0i + s1i;
        r1[j] = s0r - s1r;
        i1[j] = s0i - s1i;
        r2[j] = t0r + t1r;
        i2[j] = t0i + t1i;
        r3[j] = t0r - t1r;
        i3[j] = t0i - t1i;
    }
}

AE_INLINE void bfly2x2_dit0(float *restrict r0, float *restrict i0, float *restrict r1,
                            float *restrict i1, float *restrict r2, float *restrict i2,
                            float *restrict r3, float *restrict i3) {
    int j;
    for (j = 0; j < VL; ++j) {
        const float a0r = r0[j] + r1[j], a0i = i0[j] + i1[j], a1r = r0[j] - r1[j], a1i = i0[j] - i1[j];
        const float a2r = r2[j] + r3[j], a2i = i2[j] + i3[j];
        const float t3r = i3[j] - i2[j], t3i = r2[j] - r3[j]; /* (a2 - a3) times +i */
        r0[j] = a0r + a2r;
        i0[j] = a0i + a2i;
        r2[j] = a0r - a2r;
        i2[j] = a0i - a2i;
        r1[j] = a1r + t3r;
        i1[j] = a1i + t3i;
        r3[j] = a1r - t3r;
        i3[j] = a1i - t3i;
    }
}

/* One radix-2 butterfly pair with twiddle 1 (the odd stage, of length 2). */
AE_INLINE void bfly1(float *restrict ar, float *restrict ai, float *restrict br,
                     float *restrict bi) {
    int j;
    for (j = 0; j < VL; ++j) {
        const float xr = ar[j], xi = ai[j], yr = br[j], yi = bi[j];
        ar[j] = xr + yr;
        ai[j] = xi + yi;
        br[j] = xr - yr;
        bi[j] = xi - yi;
    }
}

/* Forward, decimation in frequency: natural order in, bit-reversed order out. Stages of length
 * len and len / 2 go in one pass; an odd last one alone. */
AE_HOT static void fft_dif(float *re, float *im, const float *tw, int h) {
    const float *twr = tw, *twi = tw + h / 2;
    int len = h, s, i;
    for (; len >= 4; len >>= 2) {
        const int q = len >> 2, step = h / len;
        for (s = 0; s < h; s += len) {
            const size_t a0 = (size_t)s * VL, o = (size_t)q * VL;
            bfly2x2_dif0(re + a0, im + a0, re + a0 + o, im + a0 + o, re + a0 + 2 * o,
                         im + a0 + 2 * o, re + a0 + 3 * o, im + a0 + 3 * o);
            for (i = 1; i < q; ++i) {
                const size_t a = (size_t)(s + i) * VL;
                const float w[6] = {twr[i * step],       twi[i * step],
                                    twr[(i + q) * step], twi[(i + q) * step],
                                    twr[2 * i * step],   twi[2 * i * step]};
                bfly2x2_dif(re + a, im + a, re + a + o, im + a + o, re + a + 2 * o,
                            im + a + 2 * o, re + a + 3 * o, im + a + 3 * o, w);
            }
        }
    }
    if (len == 2)
        for (s = 0; s < h; s += 2) {
            const size_t a = (size_t)s * VL;
            bfly1(re + a, im + a, re + a + VL, im + a + VL);
        }
}

/* Inverse (no 1 / H), decimation in time: bit-reversed order in, natural order out (the
 * forward's passes in reverse, conjugate twiddles). */
AE_HOT static void ifft_dit(float *re, float *im, const float *tw, int h) {
    const float *twr = tw, *twi = tw + h / 2;
    int len = 4, s, i, stages = 0;
    for (s = h; s > 1; s >>= 1) ++stages;
    if (stages % 2) {
        for (s = 0; s < h; s += 2) {
            const size_t a = (size_t)s * VL;
            bfly1(re + a, im + a, re + a + VL, im + a + VL);
        }
        len = 8;
    }
    for (; len <= h; len <<= 2) {
        const int q = len >> 2, step = h / len;
        for (s = 0; s < h; s += len) {
            const size_t a0 = (size_t)s * VL, o = (size_t)q * VL;
            bfly2x2_dit0(re + a0, im + a0, re + a0 + o, im + a0 + o, re + a0 + 2 * o,
                         im + a0 + 2 * o, re + a0 + 3 * o, im + a0 + 3 * o);
            for (i = 1; i < q; ++i) {
                const size_t a = (size_t)(s + i) * VL;
                const float w[6] = {twr[i * step],       -twi[i * step],
                                    twr[(i + q) * step], -twi[(i + q) * step],
                                    twr[2 * i * step],   -twi[2 * i * step]};
                bfly2x2_dit(re + a, im + a, re + a + o, im + a + o, re + a + 2 * o,
                            im + a + 2 * o, re + a + 3 * o, im + a + 3 * o, w);
            }
        }
    }
}

/* One map's spectrum from the input's: V[p] = alpha P + beta Q (see spectral_factors); P and Q
 * are only read, so they may be the same point. */
AE_INLINE void spectrum_point(const float *restrict pr, const float *restrict pi,
                           const float *restrict qr, const float *restrict qi,
                           const float *restrict ab, float *restrict vr, float *restrict vi) {
    const float a_r = ab[0], a_i = ab[1], b_r = ab[2], b_i = ab[3];
    int j;
    for (j = 0; j < VL; ++j) {
        vr[j] = a_r * pr[j] - a_i * pi[j] + b_r * qr[j] + b_i * qi[j];
        vi[j] = a_r * pi[j] + a_i * pr[j] - b_r * qi[j] + b_i * qr[j];
    }
}

AE_HOT static void map_spectrum(const fft_layout *l, const float *ab, int h) {
    int p;
    for (p = 0; p < h; ++p) {
        const size_t a = (size_t)p * VL, b = (size_t)l->part[p] * VL;
        spectrum_point(l->zr + a, l->zi + a, l->zr + b, l->zi + b, ab + 4 * p, l->vr + a,
                       l->vi + a);
    }
}

/* The map's conv output (v: y[2n] + i y[2n+1]) plus its bias, ELU, into e after dpad rows. */
AE_HOT static void map_elu(const float *restrict vr, const float *restrict vi, float bias,
                           int samples, float *restrict e) {
    int n, j;
    for (n = 0; 2 * n + 1 < samples; ++n) {
        float *e0 = e + (size_t)(2 * n) * VL, *e1 = e0 + VL;
        const float *r = vr + (size_t)n * VL, *i = vi + (size_t)n * VL;
        for (j = 0; j < VL; ++j) e0[j] = elu(r[j] + bias);
        for (j = 0; j < VL; ++j) e1[j] = elu(i[j] + bias);
    }
    if (samples % 2)
        for (j = 0; j < VL; ++j) e[(size_t)(samples - 1) * VL + j] = elu(vr[(size_t)n * VL + j] + bias);
}

/* Flat ELU over n floats (one loop, so that it vectorises whole). */
AE_HOT static void elu_flat(const float *restrict in, size_t n, float *restrict out) {
    size_t i;
    for (i = 0; i < n; ++i) out[i] = elu(in[i]);
}

/* One time step of the depthwise conv on all lanes. */
AE_INLINE void depth_point(const float *restrict r, const float *restrict w, int taps, float bias,
                        float *restrict out) {
    float a[VL];
    int i, j;
    for (j = 0; j < VL; ++j) a[j] = bias;
    for (i = 0; i < taps; ++i)
        for (j = 0; j < VL; ++j) a[j] += w[i] * r[(size_t)i * VL + j];
    for (j = 0; j < VL; ++j) out[j] = a[j];
}

/* Four time steps at once (four independent sums in flight, not one chain of taps). */
AE_INLINE void depth_point4(const float *restrict r, const float *restrict w, int taps,
                            float bias, float *restrict out) {
    float a0[VL], a1[VL], a2[VL], a3[VL];
    int i, j;
    for (j = 0; j < VL; ++j) a0[j] = a1[j] = a2[j] = a3[j] = bias;
    for (i = 0; i < taps; ++i) {
        const float wi = w[i];
        const float *ri = r + (size_t)i * VL;
        for (j = 0; j < VL; ++j) {
            a0[j] += wi * ri[j];
            a1[j] += wi * ri[VL + j];
            a2[j] += wi * ri[2 * VL + j];
            a3[j] += wi * ri[3 * VL + j];
        }
    }
    for (j = 0; j < VL; ++j) {
        out[j] = a0[j];
        out[VL + j] = a1[j];
        out[2 * VL + j] = a2[j];
        out[3 * VL + j] = a3[j];
    }
}

/* The depthwise conv over time on all lanes, ELU, pooling by 2, into feat [half][electrodes]
 * (the head's order): d gets the conv, e (free by then) its ELU; each pooled time step stores
 * all VL lanes, the next one's overwriting the lanes past the electrodes (feat has VL floats of
 * room after its end). */
AE_HOT static void map_depth_pool(float *restrict e, const float *restrict w, float bias,
                                  int taps, int half, int electrodes, float *restrict d,
                                  float *restrict feat) {
    int t, u, j;
    for (t = 0; t + 4 <= 2 * half; t += 4)
        depth_point4(e + (size_t)t * VL, w, taps, bias, d + (size_t)t * VL);
    for (; t < 2 * half; ++t) depth_point(e + (size_t)t * VL, w, taps, bias, d + (size_t)t * VL);
    elu_flat(d, (size_t)(2 * half) * VL, e);
    for (u = 0; u < half; ++u) {
        float *f = feat + (size_t)u * electrodes;
        const float *r = e + (size_t)(2 * u) * VL;
        for (j = 0; j < VL; ++j) f[j] = 0.5f * (r[j] + r[VL + j]);
    }
    /* The next map's conv output goes after taps / 2 rows of zeros. */
    memset(e, 0, sizeof(float) * (size_t)(taps / 2) * VL);
}

/* z[n] = x[2n] + i x[2n+1] for `lanes` electrodes from `first` (x's rows hold `electrodes`),
 * zeros past the window and in the lanes left over. */
AE_HOT static void pack_input(const float *restrict x, int samples, int electrodes, int first,
                              int lanes, int h, float *restrict zr, float *restrict zi) {
    int n, j;
    memset(zr, 0, sizeof(float) * (size_t)h * VL);
    memset(zi, 0, sizeof(float) * (size_t)h * VL);
    for (n = 0; 2 * n < samples; ++n) {
        const float *x0 = x + (size_t)(2 * n) * electrodes + first;
        float *r = zr + (size_t)n * VL, *i = zi + (size_t)n * VL;
        for (j = 0; j < lanes; ++j) r[j] = x0[j];
        if (2 * n + 1 < samples)
            for (j = 0; j < lanes; ++j) i[j] = x0[electrodes + j];
    }
}

/* Electrodes VL at a time, the last (partial) block first: its stores past the electrodes
 * land on the next row's first block, written after. */
static void run_fft(const ae_histn *net, int h, const float *x, float *scratch, float *out) {
    const int T = net->samples, C = net->electrodes, M = net->maps, D = net->depth_taps;
    const int half = T / 2;
    fft_layout l;
    int m, lv, first;
    fft_layout_of(net, h, scratch, &l);
    for (first = (C - 1) / VL * VL; first >= 0; first -= VL) {
        const int lanes = C - first < VL ? C - first : VL;
        pack_input(x, T, C, first, lanes, h, l.zr, l.zi);
        fft_dif(l.zr, l.zi, l.tw, h);
        for (m = 0; m < M; ++m) {
            map_spectrum(&l, l.ab + (size_t)m * h * 4, h);
            ifft_dit(l.vr, l.vi, l.tw, h);
            map_elu(l.vr, l.vi, net->temporal_bias[m], T, l.e + (size_t)(D / 2) * VL);
            map_depth_pool(l.e, net->depth + (size_t)m * D, net->depth_bias[m], D, half, C,
                           l.vr, l.feat + (size_t)m * half * C + first);
        }
    }
    for (lv = 0; lv < net->levels; ++lv) {
        const size_t size = (size_t)M * C * half;
        out[lv] = net->head_bias[lv] + dot(net->head + (size_t)lv * size, l.feat, (int)size);
    }
}

void ae_histn_run(const ae_histn *net, const float *x, float *scratch, float *out) {
    const int h = fft_half(net);
    if (h)
        run_fft(net, h, x, scratch, out);
    else
        run_direct(net, x, scratch, out);
}
