"""Cython extension list for affect-edge; all other metadata lives in pyproject.toml."""

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
    "edge/runtime/_quantize",
    "firmware_bridge/_codec",
]

extensions = [
    Extension(
        name.replace("/", "."),
        [f"{name}.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
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
