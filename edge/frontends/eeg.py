"""The EEG front end: a headset's raw channels at any rate -> the windows an EEG bundle's model takes.

One module serves the device, training and int8 calibration (`window_inputs`), so they cannot
drift apart:

    source channels -> the model's electrodes, by name -> microvolts -> hold NaN gaps
        -> resample to spec.rate_hz -> the spec's stateful filters (e.g. a 1-45 Hz band-pass)
        and a mains notch -> baseline statistics (a calibration phase after the filters have
        settled, or stored per user) -> z-score -> the last `window_s` every `hop_s`
        -> per-window centring and max-abs scaling -> model input (1, 1, samples, electrodes)

Per channel and window it also says what is wrong with the signal, so a bad window is flagged
rather than silently scored:

- ``disconnected``: the source delivered no value (NaN) for some of the window's samples;
- ``flat``: under 0.5 µV standard deviation (an electrode off the skin, a dead input);
- ``railed``: at the amplifier's rail (``rail_uv``), or stuck at a level more than 1,000 µV
  from the channel's baseline;
- ``line_noise``: over a third of the filtered window's power within 2 Hz of 50 or 60 Hz
  (mains the notch did not take out: none asked for, or the other country's);
- ``blink``: on a frontal electrode (Fp, AF, F), a slow (0.5-4 Hz) deflection larger than
  its limit peak to peak (eye blinks and eye movements);
- ``movement``: the same on any other electrode (head or cable movement, electrode pops: an eye
  blink hardly reaches the back of the head);
- ``muscle``: more RMS above 20 Hz (outside the mains bands) than its limit (jaw clenches,
  frowns).

Limits per electrode, from the calibration as well as absolute: the slow deflection's limit is
2.5 times the electrode's median over the calibration's 1 s windows, at least 100 µV and at
most 250 µV; the muscle limit 2.5 times its calibration median, at least 15 µV and at most
60 µV. So an electrode with steady muscle tone at rest (a Muse's AF8 under a headband) is held
to its own level, a clench still stands out, and a calibration full of artefacts cannot lift a
limit past the ceiling. Without calibration windows (a stored baseline from an older version,
a calibration under one window) the floors apply.

Figures: ``max_uv``, the largest filtered deflection, and ``mains_uv``, the worst electrode's
50/60 Hz RMS before any filter (high-impedance contacts pick mains up; the notch removes it
from what the model sees, so it is reported, not flagged).

The floors are the conventional thresholds for scalp EEG in microvolts. Every number above lives
in one frozen `QualityThresholds` (`QUALITY` by default), which the front end hands to the kernel.

`EegFrontEnd.quality` computes the flags with NumPy and is their specification; where the
window is a power of two long (128 samples at 128 Hz), a compiled kernel
(`edge.dsp._eeg_window`) makes the model input and the same flags in one pass, and a test holds
the two together.

Thread safety: a front end holds one stream's state; feed it from one thread.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.units import unit_scale
from edge.dsp import Resampler, SosFilterBank, stored_sos
from edge.dsp._eeg_window import FLAG_BITS, EegWindowKernel, take_block
from edge.errors import ConfigError, InputError
from edge.runtime.specs import EegSpec, electrode_key

FLAGS = ("disconnected", "flat", "railed", "line_noise", "blink", "muscle", "movement")


@dataclass(frozen=True)
class QualityThresholds:
    """Every number the quality flags are decided by: the NumPy specification
    (`EegFrontEnd.quality`) and the compiled kernel (`edge.dsp._eeg_window`) both receive this
    one object, so the two cannot disagree."""

    #: A window is ``disconnected`` where over this share of a sample came from a NaN gap.
    gap_share: float = 0.01
    #: ``flat`` under this standard deviation (µV); also the least std a z-score divides by.
    flat_std_uv: float = 0.5
    #: ``railed`` at this share of the amplifier's rail, or when flat and this far (µV) from
    #: the calibrated level (stuck).
    rail_share: float = 0.95
    stuck_uv: float = 1000.0
    #: ``line_noise`` when over this share of the power from `ac_from_hz` up lies within
    #: `mains_width_hz` of a mains frequency.
    line_share: float = 1.0 / 3.0
    mains_hz: tuple[float, ...] = (50.0, 60.0)
    mains_width_hz: float = 2.0
    ac_from_hz: float = 0.5
    #: The slow wave (blinks, movement): its band (Hz) and its peak-to-peak limits (µV):
    #: floor, ceiling.
    slow_band_hz: tuple[float, float] = (0.5, 4.0)
    slow_uv: tuple[float, float] = (100.0, 250.0)
    #: ``muscle``: RMS above this frequency (outside the mains bands), limits (µV) likewise.
    muscle_from_hz: float = 20.0
    muscle_uv: tuple[float, float] = (15.0, 60.0)
    #: Limits are this many times the electrode's calibration median (between floor and
    #: ceiling).
    relative: float = 2.5

    def bins(self, window: int, rate_hz: float) -> dict[str, np.ndarray]:
        """Boolean masks over the rfft bins of a `window`-sample window at `rate_hz`: the mains
        bands (``line``), the whole band (``ac``), above the muscle frequency outside the mains
        (``fast``) and the slow band (``slow``)."""
        f = np.fft.rfftfreq(window, 1.0 / rate_hz)
        line = np.zeros(f.size, dtype=bool)
        for mains in self.mains_hz:
            line |= np.abs(f - mains) <= self.mains_width_hz
        lo, hi = self.slow_band_hz
        return {
            "line": line,
            "ac": f >= self.ac_from_hz,
            "fast": (f > self.muscle_from_hz) & ~line,
            "slow": (f >= lo) & (f <= hi),
        }


#: The thresholds every front end uses unless given others.
QUALITY = QualityThresholds()
#: Electrodes where a slow deflection is an eye blink: prefrontal, anterior-frontal, frontal.
FRONTAL = ("FP", "AF", "F")


def is_frontal(name: str) -> bool:
    """Whether a 10-20 electrode sits over the forehead (Fp1, AF7, F3, Fz...; not FC5 or FT7)."""
    letters = name.strip().rstrip("0123456789zZ").upper()
    return letters in FRONTAL


#: The rail of an OpenBCI Cyton at gain 24 (4.5 V / 24), in microvolts.
CYTON_RAIL_UV = 187_500.0
#: Seconds of filter output dropped at the start of a stream (the band-pass's settling).
SETTLE_S = 2.0


def chain_sos(names: Sequence[str], rate_hz: int, mains_hz: int | None = None) -> np.ndarray | None:
    """The stored designs `names` (and a mains notch) as one SOS cascade; None when empty."""
    parts = [stored_sos(n, rate_hz) for n in names]
    if mains_hz is not None:
        if mains_hz not in (50, 60):
            raise ConfigError(f"mains must be 50 or 60 Hz, got {mains_hz}")
        parts.append(stored_sos(f"notch_{mains_hz}", rate_hz))
    return np.concatenate(parts) if parts else None


def filter_trial(
    x: np.ndarray, filters: Sequence[str], rate_hz: int, mains_hz: int | None
) -> np.ndarray:
    """(samples, electrodes) at `rate_hz` through a front end's `filters` and the mains notch,
    as one stream (what training uses, so that it sees what the device computes)."""
    sos = chain_sos(filters, rate_hz, mains_hz)
    if sos is None:
        return np.asarray(x)
    x = np.asarray(x, dtype=np.float64)
    bank = SosFilterBank(sos, x.shape[1])
    # Start from the first sample's level so the high-pass does not ring from a step.
    return (bank.process((x - x[:1]).T)[0].T).astype(np.float32)


def window_inputs(x: np.ndarray) -> np.ndarray:
    """Per-window centring and max-abs scaling of (..., samples, electrodes) z-scored EEG.

    Each electrode's window mean is removed (a headset's DC drift after calibration is not a
    brain signal), then the whole window is divided by its largest |value|, so the model sees
    values in [-1, 1] whatever the user's amplitude. A per-trial max-abs scaling (DREAMER's)
    before this cancels out, so training on the paper's preprocessing gives the device's input.
    """
    x = np.asarray(x, dtype=np.float32)
    x = x - x.mean(axis=-2, keepdims=True)
    peak = np.abs(x).max(axis=(-2, -1), keepdims=True)
    return x / np.where(peak > 0, peak, 1.0)


def match_channels(source: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Index of each wanted electrode among the source's channels (names compare as
    `electrode_key`: without case).

    Missing electrodes are an `InputError` naming them; extra source channels are ignored.
    """
    lower = {}
    for i, name in enumerate(source):
        lower.setdefault(electrode_key(name), i)
    missing = [w for w in wanted if electrode_key(w) not in lower]
    if missing:
        raise InputError(
            f"the model needs electrode(s) {', '.join(missing)}, which the source does not have "
            f"(it has {', '.join(source)}); name the source's channels in order "
            f"(--channels) if they are these electrodes under other names"
        )
    return [lower[electrode_key(w)] for w in wanted]


class Baseline:
    """A user's resting calibration per electrode: the raw level (µV, the headset's DC offset)
    and the standard deviation of the filtered signal (µV), which the z-score divides by."""

    def __init__(
        self,
        channels: Sequence[str],
        level: np.ndarray,
        std: np.ndarray,
        seconds: float,
        slow_uv: np.ndarray | None = None,
        fast_uv: np.ndarray | None = None,
    ) -> None:
        """`slow_uv`, `fast_uv`: each electrode's median 0.5-4 Hz peak-to-peak and RMS above
        20 Hz over the calibration's 1 s windows (zeros when unknown: the flags' floors apply)."""
        self.channels = tuple(channels)
        self.level = np.asarray(level, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.seconds = float(seconds)
        zeros = np.zeros(len(self.channels))
        self.slow_uv = zeros if slow_uv is None else np.asarray(slow_uv, dtype=np.float64)
        self.fast_uv = zeros if fast_uv is None else np.asarray(fast_uv, dtype=np.float64)
        shape = (len(self.channels),)
        if any(a.shape != shape for a in (self.level, self.std, self.slow_uv, self.fast_uv)):
            raise ConfigError(
                f"a baseline needs one level and one std per electrode ({len(self.channels)})"
            )
        if not all(
            np.all(np.isfinite(a)) for a in (self.level, self.std, self.slow_uv, self.fast_uv)
        ):
            raise ConfigError("a baseline's levels and standard deviations must be finite")

    def to_dict(self) -> dict:
        return {
            "kind": "eeg-baseline",
            "channels": list(self.channels),
            "unit": "uV",
            "level": [round(float(v), 4) for v in self.level],
            "std": [round(float(v), 4) for v in self.std],
            "slow_uv": [round(float(v), 4) for v in self.slow_uv],
            "fast_uv": [round(float(v), 4) for v in self.fast_uv],
            "seconds": self.seconds,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, channels: Sequence[str]) -> Baseline:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise KeyError("channels")
            stored, level, std = data["channels"], data["level"], data["std"]
        except FileNotFoundError:
            raise ConfigError(f"baseline file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path} is not an EEG baseline file: not JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}); give a file that run eeg --save-baseline wrote"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"{path} is not an EEG baseline file: not text; give a file that run eeg "
                "--save-baseline wrote"
            ) from None
        except KeyError as exc:
            raise ConfigError(
                f"{path} is not an EEG baseline file: it has no {exc} entry; give a file that "
                "run eeg --save-baseline wrote"
            ) from None
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path} is not an EEG baseline file ({exc})") from None
        if [c.lower() for c in stored] != [c.lower() for c in channels]:
            raise ConfigError(
                f"{path} was calibrated for electrodes {stored}; this model takes {list(channels)}"
            )
        extra = {k: np.asarray(data[k]) for k in ("slow_uv", "fast_uv") if k in data}
        try:
            return cls(
                channels, np.asarray(level), np.asarray(std), data.get("seconds", 0.0), **extra
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path} is not an EEG baseline file ({exc})") from None


class EegFrontEnd:
    """Raw (source channels, samples) blocks in; model windows and their quality out."""

    def __init__(
        self,
        spec: EegSpec,
        input_rate_hz: float,
        input_channels: Sequence[str],
        unit: str = "uV",
        hop_s: float | None = None,
        calibration_s: float | None = None,
        baseline: Baseline | None = None,
        rail_uv: float = CYTON_RAIL_UV,
        mains_hz: int | None = 50,
        compiled: bool = True,
        thresholds: QualityThresholds = QUALITY,
    ) -> None:
        """`compiled=False` makes every window on the NumPy path (`quality`, `window_inputs`),
        the specification the compiled kernel is tested against."""
        scale = unit_scale(unit, "EEG front end")
        if int(input_rate_hz) != input_rate_hz or input_rate_hz <= 0:
            raise ConfigError(f"EEG input rate must be a whole number of Hz, got {input_rate_hz}")
        self.spec = spec
        self.channels = tuple(spec.channels)
        self.index = np.array(match_channels(input_channels, self.channels))
        # The source's electrodes are the model's, in its order, in µV: no selection or scaling.
        self._identity = bool(
            scale == 1.0
            and len(input_channels) == len(self.channels)
            and np.array_equal(self.index, np.arange(len(self.channels)))
        )
        self.input_rate_hz = int(input_rate_hz)
        self.scale = scale
        self.thresholds = thresholds
        self.window = spec.window_samples
        self.hop_s = spec.hop_s if hop_s is None else float(hop_s)
        self.hop = round(self.hop_s * spec.rate_hz)
        if self.hop < 1:
            raise ConfigError(f"hop_s={self.hop_s} is under one sample at {spec.rate_hz} Hz")
        self.calibration_s = spec.baseline_s if calibration_s is None else float(calibration_s)
        self._calib_need = round(self.calibration_s * spec.rate_hz)
        if baseline is None and self._calib_need < 2:
            raise ConfigError(
                "the EEG model z-scores against a baseline: give a calibration of at least "
                f"{2 / spec.rate_hz:.3f} s or a stored baseline"
            )
        self.rail_uv = float(rail_uv)
        self._stored = baseline
        n = len(self.channels)
        # The electrodes plus one indicator per electrode (1 where the source gave NaN), both
        # through the same resampler so a gap lands on exactly the window samples it touched.
        self._resampler = Resampler(self.input_rate_hz, spec.rate_hz, 2 * n)
        self.mains_hz = mains_hz
        sos = chain_sos(spec.filters, spec.rate_hz, mains_hz)
        self._filters = None if sos is None else SosFilterBank(sos, n)
        self.settle = round(SETTLE_S * spec.rate_hz) if self._filters is not None else 0
        # Rows: filtered (the model's) µV, unfiltered µV minus the pedestal, gap indicators;
        # oldest sample first.
        self._ring = np.zeros((3 * n, self.window))
        bins = thresholds.bins(self.window, spec.rate_hz)
        self._slow = bins["slow"].astype(np.float64)
        self._band_masks = np.stack([bins["line"], bins["ac"], bins["fast"]], axis=1).astype(
            np.float64
        )
        k = np.flatnonzero(bins["line"])
        t = np.arange(self.window)[:, None]
        arg = 2 * np.pi * k[None, :] * t / self.window
        self._mains_basis = np.concatenate([np.cos(arg), np.sin(arg)], axis=1)
        self._frontal = np.array([is_frontal(c) for c in self.channels], dtype=np.uint8)
        self._kernel: EegWindowKernel | None = None
        self._flags = np.empty(n, dtype=np.uint8)
        # Per-block buffers (kept while blocks keep their length): the block minus the
        # pedestal, the filters' output. Each block's values are copied out of them.
        self._block_buf: np.ndarray | None = None
        self._filter_buf: np.ndarray | None = None
        if compiled and self.window >= 4 and self.window & (self.window - 1) == 0:
            self._kernel = EegWindowKernel(n, self.window, spec.rate_hz, thresholds)
        self.reset()

    # --- the stream ---------------------------------------------------------------------------
    def reset(self) -> None:
        self._resampler.reset()
        if self._filters is not None:
            self._filters.reset()
        self._settled = 0
        self._ring[:] = 0.0
        # Samples to write before the ring's gap rows are all zero again (0: they are).
        self._gap_dirty = 0
        self._filled = 0
        self._since = 0
        self.samples_out = 0  # resampled samples so far
        self._last = np.zeros(len(self.channels))
        self._calib: list[np.ndarray] = []
        self._calib_n = 0
        self.baseline = self._stored
        self.nonfinite = 0
        self._pedestal: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self.slow_limit, self.fast_limit = self.limits(None)
        self._kernel_stale = True  # the kernel's per-stream figures are set before its next run
        if self._stored is not None:
            # A stored baseline's level is taken off from the first sample on.
            self._pedestal = self._stored.level.copy()
            self._inv_std = self._inverse(self._stored.std)
            self.slow_limit, self.fast_limit = self.limits(self._stored)

    def limits(self, baseline: Baseline | None) -> tuple[np.ndarray, np.ndarray]:
        """Each electrode's limits (µV) on the slow peak-to-peak and the RMS above 20 Hz:
        `thresholds.relative` times its calibration figure, between the floor and the ceiling
        (the floors without a baseline)."""
        t = self.thresholds
        if baseline is None:
            n = len(self.channels)
            return np.full(n, t.slow_uv[0]), np.full(n, t.muscle_uv[0])
        slow = np.clip(t.relative * baseline.slow_uv, *t.slow_uv)
        fast = np.clip(t.relative * baseline.fast_uv, *t.muscle_uv)
        return slow, fast

    @property
    def calibrating(self) -> bool:
        return self._inv_std is None

    @property
    def delay_s(self) -> float:
        return self._resampler.delay_s

    def feed(self, block: np.ndarray) -> list[tuple[int, np.ndarray, dict]]:
        """Consume (source channels, samples); return the windows completed: (end position in
        resampled samples, model input (1, 1, samples, electrodes), quality)."""
        if (
            self._identity
            and self._pedestal is not None
            and type(block) is np.ndarray
            and block.dtype == np.float64
            and block.ndim == 2
            and self._resampler.passthrough
            and not self._resampler.flushed
        ):
            # The usual block: the model's electrodes in µV at the model's rate, after the
            # first. Finiteness, the pedestal and the last column in one compiled pass into a
            # buffer kept per block length (the steps below give the same values).
            buf = self._block_buf
            if buf is None or buf.shape[1] != block.shape[1]:
                buf = self._block_buf = np.empty((len(self.channels), block.shape[1]))
            if take_block(block, self._pedestal, buf, self._last):
                return self._consume(buf, None)
        x = np.asarray(block, dtype=np.float64)
        if not self._identity:
            x = x[self.index] * self.scale
        # (x is only read below: the caller's block is never changed.)
        # One sum says whether every sample is finite (NaN and Inf propagate; a finite sum
        # that overflows only sends the block the careful way).
        finite = math.isfinite(x.sum())
        bad = None
        if not finite:
            bad = ~np.isfinite(x)
            self.nonfinite += int(bad.sum())
            x = self._hold(x, bad)
        elif x.shape[1]:
            self._last = x[:, -1].copy()
        if self._pedestal is None and x.shape[1]:
            # Consumer headsets sit thousands of µV off zero; taking the first sample's level
            # off keeps the resampler's and filters' start-up transients small.
            self._pedestal = x[:, 0].copy()
            self._kernel_stale = True
        if self._pedestal is not None:
            x = x - self._pedestal[:, None]
        if not self._resampler.passthrough or self._resampler.flushed:
            gaps = np.zeros(x.shape) if bad is None else bad.astype(np.float64)
            y = self._resampler.process(np.concatenate([x, gaps]))
            n = len(self.channels)
            return self._consume(y[:n], y[n:])
        # At equal rates the resampler would return a copy (finite: held above); a block
        # without gaps has all-zero indicators, which the ring writes without an array.
        return self._consume(
            np.ascontiguousarray(x), None if bad is None else bad.astype(np.float64)
        )

    def finish(self) -> list[tuple[int, np.ndarray, dict]]:
        """End of stream: the resampler's last samples (a window that is due is still made)."""
        y = self._resampler.flush()
        n = len(self.channels)
        return self._consume(y[:n], y[n:])

    # --- internals ----------------------------------------------------------------------------
    def _hold(self, x: np.ndarray, bad: np.ndarray) -> np.ndarray:
        """NaN/Inf samples take the channel's last good value (a gap, not a step to zero)."""
        x = x.copy()
        for c in np.flatnonzero(bad.any(axis=1)):
            row, last = x[c], self._last[c]
            for i in range(row.size):
                if bad[c, i]:
                    row[i] = last
                else:
                    last = row[i]
            self._last[c] = last
        good_end = ~bad[:, -1]
        self._last[good_end] = x[good_end, -1]
        return x

    def _inverse(self, std: np.ndarray) -> np.ndarray:
        # A flat baseline channel (dead electrode) is divided by the flat limit, not by zero;
        # its windows are flagged flat anyway.
        return (1.0 / np.maximum(std, self.thresholds.flat_std_uv))[:, None]

    def _consume(
        self, x: np.ndarray, gaps: np.ndarray | None
    ) -> list[tuple[int, np.ndarray, dict]]:
        """x: the resampled electrodes (finite), gaps: their gap indicators (None: all zero)."""
        out: list[tuple[int, np.ndarray, dict]] = []
        n = len(self.channels)
        # f: the electrodes filtered. The ring's rows: f, then x, then the gap indicators.
        if self._filters is not None:
            fbuf = self._filter_buf
            if fbuf is None or fbuf.shape[2] != x.shape[1]:
                fbuf = self._filter_buf = np.empty((1, n, x.shape[1]))
            f = self._filters.process(np.ascontiguousarray(x), fbuf, trusted=True)[0]
        else:
            f = x
        start, total = 0, x.shape[1]
        if self._settled < self.settle:
            skip = min(self.settle - self._settled, total)
            self._settled += skip
            self.samples_out += skip
            start = skip
        while start < total:
            if self._inv_std is None:
                take = min(self._calib_need - self._calib_n, total - start)
                part = slice(start, start + take)
                g = np.zeros((n, take)) if gaps is None else gaps[:, part]
                self._calib.append(np.concatenate([f[:, part], x[:, part], g]))
                self._calib_n += take
                start += take
                self.samples_out += take
                if self._calib_n >= self._calib_need:
                    self._calibrate()
                continue
            take = min(self.hop - self._since, total - start)
            ring = self._ring
            if take < self.window:
                ring[:, :-take] = ring[:, take:]
            ring[:n, -take:] = f[:, start : start + take]
            ring[n : 2 * n, -take:] = x[:, start : start + take]
            if gaps is not None:
                ring[2 * n :, -take:] = gaps[:, start : start + take]
                self._gap_dirty = self.window
            elif self._gap_dirty:
                ring[2 * n :, -take:] = 0.0
                self._gap_dirty = max(self._gap_dirty - take, 0)
            self._filled = min(self.window, self._filled + take)
            self._since += take
            start += take
            self.samples_out += take
            if self._since >= self.hop:
                self._since = 0
                if self._filled >= self.window:
                    out.append((self.samples_out, *self._window()))
        return out

    def _calibrate(self) -> None:
        n = len(self.channels)
        x = np.concatenate(self._calib, axis=1)
        self._calib = []
        level = x[n : 2 * n].mean(axis=1) + self._pedestal
        std = x[:n].std(axis=1)
        # The flags' figures over the calibration's whole windows, median per electrode.
        k = x.shape[1] // self.window
        slow = fast = None
        if k:
            chunks = x[:n, : k * self.window].reshape(n, k, self.window)
            _, fast_k, slow_k, _ = self._figures(chunks)
            slow, fast = np.median(slow_k, axis=1), np.median(fast_k, axis=1)
        self.baseline = Baseline(
            self.channels, level, std, x.shape[1] / self.spec.rate_hz, slow, fast
        )
        self._inv_std = self._inverse(std)
        self.slow_limit, self.fast_limit = self.limits(self.baseline)
        self._kernel_stale = True

    def _window(self) -> tuple[np.ndarray, dict]:
        n = len(self.channels)
        ring = self._ring
        if self._kernel is None:
            # Any constant the filters leave is removed by the per-window centring.
            model = window_inputs((ring[:n] * self._inv_std).T)[None, None]
            return model, self.quality(ring[:n], ring[n : 2 * n], ring[2 * n :])
        if self._kernel_stale:
            self._kernel.set_stream(
                self._inv_std[:, 0],
                self._pedestal,
                self.baseline.level if self.baseline is not None else np.full(n, np.nan),
                self.rail_uv,
                self.slow_limit,
                self.fast_limit,
                self._frontal,
            )
            self._kernel_stale = False
        model = np.empty((1, 1, self.window, n), dtype=np.float32)
        flags = self._flags
        max_uv, mains_uv, flagged = self._kernel.run(ring, model[0, 0], flags)
        if flagged:
            q: dict = {
                name: [self.channels[i] for i in np.flatnonzero(flags & FLAG_BITS[name])]
                for name in FLAGS
            }
            q["ok"] = False
        else:
            q = {name: [] for name in FLAGS}
            q["ok"] = True
        q["max_uv"] = round(float(max_uv), 1)
        q["mains_uv"] = round(float(mains_uv), 1)
        return model, q

    def _figures(self, filtered: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per window of (..., window) filtered µV: the share of power at the mains, the RMS
        above 20 Hz, the 0.5-4 Hz wave's peak-to-peak, and the spectrum."""
        # One spectrum of the filtered window serves every band figure (none uses the DC bin).
        spec = np.fft.rfft(filtered, axis=-1)
        power = spec.real**2 + spec.imag**2
        bands = power @ self._band_masks
        line_p, ac_p, fast_p = bands[..., 0], bands[..., 1], bands[..., 2]
        # Mains left in what the model sees (none was notched, or the wrong one).
        line = line_p / (ac_p + 1e-12)
        slow = np.fft.irfft(spec * self._slow, self.window, axis=-1)
        # Parseval: the power of a band of the one-sided spectrum as an RMS in microvolts.
        fast_rms = np.sqrt(2.0 * fast_p) / self.window
        return line, fast_rms, slow.max(axis=-1) - slow.min(axis=-1), spec

    def quality(self, filtered: np.ndarray, raw: np.ndarray, gaps: np.ndarray) -> dict:
        """Per-flag lists of the electrodes that show it, and `ok` when none does."""
        level = raw.mean(axis=1) + self._pedestal  # absolute µV
        peak = np.abs(raw + self._pedestal[:, None]).max(axis=1)
        raw_std = raw.std(axis=1)
        line, fast_rms, slow_p2p, _ = self._figures(filtered)
        frontal = self._frontal.astype(bool)
        reference = self.baseline.level if self.baseline is not None else level
        t = self.thresholds
        disconnected = gaps.max(axis=1) > t.gap_share
        railed = (peak >= t.rail_share * self.rail_uv) | (
            (raw_std < t.flat_std_uv) & (np.abs(level - reference) > t.stuck_uv)
        )
        flat = (raw_std < t.flat_std_uv) & ~railed & ~disconnected
        live = ~(flat | railed | disconnected)
        slow = live & (slow_p2p > self.slow_limit)
        flags = (
            disconnected,
            flat,
            railed,
            live & (line > t.line_share),
            slow & frontal,
            live & (fast_rms > self.fast_limit),
            slow & ~frontal,
        )
        names = self.channels
        q: dict = {
            name: [names[i] for i in np.flatnonzero(f)] if f.any() else []
            for name, f in zip(FLAGS, flags, strict=True)
        }
        q["ok"] = not any(f.any() for f in flags)
        q["max_uv"] = round(float(np.abs(filtered - filtered.mean(axis=1)[:, None]).max()), 1)
        # Mains at the electrodes before any filter (a contact-quality figure: high-impedance
        # electrodes pick it up), the worst electrode's RMS in µV: the mains bins of the raw
        # window's DFT, as one product with their cosines and sines.
        mains = raw @ self._mains_basis
        q["mains_uv"] = round(float(np.sqrt(2.0 * (mains**2).sum(axis=1)).max() / self.window), 1)
        return q
