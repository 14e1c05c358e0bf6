/* affect-edge front ends in C99: the real FFT's power spectrum and the int8 quantiser. */
#include "ae_dsp.h"

/* The half-size complex FFT of the packed frame (even samples real, odd imaginary), in place,
 * decimation in time; then the split step that turns it into the real frame's spectrum. */
void ae_rfft_power(const ae_rfft *plan, const ae_real *frame, ae_real *scratch, ae_real *power) {
    const size_t half = plan->n_fft / 2u;
    ae_real *zr = scratch, *zi = scratch + half;
    const ae_real *twr = plan->tw_re, *twi = plan->tw_im;
    ae_real tr, ti, y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i;
    ae_real w1r, w1i, w2r, w2i, ar, ai, cr, ci, er, ei, orr, oi, xr, xi;
    size_t k, j, a, b, c, d, done, s1, s2;
    for (k = 0; k < half; k++) {
        zr[plan->bitrev[k]] = frame[2u * k];
        zi[plan->bitrev[k]] = frame[2u * k + 1u];
    }
    /* First stage: every twiddle is 1. */
    for (a = 0; a + 1u < half; a += 2u) {
        tr = zr[a + 1u];
        ti = zi[a + 1u];
        zr[a + 1u] = zr[a] - tr;
        zi[a + 1u] = zi[a] - ti;
        zr[a] += tr;
        zi[a] += ti;
    }
    /* Then two stages at a time on the four points a, a+done, a+2 done, a+3 done. */
    done = 2u;
    while (4u * done <= half) {
        s1 = half / (2u * done);
        s2 = half / (4u * done);
        for (j = 0; j < done; j++) {
            w1r = twr[j * s1];
            w1i = twi[j * s1];
            w2r = twr[j * s2];
            w2i = twi[j * s2];
            for (a = j; a < half; a += 4u * done) {
                b = a + done;
                c = b + done;
                d = c + done;
                tr = w1r * zr[b] - w1i * zi[b];
                ti = w1r * zi[b] + w1i * zr[b];
                y0r = zr[a] + tr;
                y0i = zi[a] + ti;
                y1r = zr[a] - tr;
                y1i = zi[a] - ti;
                tr = w1r * zr[d] - w1i * zi[d];
                ti = w1r * zi[d] + w1i * zr[d];
                y2r = zr[c] + tr;
                y2i = zi[c] + ti;
                y3r = zr[c] - tr;
                y3i = zi[c] - ti;
                tr = w2r * y2r - w2i * y2i;
                ti = w2r * y2i + w2i * y2r;
                zr[a] = y0r + tr;
                zi[a] = y0i + ti;
                zr[c] = y0r - tr;
                zi[c] = y0i - ti;
                tr = w2i * y3r + w2r * y3i;
                ti = w2i * y3i - w2r * y3r;
                zr[b] = y1r + tr;
                zi[b] = y1i + ti;
                zr[d] = y1r - tr;
                zi[d] = y1i - ti;
            }
        }
        done *= 4u;
    }
    if (done < half) { /* one radix-2 stage left when log2(half) is even */
        s1 = half / (2u * done);
        for (j = 0; j < done; j++) {
            w1r = twr[j * s1];
            w1i = twi[j * s1];
            for (a = j; a < half; a += 2u * done) {
                b = a + done;
                tr = w1r * zr[b] - w1i * zi[b];
                ti = w1r * zi[b] + w1i * zr[b];
                zr[b] = zr[a] - tr;
                zi[b] = zi[a] - ti;
                zr[a] += tr;
                zi[a] += ti;
            }
        }
    }
    /* Split: X[k] = E[k] + W^k O[k] from Z[k] and conj(Z[half - k]). */
    power[0] = (zr[0] + zi[0]) * (zr[0] + zi[0]);
    power[half] = (zr[0] - zi[0]) * (zr[0] - zi[0]);
    for (k = 1; k < half; k++) {
        ar = zr[k];
        ai = zi[k];
        cr = zr[half - k];
        ci = -zi[half - k];
        er = (ae_real)0.5 * (ar + cr);
        ei = (ae_real)0.5 * (ai + ci);
        orr = (ae_real)0.5 * (ai - ci);
        oi = (ae_real)-0.5 * (ar - cr);
        xr = er + plan->sp_re[k] * orr - plan->sp_im[k] * oi;
        xi = ei + plan->sp_re[k] * oi + plan->sp_im[k] * orr;
        power[k] = xr * xr + xi * xi;
    }
}

void ae_quantize_i8(const float *x, size_t n, float scale, int32_t zero_point, int8_t *out) {
    size_t i;
    float inv = 1.0f / scale, v;
    int32_t q;
    for (i = 0; i < n; i++) {
        v = x[i] * inv;
        /* Round half away from zero, as TFLite's reference quantiser does. */
        q = (int32_t)(v >= 0.0f ? v + 0.5f : v - 0.5f) + zero_point;
        out[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
}
