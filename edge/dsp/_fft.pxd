cdef class RealFFT:
    cdef readonly Py_ssize_t n_fft
    cdef Py_ssize_t half
    cdef double[::1] tw_re
    cdef double[::1] tw_im
    cdef double[::1] sp_re
    cdef double[::1] sp_im
    cdef Py_ssize_t[::1] bitrev
    cdef double[::1] z_re
    cdef double[::1] z_im

    cdef void power(self, const double* frame, double* power_out) noexcept nogil
