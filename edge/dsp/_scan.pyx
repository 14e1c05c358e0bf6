"""Compiled scans over input blocks: find or replace non-finite samples without temporaries."""

from libc.math cimport isfinite


ctypedef fused real_t:
    float
    double


def first_nonfinite(const real_t[::1] x):
    """Index of the first NaN or Inf in a flat block, or -1 if every sample is finite."""
    cdef Py_ssize_t i, found = -1, n = x.shape[0]
    with nogil:
        for i in range(n):
            if not isfinite(x[i]):
                found = i
                break
    return found


def replace_nonfinite(real_t[::1] x, double value):
    """Overwrite NaN and Inf samples in place with `value`; return how many were replaced."""
    cdef Py_ssize_t i, count = 0, n = x.shape[0]
    with nogil:
        for i in range(n):
            if not isfinite(x[i]):
                x[i] = <real_t>value
                count += 1
    return count
