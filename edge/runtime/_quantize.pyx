"""Compiled affine (de)quantisation for engine inputs and outputs, one pass, no temporaries.

quantize: q = clamp(round_half_even(x / scale) + zero_point), with the finiteness check done in
the same pass (returns the index of the first NaN/Inf, or -1). dequantize: x = (q - zp) * scale.
One entry point per dtype pair: a fused `def` would dispatch at run time, slower than the work.
"""

from libc.math cimport isfinite, nearbyintf


def quantize_f32_to_i8(const float[::1] x, float inv_scale, int zero_point, signed char[::1] out):
    cdef Py_ssize_t i, bad = -1, n = x.shape[0]
    cdef float v
    with nogil:
        for i in range(n):
            if not isfinite(x[i]):
                bad = i
                break
            v = nearbyintf(x[i] * inv_scale) + zero_point
            out[i] = <signed char>(-128.0 if v < -128.0 else (127.0 if v > 127.0 else v))
    return bad


def quantize_f32_to_u8(const float[::1] x, float inv_scale, int zero_point, unsigned char[::1] out):
    cdef Py_ssize_t i, bad = -1, n = x.shape[0]
    cdef float v
    with nogil:
        for i in range(n):
            if not isfinite(x[i]):
                bad = i
                break
            v = nearbyintf(x[i] * inv_scale) + zero_point
            out[i] = <unsigned char>(0.0 if v < 0.0 else (255.0 if v > 255.0 else v))
    return bad


def dequantize_i8(const signed char[::1] q, float scale, int zero_point, float[::1] out):
    cdef Py_ssize_t i, n = q.shape[0]
    with nogil:
        for i in range(n):
            out[i] = (<float>q[i] - zero_point) * scale


def dequantize_u8(const unsigned char[::1] q, float scale, int zero_point, float[::1] out):
    cdef Py_ssize_t i, n = q.shape[0]
    with nogil:
        for i in range(n):
            out[i] = (<float>q[i] - zero_point) * scale
