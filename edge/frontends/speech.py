"""The speech front end: raw audio at any rate -> the log-mel windows a speech bundle's model takes.

One module serves the device, training and int8 calibration, so the three cannot drift apart:

    samples (any rate) -> resample to spec.sample_rate -> DC blocker -> log-mel frames
        -> the last `window_frames` frames -> window normalisation -> model input

- the device pipeline streams: `feed(block)` then `pull(limit)` per audio block, frames land in
  a ring (the limit lets it stop at the frame where a window is due);
- training calls `features(samples, rate, spec)` on a whole file or augmented segment;
- calibration calls `windows(...)` over those features.

`features` of a file equals, bit for bit, the frames the device computes streaming the same
file in blocks of any size (resampling, DC blocker and log-mel are all chunk-invariant).

At the spec's own sample rate, `feed`/`pull` allocate nothing: one compiled call (`_speech.pyx`)
converts, cleans NaN/Inf, filters and frames the block into the ring. Other input rates add a
streaming resampler, which allocates its output per block.

Thread safety: a front end holds one stream's state; feed it from one thread.
"""

from __future__ import annotations

import math

import numpy as np

from edge.dsp import Resampler, checks
from edge.dsp._speech import SpeechFrontKernel
from edge.dsp.logmel import make_kernel, normalise_windows
from edge.dsp.resample import resample_factors
from edge.errors import InputError
from edge.runtime.specs import LogMelSpec

#: A stream shorter than a full window is still scored once at its end if it gave this many frames.
MIN_FRAMES = 30
#: The voice gate: a frame is speech when its energy (ln of summed mel power) stands this far above
#: the adaptive noise floor (10 dB) and above an absolute floor (about 53 dB below a full-scale
#: sine); the floor rises by at most VAD_RISE per frame (about 3 dB per second at a 10 ms hop).
VAD_MARGIN = math.log(10.0)
VAD_RISE = 0.007
ABSOLUTE_FLOOR = math.log(1e-3)


#: `not_speech`: speech changes the shape of its spectrum from phone to phone, a noise burst or a
#: tone does not. `spectral_change` of a window below this is not speech. On 3,749 windows (at
#: least 30% voiced) of a sample of the shared corpora (EmoDB, RAVDESS, nEMO) the lowest was 0.48,
#: the 0.1% quantile 0.53; pink, white and brown noise bursts 0.26-0.47, tone bursts 0.00-0.16.
#: Through the pipeline on every recording (scripts/speech_quality.py) it holds 7 of the 23,166
#: windows the voice gate lets through (all RAVDESS), and 8-9 of 9 windows of each kind of burst.
NOT_SPEECH_CHANGE = 0.5
#: A window with no speech frames over a loud background whose spectrum moves less than this is
#: a steady tone (`not_speech`), not speech drowned in noise (`noisy`).
STEADY_CHANGE = 0.1
#: `spectral_change` judges a window on at least this many speech frames inside speech runs.
MIN_CHANGE_FRAMES = 10


def spectral_change(frames: np.ndarray, voiced: np.ndarray | None = None) -> float:
    """How much the shape of the upper mel bands moves over a window's speech frames (NaN when
    fewer than MIN_CHANGE_FRAMES can be judged).

    Frames (T, n_mels) of log-mel; `voiced` (T,) the voice gate's flags, or None for every frame.
    Only frames inside speech runs (two speech frames either side) count, so the edges of a
    burst do not pass for a change of sound. The upper 60% of the mel bands (there each band sums
    enough FFT bins for noise to read steady) are taken relative to their mean per frame, smoothed over 3 frames; the answer is their standard
    deviation over time, averaged over the bands (natural-log units).
    """
    if voiced is None:
        inner = np.ones(len(frames), bool)
    else:
        inner = np.asarray(voiced, bool).copy()
        inner[1:] &= voiced[:-1]
        inner[2:] &= voiced[:-2]
        inner[:-1] &= voiced[1:]
        inner[:-2] &= voiced[2:]
    if int(inner.sum()) < MIN_CHANGE_FRAMES:
        return math.nan
    high = frames[inner, int(0.4 * frames.shape[1]) :].astype(np.float64)
    shape = high - high.mean(axis=1, keepdims=True)
    run = np.cumsum(shape, axis=0)
    smooth = (run[3:] - run[:-3]) / 3.0
    return float(smooth.std(axis=0).mean())


class SpeechFrontEnd:
    """Streaming speech features for one stream at `input_rate_hz`.

    ``ring_frames`` rows of frames are kept (default: one model window); `frames` and `energy`
    are the ring itself: frame i sits in row i % ring_frames. ``nonfinite="replace"`` turns
    NaN/Inf samples into 0 and counts them; ``"raise"`` refuses such a block untouched.
    """

    def __init__(
        self,
        spec: LogMelSpec,
        input_rate_hz: int,
        ring_frames: int | None = None,
        nonfinite: str = "replace",
    ) -> None:
        checks.check_policy(nonfinite)
        self.spec = spec
        self.config = spec.logmel()
        self.input_rate_hz = int(input_rate_hz)
        resample_factors(self.input_rate_hz, spec.sample_rate)  # a clear error for a bad rate
        self.nonfinite = nonfinite
        self._resampler = (
            None
            if self.input_rate_hz == spec.sample_rate
            else Resampler(self.input_rate_hz, spec.sample_rate, nonfinite=nonfinite)
        )
        self._kernel = SpeechFrontKernel(
            make_kernel(self.config), spec.dc_pole or 0.0, spec.dc_pole is not None
        )
        rows = int(ring_frames or spec.window_frames)
        self.frames = np.zeros((rows, self.config.n_mels), dtype=np.float32)
        self.energy = np.zeros(rows)
        self._kernel.bind(self.frames, self.energy)
        self._pending: np.ndarray | None = None
        self._pending_n = 0
        self._start = 0

    @property
    def ring_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def total_frames(self) -> int:
        """Frames produced since the stream began (or since reset)."""
        return self._kernel.total

    @property
    def frame_count(self) -> float:
        """`total_frames` as a float: reading it allocates nothing (for per-block paths)."""
        return self._kernel.total_frames

    def set_vad(self, frames: int, margin: float, rise: float, absolute_floor: float) -> None:
        """Gate each frame for voice activity (see `_speech.pyx`); flags kept for `frames` frames."""
        self._kernel.set_vad(frames, margin, rise, absolute_floor)

    @property
    def voiced_count(self) -> int:
        """Speech frames among the last `frames` (as given to `set_vad`)."""
        return self._kernel.voiced_count

    @property
    def noise_floor(self) -> float:
        """The voice gate's noise floor now (ln of summed mel power; NaN before any frame)."""
        return self._kernel.noise_floor

    def voiced_flags(self, n: int) -> np.ndarray:
        """The voice gate's flags for the last n frames (n <= the frames given to `set_vad`)."""
        return self._kernel.voiced_flags(n).astype(bool)

    def voiced_into(self, out: np.ndarray, n: int) -> int:
        """`voiced_flags(n)` written into `out` (C-contiguous uint8) with no allocation; returns
        how many were written."""
        return self._kernel.voiced_into(out, n)

    @property
    def measures_input(self) -> bool:
        """The level figures below are of the input samples (at the spec's rate); at other rates
        they are of the resampled signal, so the caller measures the input itself."""
        return self._resampler is None

    @property
    def peak(self) -> float:
        """Largest |sample| fed since `reset_levels` (NaN/Inf excluded)."""
        return self._kernel.peak

    @property
    def clipped(self) -> float:
        """Samples at or beyond the clip level (`set_clip_level`) since `reset_levels`."""
        return self._kernel.clipped

    @property
    def seen(self) -> float:
        """Samples fed to the kernel since `reset_levels`."""
        return self._kernel.seen

    def set_clip_level(self, level: float) -> None:
        self._kernel.set_clip_level(level)

    def reset_levels(self) -> None:
        self._kernel.reset_levels()

    def snr_db(self, n: int) -> float:
        """Mean energy of the speech frames among the last n over the noise floor, in dB."""
        return self._kernel.snr_db(n)

    @property
    def nonfinite_replaced(self) -> int:
        return self._kernel.replaced + (
            self._resampler.nonfinite_replaced if self._resampler else 0
        )

    def reset(self) -> None:
        self._kernel.reset()
        self._pending = None
        if self._resampler is not None:
            self._resampler.reset()

    def feed(self, samples: np.ndarray) -> None:
        """Queue one mono block (int16, or float in [-1, 1]); `pull` turns it into frames.

        At the spec's rate the block is read in place, not copied: keep it unchanged until `pull`
        returns 0. Other rates resample it here.
        """
        if self._resampler is not None:
            x = checks.audio_block(samples, "speech audio block")
            if x.dtype == np.int16:
                x = x.astype(np.float32) / np.float32(32768.0)
            x = self._resampler.process(x)
        else:
            x = samples
            if self.nonfinite == "raise":
                checks.finite(checks.audio_block(x, "speech audio block"), "raise", "audio block")
        self._pending = x
        self._pending_n = x.size
        self._start = 0

    def pull(self, limit: int = -1) -> int:
        """Frames completed from the queued block, at most `limit` (-1: all); 0 once it is used up.

        The new frames are the last ones in the ring: rows (total_frames - n + i) % ring_frames.
        """
        x = self._pending
        if x is None:
            return 0
        try:
            made = self._kernel.push(x, self._start, limit)
        except (TypeError, ValueError):
            # Not a contiguous mono int16/float32/float64 ndarray: name the problem, or convert.
            x = self._pending = checks.audio_block(x, "speech audio block")
            made = self._kernel.push(x, self._start, limit)
        self._start += self._kernel.consumed
        if self._start >= self._pending_n:
            self._pending = None
        return made

    def push(self, samples: np.ndarray) -> int:
        """`feed` then `pull` everything: the frames one block completed (the ring keeps the last)."""
        self.feed(samples)
        total = 0
        while made := self.pull():
            total += made
        return total

    def finish(self) -> None:
        """End of stream: queue the resampler's tail, for `pull` (nothing to do at the spec's rate).
        Pull what is still queued first."""
        if self._pending is not None:
            raise InputError("pull() the queued block before finish()")
        if self._resampler is not None:
            tail = self._resampler.flush()
            self._pending, self._pending_n, self._start = tail, tail.size, 0

    def flush(self) -> int:
        """`finish` and pull everything; returns the frames still completed."""
        total = 0
        while made := self.pull():
            total += made
        self.finish()
        while made := self.pull():
            total += made
        return total

    def window_into(self, out: np.ndarray) -> np.ndarray:
        """The last window_frames frames in time order, written into `out`: C-contiguous float32
        holding (window_frames, n_mels) values (any shape, such as the model's (1, 1, T, M)); a
        stream that has not filled a window repeats its last frame (as training pads)."""
        self._kernel.window_into(out, self.spec.window_frames)
        return out

    def normalize(self, windows: np.ndarray) -> np.ndarray:
        """Apply the spec's window normalisation in place to (..., window_frames, n_mels)."""
        return normalise_windows(windows, self.spec.window_norm, out=windows)


def n_frames_for(n_samples: int, input_rate_hz: int, spec: LogMelSpec) -> int:
    """Frames a whole signal of n_samples at input_rate_hz gives (resampler tail included)."""
    if input_rate_hz != spec.sample_rate:
        up, down = resample_factors(input_rate_hz, spec.sample_rate)
        n_samples = -(-n_samples * up // down)
    return spec.logmel().n_frames(n_samples)


def features(samples: np.ndarray, input_rate_hz: int, spec: LogMelSpec) -> np.ndarray:
    """(frames, n_mels) float32 log-mel of a whole mono signal: the frames the device streams."""
    x = checks.audio_block(samples, "signal")
    front = SpeechFrontEnd(
        spec, input_rate_hz, ring_frames=max(1, n_frames_for(x.shape[0], input_rate_hz, spec))
    )
    front.push(x)
    front.flush()
    return front.frames[: front.total_frames].copy()


def voiced_features(
    samples: np.ndarray, input_rate_hz: int, spec: LogMelSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, energy, voiced) of a whole signal: the device's frames, each frame's energy (ln of
    summed mel power) and the device's voice-gate flag, for offline evaluation."""
    x = checks.audio_block(samples, "signal")
    n = max(1, n_frames_for(x.shape[0], input_rate_hz, spec))
    front = SpeechFrontEnd(spec, input_rate_hz, ring_frames=n)
    front.set_vad(n, VAD_MARGIN, VAD_RISE, ABSOLUTE_FLOOR)
    front.push(x)
    front.flush()
    total = front.total_frames
    return front.frames[:total].copy(), front.energy[:total].copy(), front.voiced_flags(total)


def windows(frames: np.ndarray, spec: LogMelSpec, hop_frames: int) -> np.ndarray:
    """Model inputs (n, 1, window_frames, n_mels) from one feature map, normalised as on the device.

    Windows start every `hop_frames` frames; a map shorter than a window gives one window padded
    by repeating its last frame, as the device does for a short stream (none if it has fewer than
    `MIN_FRAMES` frames).
    """
    n = spec.window_frames
    if frames.ndim != 2 or frames.shape[1] != spec.n_mels:
        raise InputError(f"features must be (frames, {spec.n_mels}), got {frames.shape}")
    if len(frames) < n:
        if len(frames) < MIN_FRAMES:
            return np.zeros((0, 1, n, spec.n_mels), np.float32)
        frames = np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])
    starts = range(0, len(frames) - n + 1, max(1, hop_frames))
    out = np.stack([frames[s : s + n] for s in starts])[:, None].astype(np.float32)
    return normalise_windows(out, spec.window_norm, out=out)
