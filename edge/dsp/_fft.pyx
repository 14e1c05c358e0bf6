# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled real FFT: a radix-2 complex FFT of half size plus the real-input split step.

Kernels only: the plan is built once (twiddles, bit-reversal table, scratch) and `power` does
no allocation and no Python calls, so a streaming front end can call it once per hop.
"""

from libc.math cimport cos, sin, M_PI

import numpy as np


cdef class RealFFT:
    """Plan for the power spectrum of real frames of `n_fft` samples (a power of two >= 4)."""

    def __cinit__(self, Py_ssize_t n_fft):
        cdef Py_ssize_t half = n_fft // 2
        cdef Py_ssize_t k, bits, r, v, b
        if n_fft < 4 or (n_fft & (n_fft - 1)) != 0:
            raise ValueError(f"n_fft must be a power of two >= 4, got {n_fft}")
        self.n_fft = n_fft
        self.half = half
        # Twiddles of the half-size complex FFT: exp(-2 pi i k / half), k < half / 2.
        self.tw_re = np.zeros(max(half // 2, 1))
        self.tw_im = np.zeros(max(half // 2, 1))
        for k in range(half // 2):
            self.tw_re[k] = cos(2.0 * M_PI * k / half)
            self.tw_im[k] = -sin(2.0 * M_PI * k / half)
        # Twiddles of the split step that turns the packed half-size FFT into the real FFT.
        self.sp_re = np.zeros(half + 1)
        self.sp_im = np.zeros(half + 1)
        for k in range(half + 1):
            self.sp_re[k] = cos(2.0 * M_PI * k / n_fft)
            self.sp_im[k] = -sin(2.0 * M_PI * k / n_fft)
        self.bitrev = np.zeros(half, dtype=np.intp)
        bits = 0
        while (1 << bits) < half:
            bits += 1
        for k in range(half):
            r = 0
            v = k
            for b in range(bits):
                r = (r << 1) | (v & 1)
                v >>= 1
            self.bitrev[k] = r
        self.z_re = np.zeros(half)
        self.z_im = np.zeros(half)

    cdef void power(self, const double* frame, double* power_out) noexcept nogil:
        """|X[k]|^2 for k = 0 .. n_fft/2 of one real frame of n_fft samples."""
        cdef Py_ssize_t half = self.half
        cdef double* zr = &self.z_re[0]
        cdef double* zi = &self.z_im[0]
        cdef const double* twr = &self.tw_re[0]
        cdef const double* twi = &self.tw_im[0]
        cdef Py_ssize_t k, j, done, a, b, c, d, r
        cdef double wr, wi, tr, ti, ar, ai, cr, ci, er, ei, orr, oi, xr, xi
        cdef double w1r, w1i, w2r, w2i, y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i
        # Pack even samples into the real part and odd samples into the imaginary part,
        # in bit-reversed order for the in-place decimation-in-time butterflies.
        for k in range(half):
            r = self.bitrev[k]
            zr[r] = frame[2 * k]
            zi[r] = frame[2 * k + 1]
        # First stage: every twiddle is 1, so butterflies are plain sums and differences.
        for a in range(0, half - 1, 2):
            tr = zr[a + 1]
            ti = zi[a + 1]
            zr[a + 1] = zr[a] - tr
            zi[a + 1] = zi[a] - ti
            zr[a] = zr[a] + tr
            zi[a] = zi[a] + ti
        # Remaining stages two at a time. With blocks of `done` points transformed, the stages
        # with blocks of 2*done and 4*done act on the four points a, a+done, a+2*done, a+3*done
        # (a at offset j of its block): done in registers, one load and store per point.
        done = 2
        while 4 * done <= half:
            for j in range(done):
                w1r = twr[j * (half // (2 * done))]
                w1i = twi[j * (half // (2 * done))]
                w2r = twr[j * (half // (4 * done))]
                w2i = twi[j * (half // (4 * done))]
                a = j
                while a < half:
                    b = a + done
                    c = b + done
                    d = c + done
                    # Blocks of 2*done: (a, b) and (c, d), both with twiddle w1.
                    tr = w1r * zr[b] - w1i * zi[b]
                    ti = w1r * zi[b] + w1i * zr[b]
                    y0r = zr[a] + tr
                    y0i = zi[a] + ti
                    y1r = zr[a] - tr
                    y1i = zi[a] - ti
                    tr = w1r * zr[d] - w1i * zi[d]
                    ti = w1r * zi[d] + w1i * zr[d]
                    y2r = zr[c] + tr
                    y2i = zi[c] + ti
                    y3r = zr[c] - tr
                    y3i = zi[c] - ti
                    # Blocks of 4*done: (a, c) with w2, and (b, d) with w2 * (-i).
                    tr = w2r * y2r - w2i * y2i
                    ti = w2r * y2i + w2i * y2r
                    zr[a] = y0r + tr
                    zi[a] = y0i + ti
                    zr[c] = y0r - tr
                    zi[c] = y0i - ti
                    tr = w2i * y3r + w2r * y3i
                    ti = w2i * y3i - w2r * y3r
                    zr[b] = y1r + tr
                    zi[b] = y1i + ti
                    zr[d] = y1r - tr
                    zi[d] = y1i - ti
                    a += 4 * done
            done *= 4
        if done < half:
            # One radix-2 stage (blocks of 2*done) is left over when log2(half) is even.
            for j in range(done):
                w1r = twr[j * (half // (2 * done))]
                w1i = twi[j * (half // (2 * done))]
                a = j
                while a < half:
                    b = a + done
                    tr = w1r * zr[b] - w1i * zi[b]
                    ti = w1r * zi[b] + w1i * zr[b]
                    zr[b] = zr[a] - tr
                    zi[b] = zi[a] - ti
                    zr[a] = zr[a] + tr
                    zi[a] = zi[a] + ti
                    a += 2 * done
        # Split: X[k] = E[k] + W^k O[k], E and O the spectra of the even and odd samples, from
        # Z[k] and conj(Z[half - k]); k = 0 and k = half both pair Z[0] with itself.
        power_out[0] = (zr[0] + zi[0]) * (zr[0] + zi[0])
        power_out[half] = (zr[0] - zi[0]) * (zr[0] - zi[0])
        for k in range(1, half):
            ar = zr[k]
            ai = zi[k]
            cr = zr[half - k]
            ci = -zi[half - k]
            er = 0.5 * (ar + cr)
            ei = 0.5 * (ai + ci)
            orr = 0.5 * (ai - ci)
            oi = -0.5 * (ar - cr)
            wr = self.sp_re[k]
            wi = self.sp_im[k]
            xr = er + wr * orr - wi * oi
            xi = ei + wr * oi + wi * orr
            power_out[k] = xr * xr + xi * xi

    def power_spectrum(self, const double[::1] frame, double[::1] out):
        """Python entry for tests: write |rfft(frame)|^2 into `out` (n_fft/2 + 1 values)."""
        if frame.shape[0] != self.n_fft or out.shape[0] != self.half + 1:
            raise ValueError("frame must have n_fft samples and out n_fft/2 + 1 values")
        with nogil:
            self.power(&frame[0], &out[0])
