# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled multi-channel, multi-filter biquad cascade with carried state.

Each of K filters (second-order sections, transposed direct form II, the same arithmetic as
`scipy.signal.sosfilt`) runs over the same C channels. A block is filtered section by section
(each section is a filter of its own in the cascade, so the values are exactly those of the
sample-by-sample order) with the channel loop innermost: coefficients stay in registers and
the independent recursions of different channels overlap in the CPU pipeline.
"""

import numpy as np


cdef class SosKernel:
    cdef double[:, :, ::1] sos
    cdef double[:, :, :, ::1] state
    cdef double[:, ::1] time_major
    cdef double[:, ::1] work
    cdef readonly Py_ssize_t n_filters, n_sections, n_channels

    def __cinit__(self, const double[:, :, ::1] sos, Py_ssize_t n_channels):
        self.sos = np.array(sos, dtype=np.float64)
        self.n_filters = sos.shape[0]
        self.n_sections = sos.shape[1]
        self.n_channels = n_channels
        # state[f, s, 0, c] and state[f, s, 1, c]: the two delays, contiguous over channels.
        self.state = np.zeros((self.n_filters, self.n_sections, 2, n_channels))
        self.time_major = np.zeros((0, n_channels))
        self.work = np.zeros((0, n_channels))

    def reset(self):
        """Zero the filter memory, as at the start of a new recording."""
        np.asarray(self.state)[...] = 0.0

    def get_state(self):
        """A copy of the filter memory, shape (filters, sections, channels, 2)."""
        return np.array(self.state).transpose(0, 1, 3, 2).copy()

    def set_state(self, const double[:, :, :, ::1] state):
        """Replace the memory from (filters, sections, channels, 2)."""
        np.asarray(self.state)[...] = np.asarray(state).transpose(0, 1, 3, 2)

    def process(self, const double[:, ::1] x, double[:, :, ::1] out):
        """Filter x (channels, samples) by every filter into out (filters, channels, samples)."""
        cdef Py_ssize_t n_samples = x.shape[1]
        cdef Py_ssize_t C = self.n_channels, f, t, s, c
        cdef double b0, b1, b2, a1, a2, xc, y
        cdef double* z0
        cdef double* z1
        cdef double* w
        cdef const double* src
        if n_samples == 0:
            return
        if self.time_major.shape[0] < n_samples:
            self.time_major = np.zeros((n_samples, C))
            self.work = np.zeros((n_samples, C))
        with nogil:
            for c in range(C):
                for t in range(n_samples):
                    self.time_major[t, c] = x[c, t]
            src = &self.time_major[0, 0]
            w = &self.work[0, 0]
            for f in range(self.n_filters):
                for t in range(n_samples * C):
                    w[t] = src[t]
                for s in range(self.n_sections):
                    b0 = self.sos[f, s, 0]
                    b1 = self.sos[f, s, 1]
                    b2 = self.sos[f, s, 2]
                    a1 = self.sos[f, s, 4]
                    a2 = self.sos[f, s, 5]
                    z0 = &self.state[f, s, 0, 0]
                    z1 = &self.state[f, s, 1, 0]
                    for t in range(n_samples):
                        for c in range(C):
                            xc = w[t * C + c]
                            y = b0 * xc + z0[c]
                            z0[c] = b1 * xc - a1 * y + z1[c]
                            z1[c] = b2 * xc - a2 * y
                            w[t * C + c] = y
                for c in range(C):
                    for t in range(n_samples):
                        out[f, c, t] = w[t * C + c]
