# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled streaming log-mel kernel.

Samples of any block size go into a frame buffer; each completed frame (every `hop_length`
samples once `n_fft` have arrived) is windowed, transformed by `RealFFT`, pooled by a sparse
mel filterbank (zero weights are never visited) and logged. No allocation and no Python calls
happen per frame. The Python wrapper in `logmel.py` checks inputs and sizes the output.
"""

from libc.math cimport logf
from libc.string cimport memmove

import numpy as np


ctypedef fused sample_t:
    short
    float
    double


cdef class LogMelKernel:
    # Attributes are declared in _logmel.pxd, so that other kernels can feed this one directly.

    def __cinit__(self, const double[::1] window, Py_ssize_t hop_length,
                  const int[::1] band_start, const int[::1] band_offset,
                  const double[::1] band_weight, double preemphasis, double log_floor):
        self.n_fft = window.shape[0]
        self.fft = RealFFT(self.n_fft)
        self.hop_length = hop_length
        self.n_mels = band_start.shape[0]
        self.window = np.array(window, dtype=np.float64)
        self.buf = np.zeros(self.n_fft)
        self.frame = np.zeros(self.n_fft)
        self.power = np.zeros(self.n_fft // 2 + 1)
        self.band_start = np.array(band_start, dtype=np.intc)
        self.band_offset = np.array(band_offset, dtype=np.intc)
        self.band_weight = np.array(band_weight, dtype=np.float64)
        self.preemphasis = preemphasis
        self.log_floor = log_floor
        self.filled = 0
        self.prev = 0.0

    def reset(self):
        """Forget all buffered audio and the pre-emphasis memory."""
        self.filled = 0
        self.prev = 0.0

    cdef Py_ssize_t feed_f32(self, const float* x, Py_ssize_t n, float* out) noexcept nogil:
        """Entry for other compiled kernels: float32 samples, frames written row by row to out."""
        return _feed(self, x, n, 1.0, out)

    def frames_for(self, Py_ssize_t n_samples):
        """How many frames a block of `n_samples` will complete, given what is buffered."""
        cdef Py_ssize_t total = self.filled + n_samples
        if total < self.n_fft:
            return 0
        return 1 + (total - self.n_fft) // self.hop_length

    def feed_int16(self, const short[::1] x, float[:, ::1] out):
        cdef Py_ssize_t n
        if x.shape[0] == 0:
            return 0
        with nogil:
            n = _feed(self, &x[0], x.shape[0], 1.0 / 32768.0, &out[0, 0])
        return n

    def feed_float32(self, const float[::1] x, float[:, ::1] out):
        cdef Py_ssize_t n
        if x.shape[0] == 0:
            return 0
        with nogil:
            n = _feed(self, &x[0], x.shape[0], 1.0, &out[0, 0])
        return n

    def feed_float64(self, const double[::1] x, float[:, ::1] out):
        cdef Py_ssize_t n
        if x.shape[0] == 0:
            return 0
        with nogil:
            n = _feed(self, &x[0], x.shape[0], 1.0, &out[0, 0])
        return n


cdef Py_ssize_t _feed(LogMelKernel self, const sample_t* x, Py_ssize_t n, double scale,
                      float* out) noexcept nogil:
    cdef Py_ssize_t i = 0, k, m, take, frames = 0, bins, b0
    cdef double s, acc, prev = self.prev, a = self.preemphasis
    cdef double* buf = &self.buf[0]
    cdef double* frame = &self.frame[0]
    cdef double* power = &self.power[0]
    cdef const double* win = &self.window[0]
    cdef const double* weight = &self.band_weight[0]
    while i < n:
        take = self.n_fft - self.filled
        if take > n - i:
            take = n - i
        for k in range(take):
            s = x[i + k] * scale
            buf[self.filled + k] = s - a * prev
            prev = s
        self.filled += take
        i += take
        if self.filled < self.n_fft:
            break
        for k in range(self.n_fft):
            frame[k] = buf[k] * win[k]
        self.fft.power(frame, power)
        for m in range(self.n_mels):
            b0 = self.band_start[m]
            acc = 0.0
            for k in range(self.band_offset[m], self.band_offset[m + 1]):
                acc = acc + weight[k] * power[b0 + k - self.band_offset[m]]
            if acc < self.log_floor:
                acc = self.log_floor
            out[frames * self.n_mels + m] = logf(<float>acc)
        frames += 1
        memmove(buf, buf + self.hop_length,
                (self.n_fft - self.hop_length) * sizeof(double))
        self.filled = self.n_fft - self.hop_length
    self.prev = prev
    return frames
