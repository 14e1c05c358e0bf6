# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled affine (de)quantisation for engine inputs and outputs, one pass, no temporaries.

quantize: q = clamp(round_half_even(x / scale) + zero_point), with the finiteness check done in
the same pass (returns the index of the first NaN/Inf, or -1). dequantize: x = (q - zp) * scale.

Arrays are taken as ndarrays and read through their data pointers (the engine has checked their
dtype, size and contiguity), so a call creates no buffer objects: at the size of a model's
input, the Python call costs more than the arithmetic.
"""

cimport numpy as cnp
from libc.math cimport isfinite, nearbyintf

cnp.import_array()


cdef inline void _same_size(cnp.ndarray a, cnp.ndarray b) except *:
    if cnp.PyArray_SIZE(a) != cnp.PyArray_SIZE(b):
        raise ValueError("source and destination differ in size")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_IS_C_CONTIGUOUS(b)):
        raise ValueError("arrays must be C-contiguous")


def quantize_f32_to_i8(cnp.ndarray x, float inv_scale, int zero_point, cnp.ndarray out):
    """float32 x -> int8 out (same size); index of the first NaN/Inf (out then partial), or -1."""
    _same_size(x, out)
    if cnp.PyArray_TYPE(x) != cnp.NPY_FLOAT32 or cnp.PyArray_TYPE(out) != cnp.NPY_INT8:
        raise TypeError("quantize_f32_to_i8 takes float32 -> int8")
    cdef const float* src = <const float*> cnp.PyArray_DATA(x)
    cdef signed char* dst = <signed char*> cnp.PyArray_DATA(out)
    cdef Py_ssize_t i, bad = -1, n = cnp.PyArray_SIZE(x)
    cdef float v
    with nogil:
        for i in range(n):
            if not isfinite(src[i]):
                bad = i
                break
            v = nearbyintf(src[i] * inv_scale) + zero_point
            dst[i] = <signed char>(-128.0 if v < -128.0 else (127.0 if v > 127.0 else v))
    return bad


def quantize_f32_to_u8(cnp.ndarray x, float inv_scale, int zero_point, cnp.ndarray out):
    """float32 x -> uint8 out (same size); index of the first NaN/Inf (out then partial), or -1."""
    _same_size(x, out)
    if cnp.PyArray_TYPE(x) != cnp.NPY_FLOAT32 or cnp.PyArray_TYPE(out) != cnp.NPY_UINT8:
        raise TypeError("quantize_f32_to_u8 takes float32 -> uint8")
    cdef const float* src = <const float*> cnp.PyArray_DATA(x)
    cdef unsigned char* dst = <unsigned char*> cnp.PyArray_DATA(out)
    cdef Py_ssize_t i, bad = -1, n = cnp.PyArray_SIZE(x)
    cdef float v
    with nogil:
        for i in range(n):
            if not isfinite(src[i]):
                bad = i
                break
            v = nearbyintf(src[i] * inv_scale) + zero_point
            dst[i] = <unsigned char>(0.0 if v < 0.0 else (255.0 if v > 255.0 else v))
    return bad


def dequantize_i8(cnp.ndarray q, float scale, int zero_point, cnp.ndarray out):
    """int8 q -> float32 out (same size)."""
    _same_size(q, out)
    if cnp.PyArray_TYPE(q) != cnp.NPY_INT8 or cnp.PyArray_TYPE(out) != cnp.NPY_FLOAT32:
        raise TypeError("dequantize_i8 takes int8 -> float32")
    cdef const signed char* src = <const signed char*> cnp.PyArray_DATA(q)
    cdef float* dst = <float*> cnp.PyArray_DATA(out)
    cdef Py_ssize_t i, n = cnp.PyArray_SIZE(q)
    with nogil:
        for i in range(n):
            dst[i] = (<float>src[i] - zero_point) * scale


def dequantize_u8(cnp.ndarray q, float scale, int zero_point, cnp.ndarray out):
    """uint8 q -> float32 out (same size)."""
    _same_size(q, out)
    if cnp.PyArray_TYPE(q) != cnp.NPY_UINT8 or cnp.PyArray_TYPE(out) != cnp.NPY_FLOAT32:
        raise TypeError("dequantize_u8 takes uint8 -> float32")
    cdef const unsigned char* src = <const unsigned char*> cnp.PyArray_DATA(q)
    cdef float* dst = <float*> cnp.PyArray_DATA(out)
    cdef Py_ssize_t i, n = cnp.PyArray_SIZE(q)
    with nogil:
        for i in range(n):
            dst[i] = (<float>src[i] - zero_point) * scale
