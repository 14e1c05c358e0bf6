/* affect-edge's speech front end in C99: see ae_logmel.h. */
#include "ae_logmel.h"

#include <math.h>
#include <string.h>

void ae_logmel_init(ae_logmel *s) {
    memset(s, 0, sizeof(*s));
}

static ae_real condition(ae_logmel *s, ae_real x) {
#if AE_LM_DC_BLOCK
    ae_real y;
    if (!s->primed) { /* steady state at the first level: no step transient */
        s->dc_z = -x;
        s->primed = 1;
    }
    y = x + s->dc_z;
    s->dc_z = (ae_real)AE_LM_DC_POLE * y - x;
    /* The front end rounds its conditioned samples to float32 before framing. */
    return (ae_real)(float)y;
#else
    (void)s;
    return (ae_real)(float)x;
#endif
}

/* One completed frame in buf: window, power, mel, log into the ring; then slide by a hop. */
static void finish_frame(ae_logmel *s) {
    size_t k, m;
    ae_real acc;
    float *row = s->ring[s->frames % AE_LM_WINDOW_FRAMES];
    for (k = 0; k < AE_LM_N_FFT; k++) {
        s->frame[k] = s->buf[k] * ae_lm_window[k];
    }
    ae_rfft_power(&ae_lm_fft, s->frame, s->scratch, s->power);
    for (m = 0; m < AE_LM_N_MELS; m++) {
        const ae_real *w = ae_lm_band_weight + ae_lm_band_offset[m];
        const ae_real *p = s->power + ae_lm_band_start[m];
        size_t width = (size_t)(ae_lm_band_offset[m + 1u] - ae_lm_band_offset[m]);
        acc = 0;
        for (k = 0; k < width; k++) {
            acc += w[k] * p[k];
        }
        if (acc < (ae_real)AE_LM_LOG_FLOOR) {
            acc = (ae_real)AE_LM_LOG_FLOOR;
        }
        row[m] = logf((float)acc);
    }
    s->frames++;
    memmove(s->buf, s->buf + AE_LM_HOP, (AE_LM_N_FFT - AE_LM_HOP) * sizeof(ae_real));
    s->filled = AE_LM_N_FFT - AE_LM_HOP;
}

static void push(ae_logmel *s, ae_real x) {
    ae_real y = condition(s, x);
#if AE_LM_PREEMPHASIS_ON
    s->buf[s->filled++] = y - (ae_real)AE_LM_PREEMPHASIS * s->prev;
    s->prev = y;
#else
    s->buf[s->filled++] = y;
#endif
}

size_t ae_logmel_feed_i16(ae_logmel *s, const int16_t *x, size_t n) {
    size_t i, before = s->frames;
    for (i = 0; i < n; i++) {
        push(s, (ae_real)((float)x[i] / 32768.0f));
        if (s->filled == AE_LM_N_FFT) {
            finish_frame(s);
        }
    }
    return s->frames - before;
}

size_t ae_logmel_feed_f32(ae_logmel *s, const float *x, size_t n) {
    size_t i, before = s->frames;
    for (i = 0; i < n; i++) {
        push(s, (ae_real)x[i]);
        if (s->filled == AE_LM_N_FFT) {
            finish_frame(s);
        }
    }
    return s->frames - before;
}

static size_t due_by(uint32_t frames) {
    return frames < AE_LM_WINDOW_FRAMES
               ? 0u
               : 1u + (size_t)(frames - AE_LM_WINDOW_FRAMES) / AE_LM_UPDATE_FRAMES;
}

size_t ae_logmel_windows_due(const ae_logmel *s, size_t made) {
    return due_by(s->frames) - due_by(s->frames - (uint32_t)made);
}

size_t ae_logmel_window(const ae_logmel *s, float out[AE_LM_WINDOW_FRAMES * AE_LM_N_MELS]) {
    size_t have = s->frames < AE_LM_WINDOW_FRAMES ? s->frames : AE_LM_WINDOW_FRAMES;
    size_t first = s->frames - have, t, i;
    for (t = 0; t < have; t++) {
        memcpy(out + t * AE_LM_N_MELS, s->ring[(first + t) % AE_LM_WINDOW_FRAMES],
               AE_LM_N_MELS * sizeof(float));
    }
    for (t = have; t < AE_LM_WINDOW_FRAMES; t++) {
        for (i = 0; i < AE_LM_N_MELS; i++) {
            out[t * AE_LM_N_MELS + i] = have ? out[(have - 1u) * AE_LM_N_MELS + i] : 0.0f;
        }
    }
#if AE_LM_WINDOW_NORM == AE_LM_NORM_MEAN
    {
        /* The mean over time and bands is taken off, so level carries no information. Summed
         * in double, as the Python front end does: float would lose ~1e-4 over 4,000 values. */
        double sum = 0.0;
        float mean;
        for (i = 0; i < AE_LM_WINDOW_FRAMES * AE_LM_N_MELS; i++) {
            sum += out[i];
        }
        mean = (float)(sum / (AE_LM_WINDOW_FRAMES * AE_LM_N_MELS));
        for (i = 0; i < AE_LM_WINDOW_FRAMES * AE_LM_N_MELS; i++) {
            out[i] -= mean;
        }
    }
#elif AE_LM_WINDOW_NORM == AE_LM_NORM_LOUDEST
    {
        /* The mean level of the loudest quarter of frames is taken off (a frame's level: its
         * mean over bands), so noise in the pauses does not pull the speech down. Levels in
         * double, as the Python front end; the loudest found by a partial selection sort. */
        enum { K = AE_LM_WINDOW_FRAMES / 4 > 0 ? AE_LM_WINDOW_FRAMES / 4 : 1 };
        double level[AE_LM_WINDOW_FRAMES], top = 0.0, swap;
        size_t j, best;
        float shift;
        for (t = 0; t < AE_LM_WINDOW_FRAMES; t++) {
            double sum = 0.0;
            for (i = 0; i < AE_LM_N_MELS; i++) {
                sum += out[t * AE_LM_N_MELS + i];
            }
            level[t] = sum / AE_LM_N_MELS;
        }
        for (j = 0; j < (size_t)K; j++) {
            best = j;
            for (t = j + 1u; t < AE_LM_WINDOW_FRAMES; t++) {
                if (level[t] > level[best]) {
                    best = t;
                }
            }
            swap = level[j];
            level[j] = level[best];
            level[best] = swap;
            top += level[j];
        }
        shift = (float)(top / K);
        for (i = 0; i < AE_LM_WINDOW_FRAMES * AE_LM_N_MELS; i++) {
            out[i] -= shift;
        }
    }
#endif
    return have;
}
