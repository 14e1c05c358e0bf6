/* affect-edge's speech front end in C99: int16 or float audio at the model's rate in, the
 * speech model's input window out, computing what edge/frontends/speech.py computes:
 *
 *   samples -> DC blocker y[n] = x[n] - x[n-1] + p y[n-1] (steady at the first sample's level)
 *     -> frames of n_fft every hop samples -> Hann window -> power spectrum -> mel bands
 *     -> ln(max(power, floor)) -> a ring of the last window_frames frames
 *     -> the window minus its mean (window_norm "mean") or minus the mean level of its loudest
 *        quarter of frames ("loudest") -> int8 for the model
 *
 * The sizes, the window, the mel bank and the FFT tables come from the exporter's ae_config.h
 * and ae_config.c, made for one bundle. The state is one struct the caller places (static
 * memory is usual); nothing is allocated. Feed it from one context (an audio task).
 */
#ifndef AE_LOGMEL_H
#define AE_LOGMEL_H

#include "ae_config.h"
#include "ae_dsp.h"

typedef struct {
    ae_real buf[AE_LM_N_FFT];     /* the frame being filled, conditioned samples */
    ae_real frame[AE_LM_N_FFT];   /* the windowed frame */
    ae_real scratch[AE_LM_N_FFT]; /* the FFT's working space */
    ae_real power[AE_LM_N_FFT / 2 + 1];
    float ring[AE_LM_WINDOW_FRAMES][AE_LM_N_MELS]; /* frame t in row t % AE_LM_WINDOW_FRAMES */
    uint32_t frames;                               /* frames completed since init */
    uint32_t filled;                               /* samples in buf */
    ae_real dc_z, prev;                            /* DC blocker and pre-emphasis memories */
    int primed;
} ae_logmel;

void ae_logmel_init(ae_logmel *s);

/* Consume n samples (int16 full scale 32768, or float full scale 1.0); return the number of
 * frames they completed. A window is due every AE_LM_UPDATE_FRAMES frames. */
size_t ae_logmel_feed_i16(ae_logmel *s, const int16_t *x, size_t n);
size_t ae_logmel_feed_f32(ae_logmel *s, const float *x, size_t n);

/* How many windows became due among the `made` frames the last feed completed (0 or 1 for blocks
 * under AE_LM_UPDATE_FRAMES hops): a window is due on frame AE_LM_WINDOW_FRAMES and every
 * AE_LM_UPDATE_FRAMES frames after it, as in the Python pipeline. ae_logmel_window then gives
 * the latest frames: feed at most a hop at a time for exactly the Python pipeline's windows. */
size_t ae_logmel_windows_due(const ae_logmel *s, size_t made);

/* The model's input: the last AE_LM_WINDOW_FRAMES frames in time order, (frames, mels) row
 * major, normalised as the bundle says. With fewer frames so far the last one is repeated (as
 * training pads short clips). Returns the frames that were real, at most the window. */
size_t ae_logmel_window(const ae_logmel *s, float out[AE_LM_WINDOW_FRAMES * AE_LM_N_MELS]);

#endif
