/* affect-edge's HiSTN student in C99: see ae_histn.h. */
#include "ae_histn.h"

#include <string.h>

/* On x86-64 hosts, the package build defines AE_HISTN_CLONES: GCC then compiles the hot loops
 * once per instruction set and the loader picks the best the CPU has. Firmware builds leave it
 * undefined and get plain C99. */
#if defined(AE_HISTN_CLONES) && defined(__GNUC__) && defined(__x86_64__)
#define AE_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AE_HOT
#endif

#define LANES AE_HISTN_LANES

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

/* Padded input row: room for every lane block's `taps` reads. */
static int row_len(const ae_histn *net) { return round_up(net->samples, LANES) + net->taps; }

/* One map row after the temporal conv: `depth_taps - 1` zeros around the padded lanes. */
static int map_len(const ae_histn *net) {
    return round_up(net->samples, LANES) + net->depth_taps - 1;
}

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

size_t ae_histn_scratch(const ae_histn *net) {
    return (size_t)row_len(net) + (size_t)net->maps * (size_t)map_len(net) +
           (size_t)net->maps * (size_t)net->electrodes * (size_t)(net->samples / 2);
}

/* exp(x) - 1 for x <= 0 (ELU's negative side), branch free so that loops over it vectorise:
 * exp by 2^k e^r with |r| <= ln2 / 2 and a degree-6 polynomial (relative error about 2e-7),
 * 2^k built in the exponent bits. */
static float elu(float x) {
    const float log2e = 1.44269504f, ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-6f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float v = x < -87.0f ? -87.0f : x;
    float k, r, p;
    union {
        int i;
        float f;
    } scale;
    v = v > 0.0f ? 0.0f : v;
    k = (v * log2e + magic) - magic;
    r = v - k * ln2_hi - k * ln2_lo;
    p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    scale.i = ((int)k + 127) << 23;
    return x > 0.0f ? x : p * scale.f - 1.0f;
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

/* The depthwise conv of one map row (zeros around it), ELU, and pooling by 2 into `out`,
 * LANES samples at a time in registers. */
AE_HOT static void depth_pool(const float *e, const float *w, float bias, int taps, int half,
                              float *out) {
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
        memcpy(out + b / 2, p, sizeof(float) * (size_t)n);
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

void ae_histn_run(const ae_histn *net, const float *x, float *scratch, float *out) {
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
                       feat + ((size_t)m * C + c) * half);
        }
    }
    for (l = 0; l < net->levels; ++l) {
        const size_t n = (size_t)M * C * half;
        out[l] = net->head_bias[l] + dot(net->head + (size_t)l * n, feat, (int)n);
    }
}
