from libc.math cimport fabs


# Reductions over a window for the compiled kernels (inline, so a .pxd is all they need): each
# keeps four partial results, so that no one chain of dependent adds or comparisons runs the
# window's length. Partial sums are added left to right (a + b + c + d).

cdef inline double _mx(double a, double b) noexcept nogil:
    # A comparison, not libm's fmax: that is a function call here.
    return b if b > a else a


cdef inline double _mn(double a, double b) noexcept nogil:
    return b if b < a else a


cdef inline double _sum(const double* x, Py_ssize_t n) noexcept nogil:
    cdef double a = 0.0, b = 0.0, c = 0.0, d = 0.0
    cdef Py_ssize_t t, n4 = n - n % 4
    for t in range(0, n4, 4):
        a += x[t]
        b += x[t + 1]
        c += x[t + 2]
        d += x[t + 3]
    for t in range(n4, n):
        a += x[t]
    return a + b + c + d


cdef inline double _dot(const double* x, const double* y, Py_ssize_t n) noexcept nogil:
    cdef double a = 0.0, b = 0.0, c = 0.0, d = 0.0
    cdef Py_ssize_t t, n4 = n - n % 4
    for t in range(0, n4, 4):
        a += x[t] * y[t]
        b += x[t + 1] * y[t + 1]
        c += x[t + 2] * y[t + 2]
        d += x[t + 3] * y[t + 3]
    for t in range(n4, n):
        a += x[t] * y[t]
    return a + b + c + d


cdef inline double _sum_sq_dev(const double* x, Py_ssize_t n, double m) noexcept nogil:
    """sum of (x[t] - m)^2."""
    cdef double a = 0.0, b = 0.0, c = 0.0, d = 0.0
    cdef Py_ssize_t t, n4 = n - n % 4
    for t in range(0, n4, 4):
        a += (x[t] - m) * (x[t] - m)
        b += (x[t + 1] - m) * (x[t + 1] - m)
        c += (x[t + 2] - m) * (x[t + 2] - m)
        d += (x[t + 3] - m) * (x[t + 3] - m)
    for t in range(n4, n):
        a += (x[t] - m) * (x[t] - m)
    return a + b + c + d


cdef inline double _max_abs(const double* x, Py_ssize_t n, double shift) noexcept nogil:
    """max |x[t] + shift| (0 for an empty window)."""
    cdef double a = 0.0, b = 0.0, c = 0.0, d = 0.0
    cdef Py_ssize_t t, n4 = n - n % 4
    for t in range(0, n4, 4):
        a = _mx(a, fabs(x[t] + shift))
        b = _mx(b, fabs(x[t + 1] + shift))
        c = _mx(c, fabs(x[t + 2] + shift))
        d = _mx(d, fabs(x[t + 3] + shift))
    for t in range(n4, n):
        a = _mx(a, fabs(x[t] + shift))
    return _mx(_mx(a, b), _mx(c, d))


cdef inline void _range(const double* x, Py_ssize_t n, double* lo, double* hi) noexcept nogil:
    """The smallest and largest of x[0 .. n-1] (n >= 1), in one pass."""
    cdef double a = x[0], b = x[0], c = x[0], d = x[0]
    cdef double e = x[0], f = x[0], g = x[0], h = x[0]
    cdef Py_ssize_t t, n4 = n - n % 4
    for t in range(0, n4, 4):
        a = _mn(a, x[t])
        b = _mn(b, x[t + 1])
        c = _mn(c, x[t + 2])
        d = _mn(d, x[t + 3])
        e = _mx(e, x[t])
        f = _mx(f, x[t + 1])
        g = _mx(g, x[t + 2])
        h = _mx(h, x[t + 3])
    for t in range(n4, n):
        a = _mn(a, x[t])
        e = _mx(e, x[t])
    lo[0] = _mn(_mn(a, b), _mn(c, d))
    hi[0] = _mx(_mx(e, f), _mx(g, h))
