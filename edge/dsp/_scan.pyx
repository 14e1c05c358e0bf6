# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled scans over input blocks: find or replace non-finite samples without temporaries.

One entry point per dtype: a fused-type `def` would pick its specialisation at run time,
which costs more than scanning a 10 ms block.
"""

from libc.math cimport isfinite


ctypedef fused real_t:
    float
    double


cdef Py_ssize_t _first(const real_t* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return i
    return -1


cdef Py_ssize_t _replace(real_t* x, Py_ssize_t n, double value) noexcept nogil:
    cdef Py_ssize_t i, count = 0
    for i in range(n):
        if not isfinite(x[i]):
            x[i] = <real_t>value
            count += 1
    return count


def first_nonfinite_f32(const float[::1] x):
    """Index of the first NaN or Inf in a flat float32 block, or -1 if all are finite."""
    if x.shape[0] == 0:
        return -1
    return _first(&x[0], x.shape[0])


def first_nonfinite_f64(const double[::1] x):
    """Index of the first NaN or Inf in a flat float64 block, or -1 if all are finite."""
    if x.shape[0] == 0:
        return -1
    return _first(&x[0], x.shape[0])


def replace_nonfinite_f32(float[::1] x, double value):
    """Overwrite NaN and Inf in place with `value`; return how many were replaced."""
    if x.shape[0] == 0:
        return 0
    return _replace(&x[0], x.shape[0], value)


def replace_nonfinite_f64(double[::1] x, double value):
    """Overwrite NaN and Inf in place with `value`; return how many were replaced."""
    if x.shape[0] == 0:
        return 0
    return _replace(&x[0], x.shape[0], value)
