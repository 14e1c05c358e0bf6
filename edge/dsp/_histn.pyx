"""Compiled HiSTN student: a Cython wrapper over the C99 kernel in `edge/dsp/c/ae_histn.c`.

`HistnKernel` holds the weights (float32 arrays, kept alive here) and the scratch; `run` scores
one window, `run_batch` several. The same C source is what `export-c` hands to firmware.
"""

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "c/ae_histn.h":
    ctypedef struct ae_histn:
        int samples
        int electrodes
        int maps
        int taps
        int pad
        int depth_taps
        int levels
        const float *temporal
        const float *temporal_bias
        const float *depth
        const float *depth_bias
        const float *head
        const float *head_bias
    int ae_histn_check(const ae_histn *net) nogil
    size_t ae_histn_scratch(const ae_histn *net) nogil
    int ae_histn_fft_size(const ae_histn *net) nogil
    void ae_histn_prepare(const ae_histn *net, float *scratch) nogil
    void ae_histn_run(const ae_histn *net, const float *x, float *scratch, float *out) nogil


cdef const float* _ptr(const float[::1] a):
    return &a[0]


cdef class HistnKernel:
    """The export form's weights: temporal (maps, taps) and its bias (maps,), depth
    (maps, depth_taps) and its bias, head (levels, maps, samples // 2, electrodes) and its bias;
    `pad` zeros before the window in the temporal conv."""

    cdef ae_histn net
    cdef readonly tuple arrays
    cdef float[::1] scratch
    cdef readonly int samples, electrodes, levels

    def __cinit__(self, temporal, temporal_bias, depth, depth_bias, head, head_bias,
                  int samples, int electrodes, int pad):
        arrays = tuple(
            np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
            for a in (temporal, temporal_bias, depth, depth_bias, head, head_bias)
        )
        t = np.asarray(temporal)
        d = np.asarray(depth)
        h = np.asarray(head)
        if t.ndim != 2 or d.ndim != 2 or h.ndim != 4:
            raise ValueError("temporal and depth must be 2-D, head 4-D")
        maps, taps = t.shape
        levels = h.shape[0]
        if (d.shape[0] != maps or arrays[1].size != maps or arrays[3].size != maps
                or h.shape[1:] != (maps, samples // 2, electrodes) or arrays[5].size != levels):
            raise ValueError(
                f"HiSTN weights do not fit together: temporal {t.shape}, depth {d.shape}, "
                f"head {h.shape} for {electrodes} electrodes x {samples} samples"
            )
        self.arrays = arrays
        self.net.samples = samples
        self.net.electrodes = electrodes
        self.net.maps = maps
        self.net.taps = taps
        self.net.pad = pad
        self.net.depth_taps = d.shape[1]
        self.net.levels = levels
        self.net.temporal = _ptr(arrays[0])
        self.net.temporal_bias = _ptr(arrays[1])
        self.net.depth = _ptr(arrays[2])
        self.net.depth_bias = _ptr(arrays[3])
        self.net.head = _ptr(arrays[4])
        self.net.head_bias = _ptr(arrays[5])
        code = ae_histn_check(&self.net)
        if code != 0:
            raise ValueError(f"the HiSTN kernel does not take these shapes (code {code})")
        self.scratch = np.zeros(ae_histn_scratch(&self.net), dtype=np.float32)
        ae_histn_prepare(&self.net, &self.scratch[0])
        self.samples, self.electrodes, self.levels = samples, electrodes, levels

    @property
    def fft_size(self):
        """The temporal conv's FFT size (a circular convolution), 0 where it runs directly."""
        return ae_histn_fft_size(&self.net)

    @property
    def scratch_floats(self):
        """Floats of scratch the kernel uses (what firmware must give ae_histn_run)."""
        return self.scratch.shape[0]

    def run(self, const float[:, ::1] x, float[::1] out):
        """x (samples, electrodes) -> out (levels,)."""
        if x.shape[0] != self.samples or x.shape[1] != self.electrodes or out.shape[0] != self.levels:
            raise ValueError(
                f"x must be ({self.samples}, {self.electrodes}) and out ({self.levels},)"
            )
        with nogil:
            ae_histn_run(&self.net, &x[0, 0], &self.scratch[0], &out[0])

    def score(self, cnp.ndarray x):
        """Scores of a C-contiguous float32 array of whole windows (any shape whose size is
        batch x samples x electrodes, e.g. (batch, 1, samples, electrodes)) -> a new
        (batch, levels) float32 array. The per-call path of the native engine: no memoryviews,
        no reshapes, one allocation (the result)."""
        cdef Py_ssize_t i, window = <Py_ssize_t>self.samples * self.electrodes
        cdef Py_ssize_t size = cnp.PyArray_SIZE(x), batch
        cdef cnp.npy_intp dims[2]
        if (cnp.PyArray_TYPE(x) != cnp.NPY_FLOAT32 or not cnp.PyArray_IS_C_CONTIGUOUS(x)
                or size == 0 or size % window != 0):
            raise ValueError(
                f"x must be C-contiguous float32 windows of {self.samples} x {self.electrodes}"
            )
        batch = size // window
        dims[0] = batch
        dims[1] = self.levels
        out = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0)
        cdef const float* src = <const float*> cnp.PyArray_DATA(x)
        cdef float* dst = <float*> cnp.PyArray_DATA(out)
        cdef float* scratch = &self.scratch[0]
        with nogil:
            for i in range(batch):
                ae_histn_run(&self.net, src + i * window, scratch, dst + i * self.levels)
        return out

    def run_batch(self, const float[:, :, ::1] x, float[:, ::1] out):
        """x (batch, samples, electrodes) -> out (batch, levels)."""
        cdef Py_ssize_t i
        if (x.shape[1] != self.samples or x.shape[2] != self.electrodes
                or out.shape[0] != x.shape[0] or out.shape[1] != self.levels):
            raise ValueError(
                f"x must be (batch, {self.samples}, {self.electrodes}) and out (batch, {self.levels})"
            )
        with nogil:
            for i in range(x.shape[0]):
                ae_histn_run(&self.net, &x[i, 0, 0], &self.scratch[0], &out[i, 0])
