"""Compiled EEG window: the model input and the per-electrode quality figures and flags in one pass.

`edge.frontends.eeg.EegFrontEnd` keeps a ring of the last window: filtered µV, unfiltered µV
minus the pedestal, and gap indicators, one row per electrode each. Once per hop this kernel
reads it and writes

- the model input (samples, electrodes), float32: each electrode z-scored (`inv_std`), its
  window mean removed, the whole window divided by its largest |value|
  (`window_inputs`, computed the same way in double precision);
- per electrode, the six quality flags as bits (`FLAG_BITS`), decided from the figures
  `EegFrontEnd.quality_reference` computes with NumPy (which stays as the specification and
  serves windows whose length is not a power of two): one real FFT of the filtered window
  gives the mains, whole-band and above-20-Hz powers, a direct DFT of the few 0.5-4 Hz bins
  rebuilds the slow wave whose peak-to-peak is the blink figure, and one real FFT of the
  unfiltered window gives the mains at the electrode (the FFTs and the band sums of all rows
  at once, the rows as the SIMD lanes: `edge/dsp/c/ae_lanes_fft.c`);
- the largest filtered deflection and the worst electrode's mains RMS, both in µV.

The per-stream figures (each electrode's `inv_std`, pedestal, calibrated level and limits,
the rail) change only at calibration, so `set_stream` takes them once and `run` takes the ring
and the two outputs alone: no allocation per call, and three buffers to hand over rather than
ten.
"""

from libc.math cimport sqrt, fabs, isfinite, M_PI

import numpy as np

from edge.dsp._fft cimport RealFFT
from edge.dsp._reduce cimport _dot, _max_abs, _mn, _mx, _range, _sum, _sum_sq_dev

cdef extern from "c/ae_lanes_fft.h":
    void ae_power_lanes(const double *rows, Py_ssize_t stride, int lanes, int n_fft,
                        const Py_ssize_t *bitrev, const double *tw_re, const double *tw_im,
                        const double *sp_re, const double *sp_im, double *zr, double *zi,
                        double *out) nogil

# At most this many DFT bins in 0.5-4 Hz (a window of up to 8 s).
cdef enum:
    MAX_SLOW = 32

#: Bit of each flag in the kernel's output, in `edge.frontends.eeg.FLAGS` order.
FLAG_BITS = {
    "disconnected": 1,
    "flat": 2,
    "railed": 4,
    "line_noise": 8,
    "blink": 16,
    "muscle": 32,
    "movement": 64,
}


cdef class EegWindowKernel:
    """Plan for windows of `window` samples (a power of two >= 4) at `rate_hz`, `n` electrodes,
    flagged by `thresholds` (an `edge.frontends.eeg.QualityThresholds`: its numbers and its
    `bins(window, rate_hz)` masks; the kernel keeps no threshold of its own)."""

    cdef readonly Py_ssize_t n
    cdef readonly Py_ssize_t window
    cdef RealFFT fft
    cdef double[::1] line_mask
    cdef double[::1] ac_mask
    cdef double[::1] fast_mask
    cdef double[:, ::1] slow_cos
    cdef double[:, ::1] slow_sin
    cdef double[::1] slow_weight
    # The batched real FFT's work: (window / 2, 2n) packed samples, (window / 2 + 1, 2n) power.
    cdef double[:, ::1] z_re
    cdef double[:, ::1] z_im
    cdef double[:, ::1] power
    cdef double[::1] means
    # Per lane (2n rows): power in the mains bands; per electrode: whole band, above 20 Hz.
    cdef double[::1] line_sum
    cdef double[::1] ac_sum
    cdef double[::1] fast_sum
    cdef double[::1] devs
    cdef double gap_share, flat_std_uv, rail_share, stuck_uv, line_share
    # The stream's figures (set_stream): copies, so the caller's arrays may change after.
    cdef double[::1] inv_std
    cdef double[::1] pedestal
    cdef double[::1] reference
    cdef double[::1] slow_limit
    cdef double[::1] fast_limit
    cdef unsigned char[::1] frontal
    cdef double rail_uv
    cdef bint ready

    def __cinit__(self, Py_ssize_t n, Py_ssize_t window, double rate_hz, thresholds):
        cdef Py_ssize_t k, t
        if n < 1:
            raise ValueError(f"need at least one electrode, got {n}")
        self.fft = RealFFT(window)  # raises unless window is a power of two >= 4
        self.n = n
        self.window = window
        self.gap_share = thresholds.gap_share
        self.flat_std_uv = thresholds.flat_std_uv
        self.rail_share = thresholds.rail_share
        self.stuck_uv = thresholds.stuck_uv
        self.line_share = thresholds.line_share
        bins = thresholds.bins(window, rate_hz)
        self.line_mask = bins["line"].astype(np.float64)
        self.ac_mask = bins["ac"].astype(np.float64)
        self.fast_mask = bins["fast"].astype(np.float64)
        slow = np.flatnonzero(bins["slow"])
        if slow.size > MAX_SLOW:
            raise ValueError(f"a window of {window} samples has over {MAX_SLOW} slow-band bins")
        # The irfft of the slow bins alone: a bin other than DC and Nyquist counts twice.
        self.slow_weight = np.where((slow == 0) | (2 * slow == window), 1.0, 2.0) / window
        arg = 2.0 * M_PI * slow[:, None] * np.arange(window)[None, :] / window
        self.slow_cos = np.ascontiguousarray(np.cos(arg))
        self.slow_sin = np.ascontiguousarray(np.sin(arg))
        self.z_re = np.zeros((window // 2, 2 * n))
        self.z_im = np.zeros((window // 2, 2 * n))
        self.power = np.zeros((window // 2 + 1, 2 * n))
        self.means = np.zeros(n)
        self.line_sum = np.zeros(2 * n)
        self.ac_sum = np.zeros(n)
        self.fast_sum = np.zeros(n)
        self.devs = np.zeros(n)
        self.ready = False

    def set_stream(self, inv_std, pedestal, reference, double rail_uv, slow_limit, fast_limit,
                   frontal):
        """The stream's figures, per electrode (n,): `inv_std` (1 / the calibrated std),
        `pedestal` (µV taken off the unfiltered rows), `reference` (the calibrated level, µV,
        for the stuck-level test), `slow_limit` and `fast_limit` (µV: the 0.5-4 Hz peak-to-peak
        and the RMS above 20 Hz), `frontal` (1 where a slow deflection is a blink, 0 where it
        is movement); `rail_uv` the amplifier's rail. `EegFrontEnd` makes them all."""
        arrays = [np.array(a, dtype=np.float64).reshape(-1)
                  for a in (inv_std, pedestal, reference, slow_limit, fast_limit)]
        flags = np.array(frontal, dtype=np.uint8).reshape(-1)
        if any(a.shape[0] != self.n for a in arrays) or flags.shape[0] != self.n:
            raise ValueError(
                f"inv_std, pedestal, reference, the limits and frontal need {self.n} values each"
            )
        self.inv_std, self.pedestal, self.reference, self.slow_limit, self.fast_limit = arrays
        self.frontal = flags
        self.rail_uv = rail_uv
        self.ready = True

    cdef void _power_all(self, const double[:, ::1] ring) noexcept nogil:
        """The power spectra of the ring's first 2n rows (filtered, then unfiltered) in one
        call, the rows as the lanes (edge/dsp/c/ae_lanes_fft.c: `RealFFT.power`'s operations
        in its order, so the same values to the bit)."""
        ae_power_lanes(&ring[0, 0], ring.shape[1], 2 * self.n, self.window,
                       &self.fft.bitrev[0], &self.fft.tw_re[0], &self.fft.tw_im[0],
                       &self.fft.sp_re[0], &self.fft.sp_im[0], &self.z_re[0, 0],
                       &self.z_im[0, 0], &self.power[0, 0])

    cdef void _band_sums(self) noexcept nogil:
        """Each row's power by band from the spectra `_power_all` made, bin after bin from the
        first (each lane's sum in the order a loop over its own bins takes), the rows side by
        side so the loops vectorise."""
        cdef Py_ssize_t L = 2 * self.n, n = self.n, bins = self.window // 2 + 1, k, l
        cdef const double* p = &self.power[0, 0]
        cdef double* line = &self.line_sum[0]
        cdef double* ac = &self.ac_sum[0]
        cdef double* fast = &self.fast_sum[0]
        cdef double m_line, m_ac, m_fast
        for l in range(L):
            line[l] = 0.0
        for l in range(n):
            ac[l] = 0.0
            fast[l] = 0.0
        for k in range(bins):
            m_line = self.line_mask[k]
            m_ac = self.ac_mask[k]
            m_fast = self.fast_mask[k]
            for l in range(L):
                line[l] += p[k * L + l] * m_line
            for l in range(n):
                ac[l] += p[k * L + l] * m_ac
                fast[l] += p[k * L + l] * m_fast

    def run(self, const double[:, ::1] ring, float[:, ::1] model_out,
            unsigned char[::1] flags_out):
        """Fill `model_out` (window, n) and `flags_out` (n,); return (max_uv, mains_uv, any
        flag set).

        ring: (3n, window), rows filtered µV, unfiltered µV minus the pedestal, gap indicators
        (the figures `set_stream` took say how to read them).
        """
        cdef Py_ssize_t n = self.n, w = self.window
        cdef Py_ssize_t c, t, k, n_slow = self.slow_cos.shape[0]
        cdef double d, mean, level, peak, raw_std, line_p, ac_p, fast_p, re, im
        cdef double lo, hi, v, gap, gap_lo, max_uv = 0.0, mains_uv = 0.0, scale = 0.0, mains_p, z
        cdef bint disconnected, railed, flat, live
        cdef unsigned char bits, any_bits = 0
        cdef const double* inv_std
        cdef const double* pedestal
        cdef const double* reference
        cdef const double* slow_limit
        cdef const double* fast_limit
        cdef const unsigned char* frontal
        cdef double rail_uv = self.rail_uv
        cdef const double* x
        cdef const double* cs = &self.slow_cos[0, 0]
        cdef const double* sn = &self.slow_sin[0, 0]
        cdef double acc_re[MAX_SLOW]
        cdef double acc_im[MAX_SLOW]
        cdef double s0, s1, s2, s3
        cdef const double* c4
        cdef const double* n4
        if ring.shape[0] != 3 * n or ring.shape[1] != w:
            raise ValueError(f"ring must be ({3 * n}, {w}), got ({ring.shape[0]}, {ring.shape[1]})")
        if model_out.shape[0] != w or model_out.shape[1] != n or flags_out.shape[0] != n:
            raise ValueError(f"model_out must be ({w}, {n}) and flags_out ({n},)")
        if not self.ready:
            raise ValueError("set_stream() must give the stream's figures before run()")
        inv_std = &self.inv_std[0]
        pedestal = &self.pedestal[0]
        reference = &self.reference[0]
        slow_limit = &self.slow_limit[0]
        fast_limit = &self.fast_limit[0]
        frontal = &self.frontal[0]
        with nogil:
            self._power_all(ring)
            self._band_sums()
            for c in range(n):
                # Filtered: mean, largest deflection from it, power by band, the slow wave.
                x = &ring[c, 0]
                mean = _sum(x, w) / w
                d = _max_abs(x, w, -mean)
                self.means[c] = mean
                self.devs[c] = d
                if d > max_uv:
                    max_uv = d
                if d * inv_std[c] > scale:
                    scale = d * inv_std[c]
                line_p = self.line_sum[c]
                ac_p = self.ac_sum[c]
                fast_p = self.fast_sum[c]
                # The slow bins' DFT, all bins in one pass over the window (independent sums),
                # then the wave they make: re and -im are each bin's DFT, added back as a cosine.
                for k in range(n_slow):
                    acc_re[k] = _dot(x, cs + k * w, w)
                    acc_im[k] = _dot(x, sn + k * w, w)
                for k in range(n_slow):
                    acc_re[k] *= self.slow_weight[k]
                    acc_im[k] *= self.slow_weight[k]
                # Four samples of the wave at a time, summed over the bins in registers (the
                # same sums in the same order as bin by bin through memory), their range kept.
                lo = hi = 0.0
                for t in range(0, w, 4):
                    s0 = s1 = s2 = s3 = 0.0
                    for k in range(n_slow):
                        re = acc_re[k]
                        im = acc_im[k]
                        c4 = cs + k * w + t
                        n4 = sn + k * w + t
                        s0 += re * c4[0] + im * n4[0]
                        s1 += re * c4[1] + im * n4[1]
                        s2 += re * c4[2] + im * n4[2]
                        s3 += re * c4[3] + im * n4[3]
                    if t == 0:
                        lo = hi = s0
                    lo = _mn(_mn(lo, s0), _mn(s1, _mn(s2, s3)))
                    hi = _mx(_mx(hi, s0), _mx(s1, _mx(s2, s3)))
                # Unfiltered: level, peak at the amplifier, spread, mains at the electrode.
                x = &ring[n + c, 0]
                mean = _sum(x, w) / w
                peak = _max_abs(x, w, pedestal[c])
                raw_std = sqrt(_sum_sq_dev(x, w, mean) / w)
                level = mean + pedestal[c]
                mains_p = self.line_sum[n + c]
                v = sqrt(2.0 * mains_p) / w
                if v > mains_uv:
                    mains_uv = v
                _range(&ring[2 * n + c, 0], w, &gap_lo, &gap)
                disconnected = gap > self.gap_share
                railed = peak >= self.rail_share * rail_uv or (
                    raw_std < self.flat_std_uv and fabs(level - reference[c]) > self.stuck_uv
                )
                flat = raw_std < self.flat_std_uv and not railed and not disconnected
                live = not (flat or railed or disconnected)
                bits = 0
                if disconnected:
                    bits |= 1
                if flat:
                    bits |= 2
                if railed:
                    bits |= 4
                if live and line_p / (ac_p + 1e-12) > self.line_share:
                    bits |= 8
                if live and hi - lo > slow_limit[c]:
                    bits |= 16 if frontal[c] else 64
                if live and sqrt(2.0 * fast_p) / w > fast_limit[c]:
                    bits |= 32
                flags_out[c] = bits
                any_bits |= bits
            # The model input: z-scored, centred per electrode, scaled by the window's peak.
            if scale > 0.0:
                scale = 1.0 / scale
            else:
                scale = 1.0
            for c in range(n):
                x = &ring[c, 0]
                mean = self.means[c]
                z = inv_std[c] * scale
                for t in range(w):
                    model_out[t, c] = <float>((x[t] - mean) * z)
        return max_uv, mains_uv, any_bits != 0


def take_block(const double[:, :] x, const double[::1] pedestal, double[:, ::1] out,
               double[::1] last):
    """A block of the model's electrodes (n, samples) in µV, any strides, minus each
    electrode's `pedestal`, into `out` (n, samples); `last` takes its last column. False, and
    `last` left as it was, when a sample is not finite (the caller then takes the careful
    path), or when the shapes do not fit."""
    cdef Py_ssize_t n = x.shape[0], w = x.shape[1], c, t
    cdef double v, p
    if (w < 1 or pedestal.shape[0] != n or last.shape[0] != n or out.shape[0] != n
            or out.shape[1] != w):
        return False
    with nogil:
        for c in range(n):
            p = pedestal[c]
            for t in range(w):
                v = x[c, t]
                if not isfinite(v):
                    with gil:
                        return False
                out[c, t] = v - p
        for c in range(n):
            last[c] = x[c, w - 1]
    return True
