"""The event record's hot path in C: Python's ``round(x, digits)`` without its decimal
strings, and an `AffectEvent` made without the frozen dataclass's per-field ``__setattr__``.

`round_to` gives the very double ``round(x, digits)`` gives: ``x * 10**digits`` to the nearest
whole number ``r``, then ``r / 10**digits`` (both exact steps for the magnitudes taken here, and
the division rounds to the double nearest the decimal, as Python's string round trip does);
where the product lands within a hair of a half (its own rounding could have moved it across),
or is too large, or not finite, Python's round decides. `make_event` fills every field, so the
event equals the one ``AffectEvent(...)`` makes.
"""

from libc.math cimport exp, fabs, rint

cdef extern from "Python.h":
    int PyObject_GenericSetAttr(object o, object name, object value) except -1

cdef double[16] _POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                          1e12, 1e13, 1e14, 1e15]

_py_round = round


cdef inline double _round(double x, int digits):
    cdef double p, y, r, d
    if 0 <= digits < 16:
        p = _POW10[digits]
        y = x * p
        # |y| < 2**50: y - r is exact and y's own rounding error is under 1e-12 of it.
        if fabs(y) < 1.1e15:
            r = rint(y)
            d = fabs(y - r)
            if fabs(d - 0.5) > 1e-12 * (fabs(y) + 1.0):
                return r / p
    return _py_round(x, digits)


def round_to(double x, int digits):
    """``round(x, digits)`` for a float `x`, the same value."""
    return _round(x, digits)


def rounded(names, values, int digits):
    """``{name: round(value, digits)}`` over two sequences of equal length."""
    cdef dict out = {}
    for k, v in zip(names, values, strict=True):
        out[k] = _round(v, digits)
    return out


def make_event(cls, str modality, str source, str model, str model_version, double start_s,
               double end_s, dict values, bint updated, dict quality, dict latency_ms,
               subject, long seq):
    """``cls(...)`` (an `AffectEvent`) with every field given, set slot by slot."""
    cdef object e = cls.__new__(cls)
    PyObject_GenericSetAttr(e, "modality", modality)
    PyObject_GenericSetAttr(e, "source", source)
    PyObject_GenericSetAttr(e, "model", model)
    PyObject_GenericSetAttr(e, "model_version", model_version)
    PyObject_GenericSetAttr(e, "start_s", start_s)
    PyObject_GenericSetAttr(e, "end_s", end_s)
    PyObject_GenericSetAttr(e, "values", values)
    PyObject_GenericSetAttr(e, "updated", updated)
    PyObject_GenericSetAttr(e, "quality", quality)
    PyObject_GenericSetAttr(e, "latency_ms", latency_ms)
    PyObject_GenericSetAttr(e, "subject", subject)
    PyObject_GenericSetAttr(e, "seq", seq)
    return e


def softmax_levels(const float[::1] row, names):
    """`EegPipeline._infer`'s values from one row of logits: the softmax in float64 (the
    largest taken off, libm's exp, the sum left to right, each divided by it) as ``{name: p}``,
    and ``level``, the expected rating sum(p_i * (i + 1)) left to right: the operations of the
    Python it replaces, in its order, so the same doubles."""
    cdef Py_ssize_t i, n = row.shape[0]
    cdef double top, total = 0.0, level = 0.0, p
    cdef double z[64]
    cdef dict out = {}
    if n < 1 or n > 64 or len(names) != n:
        raise ValueError(f"a row of 1 to 64 logits and one name each, got {n} and {len(names)}")
    top = row[0]
    for i in range(1, n):
        if row[i] > top:
            top = row[i]
    for i in range(n):
        z[i] = exp(<double>row[i] - top)
        total += z[i]
    for i in range(n):
        p = z[i] / total
        out[names[i]] = p
        level += p * <double>(i + 1)
    out["level"] = level
    return out
