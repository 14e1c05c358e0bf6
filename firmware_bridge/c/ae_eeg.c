/* affect-edge's EEG front end in C99: see ae_eeg.h. */
#include "ae_eeg.h"

#include <string.h>

void ae_eeg_init(ae_eeg *s) {
    memset(s, 0, sizeof(*s));
}

static void set_inv_std(ae_eeg *s, size_t c, ae_real std) {
    /* A flat channel is divided by 0.5 µV, not by zero; the host flags it flat anyway. */
    s->inv_std[c] = (ae_real)1 / (std > (ae_real)0.5 ? std : (ae_real)0.5);
}

void ae_eeg_set_baseline(ae_eeg *s, const float std_uv[AE_EEG_CHANNELS]) {
    size_t c;
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        set_inv_std(s, c, (ae_real)std_uv[c]);
    }
    s->calibrated = 1;
}

/* A square root by Newton's method, once per electrode at the end of calibration: keeps
 * <math.h> out of the EEG front end. */
static ae_real root(ae_real v) {
    ae_real r = v > (ae_real)1 ? v : (ae_real)1;
    int i;
    if (v <= (ae_real)0) {
        return (ae_real)0;
    }
    for (i = 0; i < 64; i++) {
        ae_real next = (ae_real)0.5 * (r + v / r);
        if (next >= r) {
            break;
        }
        r = next;
    }
    return r;
}

int ae_eeg_push(ae_eeg *s, const float uv[AE_EEG_CHANNELS]) {
    ae_real y[AE_EEG_CHANNELS];
    size_t c, k;
    ae_real n;
    if (!s->started) {
        for (c = 0; c < AE_EEG_CHANNELS; c++) {
            s->pedestal[c] = (ae_real)uv[c];
        }
        s->started = 1;
    }
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        y[c] = (ae_real)uv[c] - s->pedestal[c];
    }
    for (k = 0; k < AE_EEG_SECTIONS; k++) {
        const ae_real *q = ae_eeg_sos[k]; /* b0 b1 b2 a0 a1 a2, a0 = 1 */
        ae_real *z0 = s->z[k][0], *z1 = s->z[k][1];
        for (c = 0; c < AE_EEG_CHANNELS; c++) {
            ae_real x = y[c], out = q[0] * x + z0[c];
            z0[c] = q[1] * x - q[4] * out + z1[c];
            z1[c] = q[2] * x - q[5] * out;
            y[c] = out;
        }
    }
    if (s->settled < AE_EEG_SETTLE) {
        s->settled++;
        return 0;
    }
    if (!s->calibrated) {
        n = (ae_real)++s->calib_n;
        for (c = 0; c < AE_EEG_CHANNELS; c++) {
            ae_real d = y[c] - s->mean[c];
            s->mean[c] += d / n;
            s->m2[c] += d * (y[c] - s->mean[c]);
        }
        if (s->calib_n >= AE_EEG_CALIB) {
            for (c = 0; c < AE_EEG_CHANNELS; c++) {
                set_inv_std(s, c, root(s->m2[c] / n));
            }
            s->calibrated = 1;
        }
        return 0;
    }
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        s->ring[s->head][c] = (float)y[c];
    }
    s->head = s->head + 1u == AE_EEG_WINDOW ? 0u : s->head + 1u;
    if (s->filled < AE_EEG_WINDOW) {
        s->filled++;
    }
    if (++s->since < AE_EEG_HOP) {
        return 0;
    }
    s->since = 0;
    return s->filled == AE_EEG_WINDOW;
}

void ae_eeg_window(const ae_eeg *s, float out[AE_EEG_WINDOW * AE_EEG_CHANNELS]) {
    uint32_t t;
    size_t c;
    float peak = 0.0f, v;
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        float scale = (float)s->inv_std[c];
        ae_real sum = 0;
        float mean;
        for (t = 0; t < AE_EEG_WINDOW; t++) {
            v = s->ring[(s->head + t) % AE_EEG_WINDOW][c] * scale;
            out[t * AE_EEG_CHANNELS + c] = v;
            sum += v;
        }
        mean = (float)(sum / (ae_real)AE_EEG_WINDOW);
        for (t = 0; t < AE_EEG_WINDOW; t++) {
            v = out[t * AE_EEG_CHANNELS + c] - mean;
            out[t * AE_EEG_CHANNELS + c] = v;
            v = v < 0.0f ? -v : v;
            peak = v > peak ? v : peak;
        }
    }
    if (peak > 0.0f) {
        v = 1.0f / peak;
        for (t = 0; t < AE_EEG_WINDOW * AE_EEG_CHANNELS; t++) {
            out[t] *= v;
        }
    }
}
