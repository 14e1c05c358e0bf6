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
 * Not here (the host front end does them): resampling (sample at AE_EEG_RATE), NaN gaps, and
 * the signal-quality flags. The state is one caller-placed struct; nothing is allocated.
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

#endif
