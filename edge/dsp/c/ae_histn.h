/* affect-edge's HiSTN student in C99 (float): the export form of distill/students/histn.py
 * (HiSTN.for_export), for any headset's graph, computing what its fp32 ONNX computes:
 *
 *   x (samples, electrodes), row major
 *   -> per electrode, `maps` temporal kernels of `taps` samples with a bias ("same" padding:
 *      `pad` zeros before, the output cut to `samples`), ELU
 *   -> per map, a depthwise kernel of `depth_taps` samples with a bias (`depth_pad` zeros each
 *      side), ELU -> average pooling over time by 2 (an odd last sample is dropped)
 *   -> one matrix (the graph's linear hierarchy, folded) -> `levels` scores.
 *
 * The weights are the caller's (read from a bundle, or const arrays in firmware); the head's
 * columns are in ONNX's order, [levels][maps][samples / 2][electrodes]. Nothing is allocated:
 * the caller gives ae_histn_scratch() floats of scratch, filled once by ae_histn_prepare().
 * One call per window; not re-entrant on one scratch.
 *
 * Two ways to the temporal conv, the same function to float rounding: with more than
 * AE_HISTN_VL / 2 electrodes, a circular convolution by FFT (electrodes as the SIMD lanes, the
 * kernels' spectra prepared once: about half the arithmetic of 64 taps over 128 samples);
 * otherwise (or with AE_HISTN_DIRECT defined) directly, time as the lanes.
 */
#ifndef AE_HISTN_H
#define AE_HISTN_H

#include <stddef.h>

/* Lanes of time the temporal conv computes at once; rows are padded to a multiple of it. */
#define AE_HISTN_LANES 64
/* Lanes (electrodes) the FFT path computes at once; it is taken for more than VL / 2 electrodes
 * and at least 16 taps, up to circular convolutions of AE_HISTN_MAX_FFT points. Define
 * AE_HISTN_DIRECT for the direct conv alone (less scratch, e.g. on a microcontroller). */
#ifndef AE_HISTN_VL
#define AE_HISTN_VL 16
#endif
#define AE_HISTN_MAX_FFT 4096
/* The largest temporal kernel and the most maps the kernel takes. */
#define AE_HISTN_MAX_TAPS 256
#define AE_HISTN_MAX_MAPS 64

typedef struct {
    int samples;    /* window length (model-rate samples) */
    int electrodes; /* in the model's order */
    int maps;       /* temporal kernels (the folded temporal conv and map mix) */
    int taps;       /* temporal kernel length */
    int pad;        /* zeros before the first sample in the temporal conv */
    int depth_taps; /* depthwise kernel length (odd) */
    int levels;     /* output scores */
    const float *temporal;      /* [maps][taps] */
    const float *temporal_bias; /* [maps] */
    const float *depth;         /* [maps][depth_taps] */
    const float *depth_bias;    /* [maps] */
    const float *head;          /* [levels][maps][samples / 2][electrodes] */
    const float *head_bias;     /* [levels] */
} ae_histn;

/* 0 when the shapes are ones the kernel computes; else a negative code (see ae_histn.c). */
int ae_histn_check(const ae_histn *net);

/* The FFT path's circular convolution size for these shapes, 0 where the direct conv runs. */
int ae_histn_fft_size(const ae_histn *net);

/* Floats of scratch ae_histn_run needs. */
size_t ae_histn_scratch(const ae_histn *net);

/* Fills the scratch's constant part (the FFT path's twiddles and the temporal kernels' spectra):
 * once per scratch, before its first ae_histn_run; the scratch then belongs to this net. */
void ae_histn_prepare(const ae_histn *net, float *scratch);

/* One window: x [samples][electrodes] -> out [levels]. */
void ae_histn_run(const ae_histn *net, const float *x, float *scratch, float *out);

#endif
