"""Compiled sliding-window variance over many rows, emitted every hop.

Rows (for EEG: band x channel) stream in; every `hop_length` samples once `window_length`
have arrived, the variance of each row over the last window is written out. A ring buffer
holds the window, so memory is fixed and nothing is allocated per block.
"""

import numpy as np


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

    def windows_for(self, Py_ssize_t n_samples):
        """How many windows a block of `n_samples` will complete."""
        cdef Py_ssize_t count = 0, t, filled = self.filled, since = self.since_emit
        # Closed form would be shorter but this mirrors `process` exactly for any state.
        if filled + n_samples < self.window_length:
            return 0
        for t in range(n_samples):
            if filled < self.window_length:
                filled += 1
                if filled == self.window_length:
                    count += 1
                    since = 0
            else:
                since += 1
                if since == self.hop_length:
                    count += 1
                    since = 0
        return count

    def process(self, const double[:, ::1] x, double[:, ::1] out):
        """Feed x (rows, samples); write one variance per row per completed window into out."""
        cdef Py_ssize_t n = x.shape[1], R = self.n_rows, W = self.window_length
        cdef Py_ssize_t t, r, k, emitted = 0
        cdef double mean, acc, d
        cdef bint emit
        with nogil:
            for t in range(n):
                for r in range(R):
                    self.ring[r, self.write_pos] = x[r, t]
                self.write_pos += 1
                if self.write_pos == W:
                    self.write_pos = 0
                emit = False
                if self.filled < W:
                    self.filled += 1
                    if self.filled == W:
                        emit = True
                else:
                    self.since_emit += 1
                    if self.since_emit == self.hop_length:
                        emit = True
                if emit:
                    self.since_emit = 0
                    for r in range(R):
                        mean = 0.0
                        for k in range(W):
                            mean = mean + self.ring[r, k]
                        mean = mean / W
                        acc = 0.0
                        for k in range(W):
                            d = self.ring[r, k] - mean
                            acc = acc + d * d
                        out[emitted, r] = acc / W
                    emitted += 1
        return emitted
