# distutils: extra_compile_args = -ffp-contract=off
# No fused multiply-adds (GCC fuses a*b+c where the CPU has FMA: every arm64, AVX2 clones):
# the same bits on a Raspberry Pi or a Jetson as on x86-64 (make arm64-check).
"""Compiled speech front end at the model's rate: samples in, log-mel frames into a ring.

Per block, in one pass and with no allocation: int16/float32/float64 samples become float64
(int16 scaled by 1/32768), NaN/Inf are replaced by 0 and counted, the DC blocker
y[n] = x[n] - x[n-1] + p * y[n-1] runs (the same arithmetic as the SOS kernel running the
section [1, -1, 0, 1, -p, 0]; it starts in steady state at the first sample's level), its
output is rounded to float32 and fed to `LogMelKernel`, and each completed frame lands in the
caller's ring (row = frame index modulo the ring's length) together with its energy, the
natural log of the frame's summed mel power.

Each frame is also gated for voice activity (when `set_vad` configured it): it is speech when
its energy stands `margin` above an adaptive noise floor and above an absolute floor. The floor
follows quieter frames at once and rises by at most `rise` per frame. Flags are kept for the
last `vad_frames` frames with their running count, and `snr_db` gives the mean energy of the
speech frames among the last n over the floor, in dB. The samples are also measured on the way
(largest magnitude, how many reach the clip level) for the pipeline's `clipped` and
`out_of_range` flags.

The input block is taken as an ndarray and read through its data pointer, and the ring is bound
once: a call creates no Python objects beyond its return value. The wrapper in
`edge/frontends/speech.py` checks dtype, shape and contiguity before calling.
"""

cimport numpy as cnp
from libc.math cimport NAN, exp, fabs, isfinite, isnan, log

from edge.dsp._logmel cimport LogMelKernel

import numpy as np

cnp.import_array()


cdef class SpeechFrontKernel:
    cdef LogMelKernel logmel
    cdef double pole, z
    cdef bint dc_block, primed
    cdef float[::1] work
    cdef float[:, ::1] ring
    cdef double[::1] energy
    cdef unsigned char[::1] voiced
    cdef double margin, rise, absolute_floor
    cdef readonly double noise_floor, total_frames
    # Level figures since `reset_levels` (doubles: reading one allocates nothing): the largest
    # |sample| and the samples at or beyond `clip_level`, before the DC blocker.
    cdef readonly double peak, clipped, seen
    cdef double clip_level
    cdef readonly Py_ssize_t n_mels, capacity, total, replaced, consumed, vad_frames, voiced_count

    def __cinit__(self, LogMelKernel logmel, double pole, bint dc_block):
        self.logmel = logmel
        self.n_mels = logmel.n_mels
        self.pole = pole
        self.dc_block = dc_block
        # At most n_fft samples are conditioned at a time (one frame's worth).
        self.work = np.zeros(logmel.n_fft, dtype=np.float32)
        self.capacity = 0
        self.total = 0
        self.replaced = 0
        self.consumed = 0
        self.primed = False
        self.z = 0.0
        self.vad_frames = 0
        self.voiced_count = 0
        self.noise_floor = NAN
        self.total_frames = 0.0
        self.clip_level = 0.99
        self.peak = 0.0
        self.clipped = 0.0
        self.seen = 0.0

    def set_clip_level(self, double level):
        """Count samples whose magnitude reaches `level` (full scale is 1) as clipped."""
        self.clip_level = level

    def reset_levels(self):
        """Start the level figures (peak, clipped, seen) over."""
        self.peak = 0.0
        self.clipped = 0.0
        self.seen = 0.0

    def set_vad(self, Py_ssize_t frames, double margin, double rise, double absolute_floor):
        """Gate every frame: speech if energy > floor + margin and > absolute_floor (ln units);
        flags kept for the last `frames` frames."""
        self.vad_frames = frames
        self.voiced = np.zeros(frames, dtype=np.uint8)
        self.margin = margin
        self.rise = rise
        self.absolute_floor = absolute_floor
        self.voiced_count = 0
        self.noise_floor = NAN

    cdef inline void _gate(self, double energy) noexcept nogil:
        cdef Py_ssize_t slot
        cdef unsigned char flag
        if self.vad_frames == 0:
            return
        if isnan(self.noise_floor):
            self.noise_floor = energy
        # The floor follows quiet frames at once and rises slowly.
        if energy < self.noise_floor + self.rise:
            self.noise_floor = energy
        else:
            self.noise_floor = self.noise_floor + self.rise
        flag = energy > self.noise_floor + self.margin and energy > self.absolute_floor
        slot = self.total % self.vad_frames
        self.voiced_count += flag - self.voiced[slot]
        self.voiced[slot] = flag

    def voiced_flags(self, Py_ssize_t n):
        """The voice gate's flags for the last n frames, in time order (n <= vad_frames)."""
        cdef Py_ssize_t t, have = self.total if self.total < n else n
        out = np.zeros(have, dtype=np.uint8)
        cdef unsigned char[::1] dst = out
        for t in range(have):
            dst[t] = self.voiced[(self.total - have + t) % self.vad_frames]
        return out

    def voiced_into(self, cnp.ndarray out, Py_ssize_t n):
        """`voiced_flags(n)` written into `out` (C-contiguous uint8, >= n): no allocation.
        Returns how many flags were written (fewer than n early in a stream)."""
        cdef Py_ssize_t t, have = self.total if self.total < n else n
        cdef unsigned char* dst
        if cnp.PyArray_TYPE(out) != cnp.NPY_UINT8 or not cnp.PyArray_IS_C_CONTIGUOUS(out):
            raise ValueError("out must be C-contiguous uint8")
        if cnp.PyArray_SIZE(out) < have or self.vad_frames == 0:
            raise ValueError("out is too small, or no voice gate is set")
        dst = <unsigned char*> cnp.PyArray_DATA(out)
        for t in range(have):
            dst[t] = self.voiced[(self.total - have + t) % self.vad_frames]
        return have

    def snr_db(self, Py_ssize_t n):
        """Mean energy of the speech frames among the last n (n <= ring rows and vad_frames)
        over the noise floor, in dB; 0 when none of them is speech."""
        cdef Py_ssize_t t, count = 0
        cdef double acc = 0.0
        if n > self.total:
            n = self.total
        for t in range(self.total - n, self.total):
            if self.voiced[t % self.vad_frames]:
                acc += self.energy[t % self.capacity]
                count += 1
        if count == 0 or isnan(self.noise_floor):
            return 0.0
        acc = (acc / count - self.noise_floor) * 4.342944819032518  # 10 / ln(10)
        return acc if acc > 0.0 else 0.0

    def bind(self, float[:, ::1] ring, double[::1] energy):
        """Where frames go: ring (rows, n_mels) float32 and energy (rows,) float64."""
        if ring.shape[1] != self.n_mels or ring.shape[0] != energy.shape[0] or ring.shape[0] < 1:
            raise ValueError("ring must be (rows >= 1, n_mels) and energy (rows,)")
        self.ring = ring
        self.energy = energy
        self.capacity = ring.shape[0]

    cdef inline float _condition(self, double x, Py_ssize_t* bad) noexcept nogil:
        """One sample: NaN/Inf -> 0 (counted), then the DC blocker, rounded to float32."""
        cdef double y, a
        if not isfinite(x):
            x = 0.0
            bad[0] += 1
        a = fabs(x)
        if a >= self.clip_level:
            self.clipped += 1.0
        if a > self.peak:
            self.peak = a
        if not self.dc_block:
            return <float>x
        if not self.primed:  # steady state at the first level: no step transient
            self.z = -x
            self.primed = True
        y = x + self.z
        self.z = self.pole * y - x
        return <float>y

    def reset(self):
        """A new stream: filter memory, buffered samples and the frame count start over."""
        self.logmel.reset()
        self.total = 0
        self.replaced = 0
        self.primed = False
        self.z = 0.0
        self.reset_levels()

    def frames_for(self, Py_ssize_t n_samples):
        return self.logmel.frames_for(n_samples)

    def push(self, cnp.ndarray block, Py_ssize_t start=0, Py_ssize_t limit=-1):
        """Consume a C-contiguous int16/float32/float64 block, (samples,) or (1, samples), from
        sample `start` on, stopping once `limit` frames are complete (-1: no limit). Returns the
        frames completed; `consumed` says how many samples were read."""
        cdef Py_ssize_t n = cnp.PyArray_SIZE(block), i, k, made = 0, row, m, j
        cdef int typenum = cnp.PyArray_TYPE(block)
        cdef int ndim = cnp.PyArray_NDIM(block)
        cdef const short* s16 = NULL
        cdef const float* s32 = NULL
        cdef const double* s64 = NULL
        cdef float* w
        cdef float* frame_out
        cdef double acc
        cdef Py_ssize_t bad = 0
        if ndim > 2 or ndim == 0 or (ndim == 2 and cnp.PyArray_DIM(block, 0) != 1):
            raise ValueError("block must hold one channel: (samples,) or (1, samples)")
        if not cnp.PyArray_IS_C_CONTIGUOUS(block):
            raise ValueError("block must be C-contiguous")
        if typenum == cnp.NPY_INT16:
            s16 = <const short*> cnp.PyArray_DATA(block)
        elif typenum == cnp.NPY_FLOAT32:
            s32 = <const float*> cnp.PyArray_DATA(block)
        elif typenum == cnp.NPY_FLOAT64:
            s64 = <const double*> cnp.PyArray_DATA(block)
        else:
            raise TypeError("block must be int16, float32 or float64")
        if self.capacity == 0:
            raise ValueError("bind() a ring before push()")
        if start < 0 or start > n:
            raise ValueError("start must be within the block")
        self.consumed = 0
        w = &self.work[0]
        i = start
        with nogil:
            # Feed one frame's worth at a time, so each frame lands in its own ring row and the
            # caller can stop exactly where it needs to (the DC state moves only with what is fed).
            while i < n and made != limit:
                k = self.logmel.n_fft - self.logmel.filled  # samples that complete the next frame
                if k > n - i:
                    k = n - i
                if s16 != NULL:
                    for j in range(k):
                        w[j] = self._condition(<double>(<float>s16[i + j] / 32768.0), &bad)
                elif s32 != NULL:
                    for j in range(k):
                        w[j] = self._condition(s32[i + j], &bad)
                else:
                    for j in range(k):
                        w[j] = self._condition(s64[i + j], &bad)
                row = self.total % self.capacity
                frame_out = &self.ring[row, 0]
                if self.logmel.feed_f32(w, k, frame_out):
                    acc = 0.0
                    for m in range(self.n_mels):
                        acc = acc + exp(<double>frame_out[m])
                    self.energy[row] = log(acc)
                    self._gate(self.energy[row])
                    self.total += 1
                    made += 1
                i += k
            self.seen += <double>(i - start)
            self.replaced += bad
        self.consumed = i - start
        self.total_frames = <double>self.total
        return made

    def window_into(self, cnp.ndarray out, Py_ssize_t n):
        """Copy the last n frames in time order into out, C-contiguous float32 (>= n, n_mels).
        Fewer than n so far: the last one is repeated to fill the window (as training pads short
        utterances); none: zeros."""
        if (cnp.PyArray_TYPE(out) != cnp.NPY_FLOAT32 or not cnp.PyArray_IS_C_CONTIGUOUS(out)
                or cnp.PyArray_SIZE(out) < n * self.n_mels):
            raise ValueError("out must be C-contiguous float32 holding n x n_mels values")
        cdef float* dst = <float*> cnp.PyArray_DATA(out)
        cdef Py_ssize_t have = self.total if self.total < n else n
        cdef Py_ssize_t first = self.total - have, t, m, row
        with nogil:
            for t in range(have):
                row = (first + t) % self.capacity
                for m in range(self.n_mels):
                    dst[t * self.n_mels + m] = self.ring[row, m]
            for t in range(have, n):
                for m in range(self.n_mels):
                    dst[t * self.n_mels + m] = dst[(have - 1) * self.n_mels + m] if have else 0.0
