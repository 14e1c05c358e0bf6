/* Runs an exported C front end over a file of samples and writes what it computes, so that the
 * tests can hold it to the Python front end.
 *
 * Speech: harness IN.i16 BLOCK OUT  -- int16 mono at the model's rate, fed BLOCK samples at a
 *   time; OUT gets every log-mel frame (float32, n_mels each), then every window due (every
 *   AE_LM_UPDATE_FRAMES frames once a window is full, float32) and its int8 quantisation.
 * EEG: harness IN.f32 OUT  -- float32 µV, interleaved in the model's electrode order; OUT gets
 *   each window (float32, AE_EEG_WINDOW x AE_EEG_CHANNELS) and its int8 quantisation.
 * Timing: harness IN.i16 BLOCK OUT REPEATS (speech) or harness IN.f32 OUT REPEATS (EEG) feeds
 *   the file REPEATS times and prints, per pass, the nanoseconds per hop (speech: per frame;
 *   EEG: per AE_EEG_HOP samples, windows included).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ae_config.h"

#ifdef AE_LM_N_FFT
#include "ae_logmel.h"
static ae_logmel state;
static float window[AE_LM_WINDOW_FRAMES * AE_LM_N_MELS];
static int8_t quantised[AE_LM_WINDOW_FRAMES * AE_LM_N_MELS];
#else
#include "ae_eeg.h"
static ae_eeg state;
static float window[AE_EEG_WINDOW * AE_EEG_CHANNELS];
static int8_t quantised[AE_EEG_WINDOW * AE_EEG_CHANNELS];
#endif

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The window just computed, quantised for the model; both written to out unless it is NULL. */
static void emit(FILE *out) {
    ae_quantize_i8(window, AE_MODEL_INPUT_SIZE, AE_MODEL_INPUT_SCALE, AE_MODEL_INPUT_ZERO_POINT,
                   quantised);
    if (out != NULL) {
        fwrite(window, sizeof(float), AE_MODEL_INPUT_SIZE, out);
        fwrite(quantised, 1, AE_MODEL_INPUT_SIZE, out);
    }
}

#ifndef AE_LM_N_FFT
static void run_eeg(const float *x, size_t n, FILE *out) {
    size_t i;
    ae_eeg_init(&state);
    for (i = 0; i < n; i++) {
        if (ae_eeg_push(&state, x + i * AE_EEG_CHANNELS)) {
            ae_eeg_window(&state, window);
            emit(out);
        }
    }
}
#endif

static long file_size(FILE *f) {
    long n;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    return n;
}

int main(int argc, char **argv) {
    FILE *in, *out;
    long bytes;
    void *data;
    if (argc < 3) {
        fprintf(stderr, "usage: harness IN [BLOCK] OUT [REPEATS]\n");
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (in == NULL) {
        perror(argv[1]);
        return 2;
    }
    bytes = file_size(in);
    data = malloc((size_t)bytes + 1u);
    if (data == NULL || fread(data, 1, (size_t)bytes, in) != (size_t)bytes) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(in);
#ifdef AE_LM_N_FFT
    {
        const int16_t *x = data;
        size_t n = (size_t)bytes / 2u, block = (size_t)atol(argv[2]), i, made, t;
        long repeats = argc > 4 ? atol(argv[4]) : 0;
        if (repeats > 0) {
            long r;
            for (r = 0; r < repeats; r++) {
                size_t frames = 0;
                double t0;
                ae_logmel_init(&state);
                t0 = seconds();
                for (i = 0; i < n; i += block) {
                    frames += ae_logmel_feed_i16(&state, x + i, n - i < block ? n - i : block);
                }
                printf("%.1f\n", (seconds() - t0) * 1e9 / (double)frames);
            }
            free(data);
            return 0;
        }
        out = fopen(argv[3], "wb");
        ae_logmel_init(&state);
        for (i = 0; i < n; i += block) {
            made = ae_logmel_feed_i16(&state, x + i, n - i < block ? n - i : block);
            for (t = state.frames - made; t < state.frames; t++) {
                fwrite(state.ring[t % AE_LM_WINDOW_FRAMES], sizeof(float), AE_LM_N_MELS, out);
            }
        }
        fclose(out);
        /* The windows, in a second pass a sample at a time, so each is taken on its own frame. */
        out = fopen(argv[3], "ab");
        ae_logmel_init(&state);
        for (i = 0; i < n; i++) {
            if (ae_logmel_windows_due(&state, ae_logmel_feed_i16(&state, x + i, 1))) {
                ae_logmel_window(&state, window);
                emit(out);
            }
        }
        fclose(out);
    }
#else
    {
        const float *x = data;
        size_t n = (size_t)bytes / (4u * AE_EEG_CHANNELS);
        long repeats = argc > 3 ? atol(argv[3]) : 0, r;
        for (r = 0; r < repeats; r++) {
            double t0 = seconds();
            run_eeg(x, n, NULL);
            printf("%.1f\n", (seconds() - t0) * 1e9 * AE_EEG_HOP / (double)n);
        }
        if (repeats == 0) {
            out = fopen(argv[2], "wb");
            run_eeg(x, n, out);
            fclose(out);
        }
    }
#endif
    free(data);
    return 0;
}
