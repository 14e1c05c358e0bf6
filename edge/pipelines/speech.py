"""Speech pipeline: audio blocks of any size in, arousal/dominance/valence events out.

Per block: resample to the bundle's rate (if the input differs), remove DC (a first-order
high-pass at about 2.5 Hz, through the same SOS kernel as EEG), compute the streaming log-mel
into a preallocated buffer, push frames into a ring of the model's window (bounded state), and
gate by voice activity: a frame is speech when its energy stands 10 dB above an adaptive noise
floor and above an absolute floor. Every `update_s` the model runs on the last window if enough
of it is speech; its A/D/V are smoothed (exponential, weight `smoothing` on the newest) and an
`AffectEvent` is emitted with the speech ratio and the block's processing latency.
`process_block` suits an audio callback: state is fixed-size, and at the bundle's own rate the
only allocations per update are the runtime's outputs.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from edge.dsp import LogMelConfig, Resampler, SosFilterBank, StreamingLogMel, checks
from edge.dsp.logmel import subtract_window_mean
from edge.errors import BundleError, ConfigError
from edge.events import AffectEvent
from edge.runtime import Bundle
from edge.runtime.engines import open_engine

log = logging.getLogger(__name__)
_DC_BLOCKER = np.array([[1.0, -1.0, 0.0, 1.0, -0.999, 0.0]])
_LN_10DB = np.log(10.0)  # 10 dB in natural-log power units
#: Summed mel power below this (ln units) is never speech: about 53 dB below a full-scale sine (5.4).
_ABSOLUTE_FLOOR = float(np.log(1e-3))


class SpeechPipeline:
    def __init__(
        self,
        bundle: Bundle,
        input_rate_hz: int = 16000,
        engine: str | None = None,
        precision: str | None = None,
        threads: int = 1,
        update_s: float | None = None,
        smoothing: float = 0.6,
        min_speech_ratio: float = 0.3,
        nonfinite: str = "replace",
    ) -> None:
        m = bundle.manifest
        if m.modality != "speech" or m.front_end.get("kind") != "logmel":
            raise BundleError(
                f"{bundle.path}: a speech pipeline needs a speech bundle with a log-mel front end"
            )
        self.config = LogMelConfig.from_front_end(m.front_end)
        self.window_frames = int(m.front_end.get("window_frames", 100))
        norm = m.front_end.get("window_norm")
        if norm not in (None, "mean"):
            raise BundleError(
                f"{bundle.path}: unknown front_end.window_norm {norm!r}; this affect-edge knows 'mean'"
            )
        self._window_mean = norm == "mean"
        self.update_s = float(update_s or m.front_end.get("update_s", 0.5))
        if not 0.0 < smoothing <= 1.0 or not 0.0 <= min_speech_ratio <= 1.0 or self.update_s <= 0:
            raise ConfigError(
                "smoothing must be in (0, 1], min_speech_ratio in [0, 1], update_s > 0"
            )
        self.outputs = list(m.task.outputs)
        self.engine = open_engine(bundle, engine=engine, precision=precision, threads=threads)
        self.engine.warmup(3)
        self.input_rate_hz = int(input_rate_hz)
        self._resampler = (
            None
            if self.input_rate_hz == self.config.sample_rate
            else Resampler(self.input_rate_hz, self.config.sample_rate, nonfinite=nonfinite)
        )
        self._dc = SosFilterBank(_DC_BLOCKER, 1, nonfinite=nonfinite)
        self._logmel = StreamingLogMel(self.config, nonfinite=nonfinite)
        self._hop_s = self.config.hop_length / self.config.sample_rate
        self._update_frames = max(1, round(self.update_s / self._hop_s))
        self._frames = np.zeros((64, self.config.n_mels), dtype=np.float32)
        self._ring = np.zeros((self.window_frames, self.config.n_mels), dtype=np.float32)
        self._voiced = np.zeros(self.window_frames, dtype=bool)
        self._input = np.zeros((1, 1, self.window_frames, self.config.n_mels), dtype=np.float32)
        self.smoothing = smoothing
        self.min_speech_ratio = min_speech_ratio
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        for part in (self._resampler, self._dc, self._logmel):
            if part is not None:
                part.reset()
        self._filled = 0
        self._pos = 0
        self._since_update = 0
        self._total_frames = 0
        self._noise_floor = None
        self._smoothed = None
        self._dc_primed = False

    @property
    def nonfinite_replaced(self) -> int:
        first = self._resampler or self._dc
        return first.nonfinite_replaced

    def _is_speech(self, frame: np.ndarray) -> bool:
        energy = float(np.log(np.sum(np.exp(frame.astype(np.float64)))))
        if self._noise_floor is None:
            self._noise_floor = energy
        # The floor follows quiet frames at once and rises slowly (about 3 dB per second).
        self._noise_floor = min(energy, self._noise_floor + 0.007)
        return energy > self._noise_floor + _LN_10DB and energy > _ABSOLUTE_FLOOR

    def _window(self) -> tuple[np.ndarray, float]:
        n = self.window_frames
        head = self._ring[self._pos :] if self._filled >= n else self._ring[:0]
        tail = self._ring[: self._pos]
        self._input[0, 0, : len(head)] = head
        self._input[0, 0, len(head) : len(head) + len(tail)] = tail
        if self._filled < n:  # short stream: repeat the last frame, as training pads
            self._input[0, 0, len(tail) :] = tail[-1] if len(tail) else 0.0
        if self._window_mean:  # the same function training and calibration use
            subtract_window_mean(self._input, out=self._input)
        voiced = self._voiced if self._filled >= n else self._voiced[: self._pos]
        return self._input, float(voiced.mean()) if len(voiced) else 0.0

    def _update(self, t0: float) -> AffectEvent:
        window, ratio = self._window()
        # Frame t covers samples [t * hop, t * hop + n_fft); the window holds the last frames.
        sr, hop = self.config.sample_rate, self.config.hop_length
        first = self._total_frames - min(self._filled, self.window_frames)
        start_s = first * hop / sr
        end_s = ((self._total_frames - 1) * hop + self.config.n_fft) / sr
        voiced = ratio >= self.min_speech_ratio
        if voiced:
            y = next(iter(self.engine.run(window).values()))[0].astype(np.float64)
            self._smoothed = (
                y
                if self._smoothed is None
                else self.smoothing * y + (1 - self.smoothing) * self._smoothed
            )
        values = (
            {}
            if self._smoothed is None
            else {k: round(float(v), 4) for k, v in zip(self.outputs, self._smoothed, strict=True)}
        )
        return AffectEvent(
            "speech",
            round(start_s, 3),
            round(end_s, 3),
            values,
            voiced,
            {"speech_ratio": round(ratio, 3)},
            round((time.perf_counter() - t0) * 1e3, 3),
        )

    def process_block(self, pcm: np.ndarray) -> list[AffectEvent]:
        """Feed one block (int16 or float, mono); return the events it completed (usually none)."""
        t0 = time.perf_counter()
        x = checks.audio_block(pcm, "speech audio block")
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        if self._resampler is not None:
            x = self._resampler.process(x)
        return self._consume(x, t0)

    def _consume(self, x: np.ndarray, t0: float) -> list[AffectEvent]:
        """Audio already at the front end's rate -> frames -> ring -> events."""
        if not self._dc_primed and len(x):
            # Start the high-pass in steady state at the first sample's level, as if the stream had
            # always been there: a stream that begins on a DC offset then causes no step transient.
            state = self._dc.state
            state[0, 0, 0, 0] = -float(np.nan_to_num(x[0]))
            self._dc.set_state(state)
            self._dc_primed = True
        x = self._dc.process(np.asarray(x, dtype=np.float64).reshape(1, -1))[0, 0]
        need = self._logmel.frames_for(len(x))
        if need > len(self._frames):
            self._frames = np.zeros((need, self.config.n_mels), dtype=np.float32)
        frames = self._logmel.process(x.astype(np.float32), out=self._frames)
        events = []
        for frame in frames:
            self._ring[self._pos] = frame
            self._voiced[self._pos] = self._is_speech(frame)
            self._pos = (self._pos + 1) % self.window_frames
            self._filled += 1
            self._total_frames += 1
            self._since_update += 1
            if self._since_update >= self._update_frames and self._filled >= self.window_frames:
                self._since_update = 0
                events.append(self._update(t0))
        return events

    def flush(self) -> list[AffectEvent]:
        """End of stream: resampler tail, then one last update if the stream never filled a window."""
        t0 = time.perf_counter()
        events = self._consume(self._resampler.flush(), t0) if self._resampler is not None else []
        if self._filled < self.window_frames and self._filled >= 30:
            events.append(self._update(t0))
        return events
