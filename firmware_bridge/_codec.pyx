# cython: language_level=3
"""The wire protocol's byte work, compiled: COBS encoding and decoding, and CRC-32C.

CRC-32C: reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF (check value
0xE3069283 over b"123456789"), table-driven, one byte at a time.
"""

from libc.stdint cimport uint8_t, uint32_t

cdef uint32_t _TABLE[256]


cdef void _build_table():
    cdef uint32_t c
    cdef int i, k
    for i in range(256):
        c = i
        for k in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        _TABLE[i] = c


_build_table()


cpdef unsigned int crc32c(const unsigned char[:] data, unsigned int crc=0):
    """CRC-32C of `data`, continuing from `crc` (0 to start)."""
    cdef uint32_t c = crc ^ 0xFFFFFFFF
    cdef Py_ssize_t i, n = data.shape[0]
    with nogil:
        for i in range(n):
            c = _TABLE[(c ^ data[i]) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def cobs_encode(const unsigned char[:] data):
    """COBS-encode `data` (no zero byte in the result; the caller appends the 0x00 delimiter)."""
    cdef Py_ssize_t n = data.shape[0]
    out = bytearray(n + n // 254 + 2)
    cdef unsigned char[:] o = out
    cdef Py_ssize_t code_at = 0, w = 1, i
    cdef unsigned char code = 1
    with nogil:
        for i in range(n):
            if data[i] == 0:
                o[code_at] = code
                code_at = w
                w += 1
                code = 1
            else:
                o[w] = data[i]
                w += 1
                code += 1
                if code == 0xFF:
                    o[code_at] = code
                    code_at = w
                    w += 1
                    code = 1
        o[code_at] = code
    return bytes(out[:w])


def cobs_decode(const unsigned char[:] data):
    """Decode one COBS block (without its 0x00 delimiter); None when it is malformed."""
    cdef Py_ssize_t n = data.shape[0]
    out = bytearray(n)
    cdef unsigned char[:] o = out
    cdef Py_ssize_t r = 0, w = 0, k
    cdef unsigned char code
    cdef bint bad = False
    with nogil:
        while r < n:
            code = data[r]
            if code == 0 or r + code > n:  # a zero inside, or a block running past the end
                bad = True
                break
            r += 1
            for k in range(code - 1):
                if data[r] == 0:
                    bad = True
                    break
                o[w] = data[r]
                w += 1
                r += 1
            if bad:
                break
            if code < 0xFF and r < n:
                o[w] = 0
                w += 1
    if bad:
        return None
    return bytes(out[:w])
