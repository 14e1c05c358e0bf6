"""Speech pipeline: audio frames of any size in, arousal/dominance/valence events out.

The front end (`edge.frontends.speech`, the same code training used) turns each frame into
log-mel frames in a ring of the model's window. Every frame is gated by voice activity: it is
speech when its energy stands 10 dB above an adaptive noise floor and above an absolute floor.
Every `update_s` of frames, once a window is full, the window is handed to inference if at
least `min_speech_ratio` of it is speech; otherwise an event with ``updated=False`` repeats the
last estimate. At `flush` the audio after the last estimate is scored too (the last window), and
a stream shorter than one window is scored once if it gave at least `MIN_FRAMES` frames
(`min_duration_s`, about 0.32 s). Events span the window's first to last sample on the source's
clock.

Each event's quality says how much of the window was speech (`speech_ratio`), an estimate of
the speech level over the noise floor (`snr_db`: the mean log energy of the speech frames minus
the floor, in dB), `band_limited` when the input rate cannot fill the model's highest mel bands,
and `nonfinite` when NaN/Inf samples were replaced by 0 since the previous event. A window whose
background stands above the silence floor and whose estimated SNR is under `min_snr_db` (10 dB)
is held and flagged `noisy`: in that much noise the model's values say more about the noise than
about the speaker. Garbage is held too: `not_speech` when the frames the gate took for speech do
not change their spectrum as speech does (noise or tone bursts; `spectral_change`), or nothing
but a steady tone sounds; `clipped` when over 1% of the window's samples sit at full scale. A
float input far beyond full scale is flagged `out_of_range` and still scored (the window
normalisation removes the level). Flags are only added to an event's quality when true.

At the bundle's own sample rate and with ``mode="async"`` and ``on_event``, the caller's path
(front end, voice gate, ring, hand-off) allocates nothing, and the model runs on a worker thread:
a hearing aid's audio callback does only the front end. See `edge.pipelines.base` for stamping,
hand-off and thread safety.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from devices.frame import Frame
from edge.errors import ConfigError, InputError
from edge.events import AffectEvent
from edge.frontends.speech import (
    ABSOLUTE_FLOOR,
    MIN_FRAMES,
    NOT_SPEECH_CHANGE,
    STEADY_CHANGE,
    VAD_MARGIN,
    VAD_RISE,
    SpeechFrontEnd,
    spectral_change,
)
from edge.pipelines.base import Pipeline, Window, require_bundle
from edge.runtime import Bundle
from edge.runtime.specs import LogMelSpec

log = logging.getLogger(__name__)
#: Input rates the pipeline takes. Below 8 kHz too few mel bands carry signal for the estimates
#: to mean anything (a 4 kHz recording reads as calm whatever it holds); above 192 kHz is not audio
#: a microphone for speech delivers.
MIN_INPUT_RATE_HZ = 8_000
MAX_INPUT_RATE_HZ = 192_000
#: A speech window whose estimated SNR is below this is held and flagged `noisy` rather than
#: scored: at a true 0 dB the estimate averages 6.8 dB, at 5 dB 13.2 dB (bench/results/noise.md).
MIN_SNR_DB = 10.0
#: A sample at or beyond this share of full scale is clipped. Real speech in the shared corpora
#: reaches it in at most 0.045% of the samples of any 0.5 s (EmoDB's shouts; RAVDESS 0.038%, nEMO
#: never): scripts/speech_quality.py.
CLIP_LEVEL = 0.99
#: Windows where more than this share of their samples is clipped are held and flagged `clipped`
#: (20 times the most any real-speech stretch shows). Counted per stretch between events, over
#: the stretches the window spans.
MAX_CLIPPED_SHARE = 0.01
#: Float samples beyond this many times full scale are not audio on the [-1, 1] scale (the
#: corpora never pass 1.0): such windows are flagged `out_of_range`, and still scored, since the
#: model's window normalisation removes the level.
OUT_OF_RANGE = 2.0


class SpeechPipeline(Pipeline):
    modality = "speech"

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
        min_snr_db: float = MIN_SNR_DB,
        nonfinite: str = "replace",
        mode: str = "sync",
        on_event: Callable[[AffectEvent], None] | None = None,
    ) -> None:
        require_bundle(
            bundle,
            "speech",
            LogMelSpec,
            "a speech pipeline needs a speech bundle with a log-mel front end",
        )
        m = bundle.manifest
        self.spec = m.front_end
        self.update_s = self.spec.update_s if update_s is None else float(update_s)
        if not (0.0 < self.update_s < math.inf):
            raise ConfigError(f"update_s must be a positive number of seconds, got {update_s}")
        if not 0.0 <= min_speech_ratio <= 1.0:
            raise ConfigError(f"min_speech_ratio must be in [0, 1], got {min_speech_ratio}")
        self.input_rate_hz = int(input_rate_hz)
        if not MIN_INPUT_RATE_HZ <= self.input_rate_hz <= MAX_INPUT_RATE_HZ:
            raise ConfigError(
                f"audio at {input_rate_hz} Hz is outside what the speech model can use "
                f"({MIN_INPUT_RATE_HZ:,} to {MAX_INPUT_RATE_HZ:,} Hz): its mel bands reach "
                f"{self.spec.fmax:g} Hz"
            )
        self.band_limited = self.input_rate_hz < 2 * self.spec.fmax
        self.front = SpeechFrontEnd(self.spec, self.input_rate_hz, nonfinite=nonfinite)
        self.front.set_vad(self.spec.window_frames, VAD_MARGIN, VAD_RISE, ABSOLUTE_FLOOR)
        self.window_frames = self.spec.window_frames
        self.update_frames = max(1, round(self.update_s / self.spec.hop_s))
        self.min_speech_ratio = min_speech_ratio
        self.min_snr_db = min_snr_db
        self.outputs = tuple(m.task.outputs)
        # Stream positions are in input samples; one front-end sample is this many of them.
        self._to_input = self.input_rate_hz / self.spec.sample_rate
        super().__init__(bundle, engine, precision, threads, mode, smoothing, on_event)
        self._front_reset()

    @property
    def min_duration_s(self) -> float:
        """The shortest stream that gets an estimate: MIN_FRAMES log-mel frames."""
        return (self.spec.n_fft + (MIN_FRAMES - 1) * self.spec.hop_length) / self.spec.sample_rate

    @property
    def nonfinite_replaced(self) -> int:
        return self.front.nonfinite_replaced

    def _new_window(self) -> Window:
        window = Window(np.zeros((1, 1, self.window_frames, self.spec.n_mels), dtype=np.float32))
        window.quality = {
            "speech_ratio": 0.0,
            "snr_db": 0.0,
            "noisy": False,
            "nonfinite": 0,
            "not_speech": False,
            "clipped": False,
            "out_of_range": False,
            "frames": 0.0,  # frames in the window (fewer than window_frames in a short stream)
            # The voice gate's flags for the window, for `not_speech` (judged on the worker).
            "voiced": np.zeros(self.window_frames, dtype=np.uint8),
        }
        return window

    def _check_frame(self, frame: Frame) -> None:
        if frame.kind != "audio":
            raise InputError(f"a speech pipeline takes audio frames, not {frame.kind}")
        if frame.rate_hz != self.input_rate_hz:
            raise InputError(
                f"frame at {frame.rate_hz:g} Hz, but this pipeline was opened for "
                f"{self.input_rate_hz} Hz input"
            )
        if len(frame.channels) != 1:
            raise InputError(
                f"a speech pipeline takes one channel, got {len(frame.channels)} "
                f"({', '.join(frame.channels)}); mix down first (AudioFileSource(mono=True))"
            )

    def _front_reset(self) -> None:
        self.front.reset()
        self._since_update = 0
        self._full = False
        self._handed_at = 0.0  # frame count when the last window was handed over
        self._replaced_at = 0
        self.front.reset_levels()
        self.front.set_clip_level(CLIP_LEVEL)
        # At a resampled rate the input's levels are measured here, per block.
        self._samples = 0.0
        self._clipped = 0.0
        self._peak = 0.0
        # Per stretch between events, for as many stretches as a window spans (lists of floats,
        # updated in place: the hand-off allocates nothing).
        spans = -(-self.window_frames // self.update_frames)
        self._span_samples = [0.0] * spans
        self._span_clipped = [0.0] * spans
        self._span_peak = [0.0] * spans
        self._span = 0

    def _front(self, frame: Frame) -> None:
        if not self.front.measures_input:
            self._level(frame.data)
        self.front.feed(frame.data)
        self._pull_frames()

    def _level(self, x: np.ndarray) -> None:
        """Count clipped samples and keep the peak of one input block (at a resampled rate,
        where the front end allocates per block anyway)."""
        if x.size == 0:
            return
        top, bottom = x.max(), x.min()
        if x.dtype == np.int16:
            peak = max(float(top), -float(bottom)) / 32768.0
            if peak >= CLIP_LEVEL:
                level = int(CLIP_LEVEL * 32768)
                self._clipped += int(np.count_nonzero(x >= level) + np.count_nonzero(x <= -level))
        else:
            peak = max(float(top), -float(bottom))  # NaN compares false: counted as nonfinite
            if peak >= CLIP_LEVEL:
                self._clipped += int(
                    np.count_nonzero(x >= CLIP_LEVEL) + np.count_nonzero(x <= -CLIP_LEVEL)
                )
        if peak > self._peak:
            self._peak = peak
        self._samples += x.size

    def _take_levels(self) -> None:
        """Close the stretch since the last event: the share of clipped samples and the peak
        over the stretches the window spans, into `_share` and `_top`. No allocation at the
        model's rate (no tuple either)."""
        front = self.front
        if front.measures_input:
            samples, clipped, peak = front.seen, front.clipped, front.peak
            front.reset_levels()
        else:
            samples, clipped, peak = self._samples, self._clipped, self._peak
            self._samples = self._clipped = self._peak = 0.0
        i = self._span
        if samples > 0.0:  # else no new samples (a last window at the flush): keep the last
            self._span = i = (i + 1) % len(self._span_samples)
            self._span_samples[i] = samples
            self._span_clipped[i] = clipped
            self._span_peak[i] = peak
        total = clipped_total = top = 0.0
        k = len(self._span_samples)
        while k:  # indices, not `for`: a list iterator is an allocation
            k -= 1
            total += self._span_samples[k]
            clipped_total += self._span_clipped[k]
            if self._span_peak[k] > top:
                top = self._span_peak[k]
        self._share = clipped_total / total if total > 0.0 else 0.0
        self._top = top

    def _pull_frames(self) -> None:
        # Stop at the frame where the next window is due (so the window ends exactly there), and
        # never take more frames than the ring holds at once. Locals: this runs every block.
        front, due, rows = self.front, self.update_frames, self.window_frames
        pull = front.pull
        since = self._since_update
        while True:
            limit = due - since
            made = pull(1 if limit < 1 else (rows if limit > rows else limit))
            if not made:
                break
            since += made
            if since >= due and (self._full or self._filled()):
                since = 0
                self._hand_over(front.frame_count)
        self._since_update = since

    def _filled(self) -> bool:
        self._full = self.front.total_frames >= self.window_frames
        return self._full

    def _hand_over(self, total: float) -> None:
        """Copy the window ending at frame `total - 1` into a slot and submit it."""
        front = self.front
        window = self._claim()
        front.window_into(window.inputs)
        held = total if total < self.window_frames else float(self.window_frames)
        ratio = front.voiced_count / held
        hop, n_fft = self.spec.hop_length, self.spec.n_fft
        window.first = (total - held) * hop * self._to_input
        window.end = ((total - 1.0) * hop + n_fft) * self._to_input
        q = window.quality  # fixed keys, updated in place
        q["speech_ratio"] = ratio
        q["snr_db"] = snr = front.snr_db(self.window_frames)
        # Noisy: a background above the silence floor, and speech (if any) not 10 dB over it.
        q["noisy"] = noisy = front.noise_floor > ABSOLUTE_FLOOR and snr < self.min_snr_db
        self._take_levels()
        # Beyond full scale, full scale means nothing: such a window is out of range, not clipped.
        q["out_of_range"] = out_of_range = self._top > OUT_OF_RANGE
        q["clipped"] = clipped = self._share > MAX_CLIPPED_SHARE and not out_of_range
        q["not_speech"] = False  # judged on the worker (`_score`), from these flags and frames
        q["frames"] = held
        front.voiced_into(q["voiced"], self.window_frames)
        window.update = ratio >= self.min_speech_ratio and not noisy and not clipped
        replaced = front.nonfinite_replaced
        q["nonfinite"] = replaced - self._replaced_at
        self._replaced_at = replaced
        self._handed_at = total
        self._submit(window)

    def _score(self, window: Window) -> AffectEvent:
        # On the inference thread (async) or inline (sync): the caller's path stays as lean as
        # before; a window judged not speech is held before the model runs.
        q = window.quality
        if q["speech_ratio"] >= self.min_speech_ratio or q["noisy"]:
            q["not_speech"] = self._not_speech(window)
            if q["not_speech"]:
                q["noisy"] = False
                window.update = False
        return super()._score(window)

    def _not_speech(self, window: Window) -> bool:
        """Speech frames whose spectrum does not move as speech does (noise or tone bursts), or
        no speech frames over a loud, steady background (a tone)."""
        q = window.quality
        held = int(q["frames"])
        frames = window.inputs.reshape(self.window_frames, self.spec.n_mels)[:held]
        voiced = q["voiced"][:held]
        if q["speech_ratio"] >= self.min_speech_ratio:
            return spectral_change(frames, voiced.astype(bool)) < NOT_SPEECH_CHANGE
        return not voiced.any() and spectral_change(frames) < STEADY_CHANGE

    def _event_quality(self, window: Window) -> dict[str, float | bool]:
        q = window.quality
        out: dict[str, float | bool] = {
            "speech_ratio": round(q["speech_ratio"], 3),
            "snr_db": round(q["snr_db"], 1),
        }
        if q["noisy"]:
            out["noisy"] = True
        for flag in ("not_speech", "clipped", "out_of_range"):
            if q[flag]:
                out[flag] = True
        if self.band_limited:
            out["band_limited"] = True
        if q["nonfinite"]:
            out["nonfinite"] = int(q["nonfinite"])
        return out

    def _front_flush(self) -> None:
        self.front.finish()
        self._pull_frames()
        total = self.front.frame_count
        if total >= self.window_frames:
            if total > self._handed_at:  # audio after the last estimate: score the last window
                self._hand_over(total)
        elif total >= MIN_FRAMES:
            self._hand_over(total)

    def _infer(self, window: Window) -> dict[str, float]:
        x = self.front.normalize(window.inputs)
        y = next(iter(self.engine.run(x).values()))[0]
        return {name: float(v) for name, v in zip(self.outputs, y, strict=True)}
