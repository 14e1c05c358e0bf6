# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled streaming polyphase resampler (rational factor up/down) with carried history.

Output sample k of the up-sampled, filtered, down-sampled stream is
    y[k] = sum_i h[k * down - i * up] * x[i],
evaluated only over the taps that touch real input, so no zero-stuffed signal is built.
The Python wrapper designs `h` and decides which k to emit, so that a whole stream plus
`flush` reproduces `scipy.signal.resample_poly`.
"""

import numpy as np


cdef class PolyphaseKernel:
    cdef double[::1] h
    cdef double[:, ::1] history
    cdef readonly Py_ssize_t up, down, n_channels, n_in, next_out, base, stored

    def __cinit__(self, const double[::1] h, Py_ssize_t up, Py_ssize_t down,
                  Py_ssize_t n_channels, Py_ssize_t first_out):
        self.h = np.array(h, dtype=np.float64)
        self.up = up
        self.down = down
        self.n_channels = n_channels
        self.history = np.zeros((n_channels, h.shape[0] // up + 2))
        self.n_in = 0
        self.next_out = first_out
        self.base = 0
        self.stored = 0

    def reset(self, Py_ssize_t first_out):
        self.n_in = 0
        self.next_out = first_out
        self.base = 0
        self.stored = 0

    def outputs_ready(self, Py_ssize_t n_new, Py_ssize_t limit):
        """How many outputs become computable once `n_new` more samples arrive (at most limit)."""
        cdef Py_ssize_t available = self.n_in + n_new
        cdef Py_ssize_t last
        if available == 0:
            return 0
        # Output k needs inputs up to floor(k * down / up) <= available - 1.
        last = ((available - 1) * self.up) // self.down
        if last + 1 - self.next_out <= 0:
            return 0
        return min(last + 1 - self.next_out, limit)

    def push(self, const double[:, ::1] x):
        """Append x (channels, samples) to the history, keeping only what later outputs need."""
        cdef Py_ssize_t n = x.shape[1], keep_from, drop, c, t, need
        keep_from = (self.next_out * self.down - self.h.shape[0]) // self.up
        if keep_from < 0:
            keep_from = 0
        if keep_from > self.base:
            drop = min(keep_from - self.base, self.stored)
            if drop > 0:
                self.history[:, : self.stored - drop] = self.history[:, drop : self.stored]
                self.stored -= drop
                self.base += drop
        need = self.stored + n
        if need > self.history.shape[1]:
            grown = np.zeros((self.n_channels, max(need, 2 * self.history.shape[1])))
            grown[:, : self.stored] = self.history[:, : self.stored]
            self.history = grown
        with nogil:
            for c in range(self.n_channels):
                for t in range(n):
                    self.history[c, self.stored + t] = x[c, t]
        self.stored += n
        self.n_in += n

    def pull(self, double[:, ::1] out, Py_ssize_t count):
        """Compute the next `count` outputs into out[:, :count]; inputs past n_in count as 0."""
        cdef Py_ssize_t j, k, i0, tap0, i, tap, c, L = self.h.shape[0]
        cdef double acc
        with nogil:
            for j in range(count):
                k = self.next_out + j
                i0 = (k * self.down) // self.up
                tap0 = k * self.down - i0 * self.up
                if i0 >= self.n_in:
                    # Past the end of the input (flush): those samples are zeros, so start the
                    # sum at the last real sample with the matching tap.
                    tap0 = tap0 + (i0 - (self.n_in - 1)) * self.up
                    i0 = self.n_in - 1
                for c in range(self.n_channels):
                    acc = 0.0
                    i = i0
                    tap = tap0
                    while tap < L and i >= self.base:
                        acc = acc + self.h[tap] * self.history[c, i - self.base]
                        tap = tap + self.up
                        i = i - 1
                    out[c, j] = acc
        self.next_out += count
