"""Compiled multi-channel, multi-filter biquad cascade with carried state.

Each of K filters (second-order sections, transposed direct form II, the same arithmetic as
`scipy.signal.sosfilt`) runs over the same C channels. The channel loop is innermost so the
independent recursions of different channels overlap in the CPU pipeline.
"""

import numpy as np


cdef class SosKernel:
    cdef double[:, :, ::1] sos
    cdef double[:, :, :, ::1] state
    cdef double[:, ::1] time_major
    cdef double[::1] current
    cdef readonly Py_ssize_t n_filters, n_sections, n_channels

    def __cinit__(self, const double[:, :, ::1] sos, Py_ssize_t n_channels):
        self.sos = np.array(sos, dtype=np.float64)
        self.n_filters = sos.shape[0]
        self.n_sections = sos.shape[1]
        self.n_channels = n_channels
        self.state = np.zeros((self.n_filters, self.n_sections, n_channels, 2))
        self.time_major = np.zeros((0, n_channels))
        self.current = np.zeros(n_channels)

    def reset(self):
        """Zero the filter memory, as at the start of a new recording."""
        self.state[...] = 0.0

    def get_state(self):
        """A copy of the filter memory, shape (filters, sections, channels, 2)."""
        return np.array(self.state)

    def set_state(self, const double[:, :, :, ::1] state):
        self.state[...] = state

    def process(self, const double[:, ::1] x, double[:, :, ::1] out):
        """Filter x (channels, samples) by every filter into out (filters, channels, samples)."""
        cdef Py_ssize_t n_samples = x.shape[1]
        cdef Py_ssize_t C = self.n_channels, f, t, s, c
        cdef double b0, b1, b2, a1, a2, xc, y
        cdef double[:, ::1] tm
        cdef double* cur = &self.current[0]
        cdef double* z
        if n_samples == 0:
            return
        if self.time_major.shape[0] < n_samples:
            self.time_major = np.zeros((n_samples, C))
        tm = self.time_major
        with nogil:
            for c in range(C):
                for t in range(n_samples):
                    tm[t, c] = x[c, t]
            for f in range(self.n_filters):
                for t in range(n_samples):
                    for c in range(C):
                        cur[c] = tm[t, c]
                    for s in range(self.n_sections):
                        b0 = self.sos[f, s, 0]
                        b1 = self.sos[f, s, 1]
                        b2 = self.sos[f, s, 2]
                        a1 = self.sos[f, s, 4]
                        a2 = self.sos[f, s, 5]
                        z = &self.state[f, s, 0, 0]
                        for c in range(C):
                            xc = cur[c]
                            y = b0 * xc + z[2 * c]
                            z[2 * c] = b1 * xc - a1 * y + z[2 * c + 1]
                            z[2 * c + 1] = b2 * xc - a2 * y
                            cur[c] = y
                    for c in range(C):
                        out[f, c, t] = cur[c]
