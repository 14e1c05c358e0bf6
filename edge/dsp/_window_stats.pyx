# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled sliding-window variance over many rows, emitted every hop.

Rows (for EEG: band x channel) stream in; every `hop_length` samples once `window_length`
have arrived, the variance of each row over the last window is written out. A ring buffer
holds the window, so memory is fixed and nothing is allocated per block. Samples are copied
in contiguous runs up to the next emission, so the per-sample cost is a memory copy.
"""

import numpy as np

from edge.dsp._reduce cimport _sum, _sum_sq_dev


cdef double _variance(const double* x, Py_ssize_t n) noexcept nogil:
    """Population variance, two passes (`edge.dsp._reduce`: four partial sums each)."""
    return _sum_sq_dev(x, n, _sum(x, n) / n) / n


cdef class WindowVarianceKernel:
    cdef double[:, ::1] ring
    cdef readonly Py_ssize_t n_rows, window_length, hop_length, filled, since_emit
    cdef Py_ssize_t write_pos

    def __cinit__(self, Py_ssize_t n_rows, Py_ssize_t window_length, Py_ssize_t hop_length):
        self.n_rows = n_rows
        self.window_length = window_length
        self.hop_length = hop_length
        self.ring = np.zeros((n_rows, window_length))
        self.reset()

    def reset(self):
        self.filled = 0
        self.since_emit = 0
        self.write_pos = 0

    cdef Py_ssize_t _until_emit(self) noexcept nogil:
        """Samples still needed before the next window is complete."""
        if self.filled < self.window_length:
            return self.window_length - self.filled
        return self.hop_length - self.since_emit

    def windows_for(self, Py_ssize_t n_samples):
        """How many windows a block of `n_samples` will complete."""
        cdef Py_ssize_t first = self._until_emit()
        if n_samples < first:
            return 0
        return 1 + (n_samples - first) // self.hop_length

    def process(self, const double[:, ::1] x, double[:, ::1] out):
        """Feed x (rows, samples); write one variance per row per completed window into out."""
        cdef Py_ssize_t n = x.shape[1], R = self.n_rows, W = self.window_length
        cdef Py_ssize_t i = 0, take, r, k, emitted = 0, wp
        cdef bint emit
        cdef double* row
        cdef const double* src
        with nogil:
            while i < n:
                take = self._until_emit()
                if take > n - i:
                    take = n - i
                if take > W - self.write_pos:
                    take = W - self.write_pos
                wp = self.write_pos
                for r in range(R):
                    row = &self.ring[r, wp]
                    src = &x[r, i]
                    for k in range(take):
                        row[k] = src[k]
                i += take
                self.write_pos = (wp + take) % W
                # Phase one fills the first window; phase two counts hops since the last one.
                if self.filled < W:
                    self.filled += take
                    emit = self.filled == W
                else:
                    self.since_emit += take
                    emit = self.since_emit == self.hop_length
                if emit:
                    for r in range(R):
                        out[emitted, r] = _variance(&self.ring[r, 0], W)
                    emitted += 1
                    self.since_emit = 0
        return emitted
