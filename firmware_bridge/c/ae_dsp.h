/* affect-edge front ends in C99 for firmware: the pieces both modalities share.
 *
 * No heap; nothing from the C library but <stdint.h>, <stddef.h>, <string.h> and, for the
 * log-mel's logarithm, <math.h>. Arithmetic is single precision (`ae_real` is float), as a
 * Cortex-M4F/M55 FPU does it; build with -DAE_REAL_DOUBLE for double precision on a host.
 */
#ifndef AE_DSP_H
#define AE_DSP_H

#include <stddef.h>
#include <stdint.h>

#ifdef AE_REAL_DOUBLE
typedef double ae_real;
#else
typedef float ae_real;
#endif

/* The tables of a real FFT of n_fft points (a power of two >= 8), computed by the exporter. */
typedef struct {
    uint16_t n_fft;
    const ae_real *tw_re, *tw_im; /* exp(-2 pi i k / (n_fft/2)), k < n_fft/4 */
    const ae_real *sp_re, *sp_im; /* exp(-2 pi i k / n_fft), k <= n_fft/2 */
    const uint16_t *bitrev;       /* bit reversal of k < n_fft/2 */
} ae_rfft;

/* |X[k]|^2, k = 0 .. n_fft/2, of one real frame. `scratch` holds n_fft values and is not the
 * frame's memory. */
void ae_rfft_power(const ae_rfft *plan, const ae_real *frame, ae_real *scratch, ae_real *power);

/* TFLite's affine int8 quantisation: q = clamp(round(x / scale) + zero_point, -128, 127). */
void ae_quantize_i8(const float *x, size_t n, float scale, int32_t zero_point, int8_t *out);

#endif
