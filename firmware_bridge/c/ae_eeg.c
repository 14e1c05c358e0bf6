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
        s->slow_limit[c] = AE_EEG_SLOW_FLOOR;
        s->fast_limit[c] = AE_EEG_MUSCLE_FLOOR;
    }
    s->has_reference = 0;
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

/* Column c of a ring (`first` its oldest row) into s->frame, oldest first. */
static void column(ae_eeg *s, const float (*ring)[AE_EEG_CHANNELS], uint32_t first, size_t c) {
    uint32_t t;
    for (t = 0; t < AE_EEG_WINDOW; t++) {
        s->frame[t] = (ae_real)ring[(first + t) % AE_EEG_WINDOW][c];
    }
}

/* The filtered window's figures in s->frame, as the host computes them: power in the mains
 * bands, above the AC floor and in the muscle band (one spectrum), and the peak-to-peak of
 * the slow band's wave (its bins' DFT added back as cosines). */
static void figures(ae_eeg *s, ae_real *line_p, ae_real *ac_p, ae_real *fast_p,
                    ae_real *slow_p2p) {
    ae_real re[AE_EEG_SLOW_BINS], im[AE_EEG_SLOW_BINS], lo = 0, hi = 0, v;
    size_t k, t;
    ae_rfft_power(&ae_eeg_fft, s->frame, s->fft_scratch, s->power);
    *line_p = *ac_p = *fast_p = 0;
    for (k = 0; k <= AE_EEG_WINDOW / 2; k++) {
        *line_p += s->power[k] * (ae_real)ae_eeg_line_bin[k];
        *ac_p += s->power[k] * (ae_real)ae_eeg_ac_bin[k];
        *fast_p += s->power[k] * (ae_real)ae_eeg_fast_bin[k];
    }
    for (k = 0; k < AE_EEG_SLOW_BINS; k++) {
        re[k] = im[k] = 0;
        for (t = 0; t < AE_EEG_WINDOW; t++) {
            re[k] += s->frame[t] * ae_eeg_slow_cos[k][t];
            im[k] += s->frame[t] * ae_eeg_slow_sin[k][t];
        }
        re[k] *= ae_eeg_slow_weight[k];
        im[k] *= ae_eeg_slow_weight[k];
    }
    for (t = 0; t < AE_EEG_WINDOW; t++) {
        v = 0;
        for (k = 0; k < AE_EEG_SLOW_BINS; k++) {
            v += re[k] * ae_eeg_slow_cos[k][t] + im[k] * ae_eeg_slow_sin[k][t];
        }
        if (t == 0 || v < lo) lo = v;
        if (t == 0 || v > hi) hi = v;
    }
    *slow_p2p = hi - lo;
}

/* The median of n values (sorted in place), as NumPy's: the mean of the middle two for even n. */
static ae_real median(ae_real *v, size_t n) {
    size_t i, j;
    for (i = 1; i < n; i++) {
        ae_real x = v[i];
        for (j = i; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    return n % 2u ? v[n / 2u] : (v[n / 2u - 1u] + v[n / 2u]) / (ae_real)2;
}

static ae_real clip(ae_real v, ae_real lo, ae_real hi) { return v < lo ? lo : v > hi ? hi : v; }

/* End of calibration: the electrodes' spread, level and limits (the host's Baseline). */
static void calibrate(ae_eeg *s) {
    const ae_real n = (ae_real)s->calib_n;
    const size_t windows = AE_EEG_CALIB / AE_EEG_WINDOW;
    ae_real v[AE_EEG_CALIB_WINDOWS];
    size_t c, k;
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        set_inv_std(s, c, root(s->m2[c] / n));
        s->reference[c] = s->raw_sum[c] / n + s->pedestal[c];
        s->slow_limit[c] = AE_EEG_SLOW_FLOOR;
        s->fast_limit[c] = AE_EEG_MUSCLE_FLOOR;
        if (windows) {
            for (k = 0; k < windows; k++) v[k] = s->calib_slow[k][c];
            s->slow_limit[c] = clip(AE_EEG_RELATIVE * median(v, windows), AE_EEG_SLOW_FLOOR,
                                    AE_EEG_SLOW_CEILING);
            for (k = 0; k < windows; k++) v[k] = s->calib_fast[k][c];
            s->fast_limit[c] = clip(AE_EEG_RELATIVE * median(v, windows), AE_EEG_MUSCLE_FLOOR,
                                    AE_EEG_MUSCLE_CEILING);
        }
    }
    s->has_reference = 1;
    s->calibrated = 1;
}

int ae_eeg_push(ae_eeg *s, const float uv[AE_EEG_CHANNELS]) {
    ae_real y[AE_EEG_CHANNELS], raw[AE_EEG_CHANNELS];
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
        raw[c] = y[c];
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
        const uint32_t row = s->calib_n % AE_EEG_WINDOW;
        n = (ae_real)++s->calib_n;
        for (c = 0; c < AE_EEG_CHANNELS; c++) {
            ae_real d = y[c] - s->mean[c];
            s->mean[c] += d / n;
            s->m2[c] += d * (y[c] - s->mean[c]);
            s->raw_sum[c] += raw[c];
            s->ring[row][c] = (float)y[c]; /* the ring is unused until calibrated */
        }
        /* Each whole window of calibration: its figures, for the limits. */
        if (row + 1u == AE_EEG_WINDOW && s->calib_n / AE_EEG_WINDOW <= AE_EEG_CALIB / AE_EEG_WINDOW) {
            const size_t w = s->calib_n / AE_EEG_WINDOW - 1u;
            ae_real line_p, ac_p, fast_p;
            for (c = 0; c < AE_EEG_CHANNELS; c++) {
                column(s, (const float (*)[AE_EEG_CHANNELS])s->ring, 0, c);
                figures(s, &line_p, &ac_p, &fast_p, &s->calib_slow[w][c]);
                s->calib_fast[w][c] = root((ae_real)2 * fast_p) / (ae_real)AE_EEG_WINDOW;
            }
        }
        if (s->calib_n >= AE_EEG_CALIB) calibrate(s);
        return 0;
    }
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        s->ring[s->head][c] = (float)y[c];
        s->raw[s->head][c] = (float)raw[c];
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

int ae_eeg_quality(ae_eeg *s, uint8_t flags[AE_EEG_CHANNELS], float *max_uv, float *mains_uv) {
    const ae_real w = (ae_real)AE_EEG_WINDOW;
    ae_real biggest = 0, mains = 0, line_p, ac_p, fast_p, slow_p2p;
    size_t c, t;
    int ok = 1;
    for (c = 0; c < AE_EEG_CHANNELS; c++) {
        ae_real sum = 0, mean, d = 0, peak = 0, sq = 0, raw_std, level, mains_p = 0, v;
        int railed, flat;
        uint8_t bits = 0;
        /* Filtered: mean, largest deflection from it, the band figures. */
        column(s, (const float (*)[AE_EEG_CHANNELS])s->ring, s->head, c);
        for (t = 0; t < AE_EEG_WINDOW; t++) sum += s->frame[t];
        mean = sum / w;
        for (t = 0; t < AE_EEG_WINDOW; t++) {
            v = s->frame[t] - mean;
            v = v < 0 ? -v : v;
            d = v > d ? v : d;
        }
        biggest = d > biggest ? d : biggest;
        figures(s, &line_p, &ac_p, &fast_p, &slow_p2p);
        /* Unfiltered: level, peak at the amplifier, spread, mains at the electrode. */
        column(s, (const float (*)[AE_EEG_CHANNELS])s->raw, s->head, c);
        sum = 0;
        for (t = 0; t < AE_EEG_WINDOW; t++) sum += s->frame[t];
        mean = sum / w;
        for (t = 0; t < AE_EEG_WINDOW; t++) {
            v = s->frame[t] + s->pedestal[c];
            v = v < 0 ? -v : v;
            peak = v > peak ? v : peak;
            sq += (s->frame[t] - mean) * (s->frame[t] - mean);
        }
        raw_std = root(sq / w);
        level = mean + s->pedestal[c];
        ae_rfft_power(&ae_eeg_fft, s->frame, s->fft_scratch, s->power);
        for (t = 0; t <= AE_EEG_WINDOW / 2; t++) mains_p += s->power[t] * (ae_real)ae_eeg_line_bin[t];
        v = root((ae_real)2 * mains_p) / w;
        mains = v > mains ? v : mains;
        v = level - s->reference[c];
        railed = peak >= AE_EEG_RAIL_SHARE * AE_EEG_RAIL_UV ||
                 (raw_std < AE_EEG_FLAT_STD_UV && s->has_reference &&
                  (v < 0 ? -v : v) > AE_EEG_STUCK_UV);
        flat = raw_std < AE_EEG_FLAT_STD_UV && !railed;
        if (flat) bits |= AE_EEG_FLAT;
        if (railed) bits |= AE_EEG_RAILED;
        if (!flat && !railed) {
            if (line_p / (ac_p + (ae_real)1e-12) > AE_EEG_LINE_SHARE) bits |= AE_EEG_LINE_NOISE;
            if (slow_p2p > s->slow_limit[c])
                bits |= ae_eeg_frontal[c] ? AE_EEG_BLINK : AE_EEG_MOVEMENT;
            if (root((ae_real)2 * fast_p) / w > s->fast_limit[c]) bits |= AE_EEG_MUSCLE;
        }
        flags[c] = bits;
        ok = ok && !bits;
    }
    *max_uv = (float)biggest;
    *mains_uv = (float)mains;
    return ok;
}
