"""Cython extension list for affect-edge; all other metadata lives in pyproject.toml."""

import platform
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

_KERNELS = [
    "edge/dsp/_fft",
    "edge/dsp/_logmel",
    "edge/dsp/_sos",
    "edge/dsp/_window_stats",
    "edge/dsp/_eeg_window",
    "edge/dsp/_resample",
    "edge/dsp/_scan",
    "edge/dsp/_speech",
    "edge/dsp/_histn",
    "edge/runtime/_quantize",
    "edge/pipelines/_record",
    "firmware_bridge/_codec",
]

#: C99 sources compiled into an extension beside its .pyx (ae_histn.c is also what export-c
#: hands to firmware; ae_lanes_fft.c serves the host's EEG window kernel only).
_C_SOURCES = {
    "edge/dsp/_histn": ["edge/dsp/c/ae_histn.c"],
    "edge/dsp/_eeg_window": ["edge/dsp/c/ae_lanes_fft.c"],
}
#: On x86-64 with GCC the C sources' hot loops are cloned per instruction set (AVX-512, AVX2,
#: baseline) and picked at load time; elsewhere they are plain C99.
_CLONES = (
    [("AE_HISTN_CLONES", "1")]
    if platform.machine() in ("x86_64", "AMD64") and sys.platform.startswith("linux")
    else []
)

#: Extra compiler flags per extension.
_FLAGS = {
    # Python's own CFLAGS carry -fwrapv, which keeps GCC from widening int induction
    # variables: the HiSTN kernel's loops ran 40% slower with it (standalone C, same flags).
    # Jump threading splits the ELU's branch-free clamps into per-case paths that the
    # vectoriser then merges back with masks (25 instructions per 16 lanes instead of 20):
    # without it the kernel is 5-12% faster, its outputs bit for bit the same.
    "edge/dsp/_histn": ["-fno-wrapv", "-fno-thread-jumps"],
    # No fused multiply-adds in the AVX clones of the batched FFT, so that each lane computes
    # what edge/dsp/_fft.pyx's scalar RealFFT does, to the bit.
    "edge/dsp/_eeg_window": ["-ffp-contract=off"],
}

extensions = [
    Extension(
        name.replace("/", "."),
        [f"{name}.pyx", *_C_SOURCES.get(name, [])],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
        + (_CLONES if name in _C_SOURCES else []),
        extra_compile_args=["-O3", *_FLAGS.get(name, [])],
    )
    for name in _KERNELS
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
