/* Power spectra of many real rows at once, the rows as the SIMD lanes: the host's EEG window
 * kernel (edge/dsp/_eeg_window.pyx) takes the filtered and the unfiltered rows of every
 * electrode through one call per window.
 *
 * The arithmetic is edge/dsp/_fft.pyx's RealFFT.power, operation for operation and in its order,
 * lane by lane: built without floating-point contraction (-ffp-contract=off), every lane's
 * spectrum equals RealFFT.power's of that row to the bit.
 */
#ifndef AE_LANES_FFT_H
#define AE_LANES_FFT_H

#include <stddef.h>

/* rows: `lanes` rows of n_fft samples, `stride` doubles apart. bitrev (n_fft / 2), tw_re and
 * tw_im (n_fft / 4, at least 1), sp_re and sp_im (n_fft / 2 + 1): RealFFT's tables. zr, zi:
 * scratch of n_fft / 2 x lanes doubles each; out: (n_fft / 2 + 1) x lanes, out[k * lanes + l]
 * the power of bin k of row l. n_fft: a power of two >= 4. */
void ae_power_lanes(const double *rows, ptrdiff_t stride, int lanes, int n_fft,
                    const ptrdiff_t *bitrev, const double *tw_re, const double *tw_im,
                    const double *sp_re, const double *sp_im, double *zr, double *zi,
                    double *out);

#endif
