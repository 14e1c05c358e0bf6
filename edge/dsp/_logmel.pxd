from edge.dsp._fft cimport RealFFT


cdef class LogMelKernel:
    cdef RealFFT fft
    cdef double[::1] window
    cdef double[::1] buf
    cdef double[::1] frame
    cdef double[::1] power
    cdef int[::1] band_start
    cdef int[::1] band_offset
    cdef double[::1] band_weight
    cdef readonly Py_ssize_t n_fft, hop_length, n_mels, filled
    cdef double preemphasis, prev, log_floor

    cdef Py_ssize_t feed_f32(self, const float* x, Py_ssize_t n, float* out) noexcept nogil
