/* affect-edge's EEG front end in C99: one sample of every electrode at a time (an ADC's
 * data-ready interrupt), the EEG model's input window out, computing what
 * edge/frontends/eeg.py computes at the model's own rate:
 *
 *   µV in the model's electrode order -> minus the first sample's level (headsets sit
 *     thousands of µV off zero) -> the bundle's SOS cascade (band-pass, mains notch)
 *   -> AE_EEG_SETTLE samples dropped while the filters settle
 *   -> AE_EEG_CALIB samples of calibration: each electrode's standard deviation
 *   -> a ring of the last AE_EEG_WINDOW samples, a window due every AE_EEG_HOP
 *   -> z-score by the calibration, per-window centring, max-abs scaling -> int8 for the model
 *
 * and, per window, the host's signal-quality flags (ae_eeg_quality: flat, railed, line_noise,
 * blink, muscle, movement, with limits relative to each electrode's calibration figures, as
 * edge/dsp/_eeg_window.pyx decides them).
 *
 * Not here (the host front end does them): resampling (sample at AE_EEG_RATE) and NaN gaps (so
 * no `disconnected`). The state is one caller-placed struct; nothing is allocated.
 */
#ifndef AE_EEG_H
#define AE_EEG_H

#include "ae_config.h"
#include "ae_dsp.h"

typedef struct {
    ae_real z[AE_EEG_SECTIONS][2][AE_EEG_CHANNELS]; /* transposed direct form II delays */
    ae_real pedestal[AE_EEG_CHANNELS];
    ae_real mean[AE_EEG_CHANNELS], m2[AE_EEG_CHANNELS]; /* calibration (Welford) */
    ae_real inv_std[AE_EEG_CHANNELS];
    float ring[AE_EEG_WINDOW][AE_EEG_CHANNELS]; /* head is the oldest row once full */
    float raw[AE_EEG_WINDOW][AE_EEG_CHANNELS];  /* the same samples before the filters */
    /* Calibration: the unfiltered level's sum, and each whole window's figures (their
     * medians set the limits); then the quality figures' state. */
    ae_real raw_sum[AE_EEG_CHANNELS];
    ae_real calib_slow[AE_EEG_CALIB_WINDOWS][AE_EEG_CHANNELS];
    ae_real calib_fast[AE_EEG_CALIB_WINDOWS][AE_EEG_CHANNELS];
    ae_real reference[AE_EEG_CHANNELS]; /* calibrated level, µV (the stuck-level test) */
    ae_real slow_limit[AE_EEG_CHANNELS], fast_limit[AE_EEG_CHANNELS];
    int has_reference;
    ae_real frame[AE_EEG_WINDOW], fft_scratch[AE_EEG_WINDOW], power[AE_EEG_WINDOW / 2 + 1];
    uint32_t settled;                           /* samples dropped so far, up to AE_EEG_SETTLE */
    uint32_t calib_n;                           /* calibration samples so far */
    uint32_t head, filled;                      /* next ring row; rows holding samples */
    uint32_t since;                             /* samples since the last window */
    int started, calibrated;
} ae_eeg;

void ae_eeg_init(ae_eeg *s);

/* A stored per-user baseline instead of the calibration phase: each electrode's standard
 * deviation in µV after the filters (affect-edge's baseline JSON, "std"). */
void ae_eeg_set_baseline(ae_eeg *s, const float std_uv[AE_EEG_CHANNELS]);

/* One sample of every electrode, in µV, in the order of ae_eeg_channel_names. Returns 1 when
 * it completes a window (read it with ae_eeg_window before the next push), else 0. */
int ae_eeg_push(ae_eeg *s, const float uv[AE_EEG_CHANNELS]);

/* The model's input, (AE_EEG_WINDOW samples, AE_EEG_CHANNELS) row major, oldest first. */
void ae_eeg_window(const ae_eeg *s, float out[AE_EEG_WINDOW * AE_EEG_CHANNELS]);

/* The window's quality flags, one byte per electrode: AE_EEG_FLAT, _RAILED, _LINE_NOISE,
 * _BLINK, _MUSCLE, _MOVEMENT bits (AE_EEG_DISCONNECTED never: no gaps here). Returns 1 when no
 * electrode has one (the host scores only such windows); max_uv and mains_uv as the host's
 * event reports them (before its rounding). After ae_eeg_set_baseline the limits are the
 * floors and the stuck-level test is off (the stored std carries no level or figures). */
#define AE_EEG_DISCONNECTED 1u
#define AE_EEG_FLAT 2u
#define AE_EEG_RAILED 4u
#define AE_EEG_LINE_NOISE 8u
#define AE_EEG_BLINK 16u
#define AE_EEG_MUSCLE 32u
#define AE_EEG_MOVEMENT 64u
int ae_eeg_quality(ae_eeg *s, uint8_t flags[AE_EEG_CHANNELS], float *max_uv, float *mains_uv);

#endif
