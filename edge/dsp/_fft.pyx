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
        cdef Py_ssize_t k, j, start, span, step, a, b, r
        cdef double wr, wi, tr, ti, ar, ai, cr, ci, er, ei, orr, oi, xr, xi
        # Pack even samples into the real part and odd samples into the imaginary part,
        # in bit-reversed order for the in-place decimation-in-time butterflies.
        for k in range(half):
            r = self.bitrev[k]
            zr[r] = frame[2 * k]
            zi[r] = frame[2 * k + 1]
        span = 2
        while span <= half:
            step = half // span
            start = 0
            while start < half:
                for j in range(span // 2):
                    wr = twr[j * step]
                    wi = twi[j * step]
                    a = start + j
                    b = a + span // 2
                    tr = wr * zr[b] - wi * zi[b]
                    ti = wr * zi[b] + wi * zr[b]
                    zr[b] = zr[a] - tr
                    zi[b] = zi[a] - ti
                    zr[a] = zr[a] + tr
                    zi[a] = zi[a] + ti
                start += span
            span *= 2
        # Split: X[k] = E[k] + W^k O[k], with E and O the spectra of even and odd samples.
        for k in range(half + 1):
            ar = zr[k % half]
            ai = zi[k % half]
            cr = zr[(half - k) % half]
            ci = -zi[(half - k) % half]
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
