/* Power spectra of many real rows at once: see ae_lanes_fft.h. */
#include "ae_lanes_fft.h"

/* On x86-64 the package build defines AE_HISTN_CLONES for its C sources: the loops are then
 * compiled per instruction set (AVX-512, AVX2, baseline) and picked at load time. */
#if defined(AE_HISTN_CLONES) && defined(__GNUC__) && defined(__x86_64__)
#define AE_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AE_HOT
#endif
/* The butterflies are inlined into each clone, so compiled for its instruction set. */
#if defined(__GNUC__)
#define AE_INLINE static inline __attribute__((always_inline))
#else
#define AE_INLINE static inline
#endif

/* One radix-2 butterfly over all lanes: (a, b) -> (a + w b, a - w b). */
AE_INLINE void bfly(double *restrict ar, double *restrict ai, double *restrict br,
                 double *restrict bi, double wr, double wi, int lanes) {
    int l;
    for (l = 0; l < lanes; ++l) {
        const double tr = wr * br[l] - wi * bi[l];
        const double ti = wr * bi[l] + wi * br[l];
        br[l] = ar[l] - tr;
        bi[l] = ai[l] - ti;
        ar[l] = ar[l] + tr;
        ai[l] = ai[l] + ti;
    }
}

/* The same with the twiddle w times -i, written as RealFFT writes it. */
AE_INLINE void bfly_mi(double *restrict ar, double *restrict ai, double *restrict br,
                    double *restrict bi, double wr, double wi, int lanes) {
    int l;
    for (l = 0; l < lanes; ++l) {
        const double tr = wi * br[l] + wr * bi[l];
        const double ti = wi * bi[l] - wr * br[l];
        br[l] = ar[l] - tr;
        bi[l] = ai[l] - ti;
        ar[l] = ar[l] + tr;
        ai[l] = ai[l] + ti;
    }
}

AE_HOT void ae_power_lanes(const double *rows, ptrdiff_t stride, int lanes, int n_fft,
                           const ptrdiff_t *bitrev, const double *tw_re, const double *tw_im,
                           const double *sp_re, const double *sp_im, double *zr, double *zi,
                           double *out) {
    const int half = n_fft / 2;
    const size_t L = (size_t)lanes;
    int k, l, j, a, done;
    /* Even samples into the real parts, odd into the imaginary, in bit-reversed order. */
    for (l = 0; l < lanes; ++l) {
        const double *row = rows + (ptrdiff_t)l * stride;
        for (k = 0; k < half; ++k) {
            const size_t r = (size_t)bitrev[k] * L + (size_t)l;
            zr[r] = row[2 * k];
            zi[r] = row[2 * k + 1];
        }
    }
    /* First stage: every twiddle is 1 (RealFFT adds and subtracts without multiplying). */
    for (a = 0; a + 1 < half; a += 2) {
        double *restrict ar = zr + (size_t)a * L, *restrict ai = zi + (size_t)a * L;
        double *restrict br = ar + L, *restrict bi = ai + L;
        for (l = 0; l < lanes; ++l) {
            const double tr = br[l], ti = bi[l];
            br[l] = ar[l] - tr;
            bi[l] = ai[l] - ti;
            ar[l] = ar[l] + tr;
            ai[l] = ai[l] + ti;
        }
    }
    /* Then stages two at a time, as RealFFT pairs them: blocks of 2 done with w1, then of
     * 4 done with w2 and w2 times -i. */
    for (done = 2; 4 * done <= half; done *= 4)
        for (j = 0; j < done; ++j) {
            const double w1r = tw_re[j * (half / (2 * done))], w1i = tw_im[j * (half / (2 * done))];
            const double w2r = tw_re[j * (half / (4 * done))], w2i = tw_im[j * (half / (4 * done))];
            for (a = j; a < half; a += 4 * done) {
                double *ar = zr + (size_t)a * L, *ai = zi + (size_t)a * L;
                double *br = ar + (size_t)done * L, *bi = ai + (size_t)done * L;
                double *cr = br + (size_t)done * L, *ci = bi + (size_t)done * L;
                double *dr = cr + (size_t)done * L, *di = ci + (size_t)done * L;
                bfly(ar, ai, br, bi, w1r, w1i, lanes);
                bfly(cr, ci, dr, di, w1r, w1i, lanes);
                bfly(ar, ai, cr, ci, w2r, w2i, lanes);
                bfly_mi(br, bi, dr, di, w2r, w2i, lanes);
            }
        }
    if (done < half)
        for (j = 0; j < done; ++j) {
            const double w1r = tw_re[j * (half / (2 * done))], w1i = tw_im[j * (half / (2 * done))];
            for (a = j; a < half; a += 2 * done)
                bfly(zr + (size_t)a * L, zi + (size_t)a * L, zr + (size_t)(a + done) * L,
                     zi + (size_t)(a + done) * L, w1r, w1i, lanes);
        }
    /* Split: X[k] = E[k] + W^k O[k] from Z[k] and conj(Z[half - k]); then |X[k]|^2. */
    for (l = 0; l < lanes; ++l) {
        out[l] = (zr[l] + zi[l]) * (zr[l] + zi[l]);
        out[(size_t)half * L + (size_t)l] = (zr[l] - zi[l]) * (zr[l] - zi[l]);
    }
    for (k = 1; k < half; ++k) {
        const double wr = sp_re[k], wi = sp_im[k];
        const double *restrict pr = zr + (size_t)k * L, *restrict pi = zi + (size_t)k * L;
        const double *restrict qr = zr + (size_t)(half - k) * L;
        const double *restrict qi = zi + (size_t)(half - k) * L;
        double *restrict o = out + (size_t)k * L;
        for (l = 0; l < lanes; ++l) {
            const double ar = pr[l], ai = pi[l], cr = qr[l], ci = -qi[l];
            const double er = 0.5 * (ar + cr), ei = 0.5 * (ai + ci);
            const double orr = 0.5 * (ai - ci), oi = -0.5 * (ar - cr);
            const double xr = er + wr * orr - wi * oi, xi = ei + wr * oi + wi * orr;
            o[l] = xr * xr + xi * xi;
        }
    }
}
