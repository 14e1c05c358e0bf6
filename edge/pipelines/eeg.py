"""EEG pipeline: a headset's frames in, valence or arousal levels per window out.

Per frame the EEG front end (`edge.frontends.eeg`) picks the model's electrodes by name,
converts to microvolts, holds NaN gaps, resamples to the model's rate and, once the calibration
phase (the spec's `baseline_s`, default 10 s, or a stored per-user baseline) has given each
electrode's resting statistics, z-scores and cuts `window_s` windows every `hop_s`. Each window
gives one event: the probability of each level (``level_1`` ... ``level_5``) and ``level``, the
expected rating (1-5), smoothed over windows with weight `smoothing` on the newest.

Quality per event: for each flag (disconnected, flat, railed, line_noise, blink, muscle,
movement) the electrodes that show it, and ``ok``. A flagged window is not scored unless ``score_flagged``:
its event says ``updated: false`` and repeats the last estimate, so a blink never becomes an
emotion. During calibration no events are made; `calibrating` says so.

See `edge.pipelines.base` for stamping, the hand-off to the worker thread and thread safety.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from devices.frame import Frame
from edge.errors import InputError
from edge.events import AffectEvent
from edge.frontends.eeg import CYTON_RAIL_UV, FLAGS, Baseline, EegFrontEnd
from edge.pipelines._record import softmax_levels
from edge.pipelines.base import Pipeline, Window, class_probabilities, require_bundle
from edge.runtime import Bundle
from edge.runtime.specs import EegSpec


class EegPipeline(Pipeline):
    modality = "eeg"

    def __init__(
        self,
        bundle: Bundle,
        input_rate_hz: float,
        input_channels: tuple[str, ...],
        engine: str | None = None,
        precision: str | None = None,
        threads: int = 1,
        unit: str = "uV",
        hop_s: float | None = None,
        calibration_s: float | None = None,
        baseline: Baseline | None = None,
        rail_uv: float = CYTON_RAIL_UV,
        mains_hz: int | None = 50,
        score_flagged: bool = False,
        smoothing: float = 1.0,
        mode: str = "sync",
        on_event: Callable[[AffectEvent], None] | None = None,
    ) -> None:
        require_bundle(
            bundle, "eeg", EegSpec, "an EEG pipeline needs an EEG bundle with an eeg front end"
        )
        m = bundle.manifest
        self.spec = m.front_end
        self.input_rate_hz = float(input_rate_hz)
        self.input_channels = tuple(input_channels)
        self.front = EegFrontEnd(
            self.spec,
            input_rate_hz,
            input_channels,
            unit,
            hop_s,
            calibration_s,
            baseline,
            rail_uv,
            mains_hz,
        )
        self.outputs = tuple(m.task.outputs)
        self.score_flagged = score_flagged
        self._logits = m.task.value_range is None
        # Stream positions are input samples; one model-rate sample is this many of them.
        self._to_input = self.input_rate_hz / self.spec.rate_hz
        self.flagged_windows = 0
        super().__init__(bundle, engine, precision, threads, mode, smoothing, on_event)

    @property
    def calibrating(self) -> bool:
        return self.front.calibrating

    @property
    def baseline(self) -> Baseline | None:
        """The calibration's statistics once it is done (save them to skip it next time)."""
        return self.front.baseline

    def _new_window(self) -> Window:
        return Window(
            np.zeros((1, 1, self.spec.window_samples, len(self.spec.channels)), np.float32)
        )

    def _check_frame(self, frame: Frame) -> None:
        if frame.kind != "eeg":
            raise InputError(f"an EEG pipeline takes EEG frames, not {frame.kind}")
        if frame.rate_hz != self.input_rate_hz:
            raise InputError(
                f"frame at {frame.rate_hz:g} Hz, but this pipeline was opened for "
                f"{self.input_rate_hz:g} Hz input"
            )
        if tuple(frame.channels) != self.input_channels:
            raise InputError(
                f"frame with channels {list(frame.channels)}, but this pipeline was opened for "
                f"{list(self.input_channels)}"
            )
        if frame.data.ndim != 2 or frame.data.shape[0] != len(self.input_channels):
            raise InputError(
                f"EEG frame data must be (channels={len(self.input_channels)}, samples), "
                f"got shape {frame.data.shape}"
            )

    def _front(self, frame: Frame) -> None:
        self._hand_over(self.front.feed(frame.data))

    def _front_flush(self) -> None:
        self._hand_over(self.front.finish())

    def _front_reset(self) -> None:
        self.front.reset()
        self.flagged_windows = 0

    def _hand_over(self, windows: list) -> None:
        lag = self.front.delay_s * self.input_rate_hz
        for end, inputs, quality in windows:
            window = self._claim()
            np.copyto(window.inputs, inputs)
            window.end = max(end * self._to_input - lag, 1.0)
            window.first = max(window.end - self.spec.window_samples * self._to_input, 0.0)
            window.quality = quality
            window.update = quality["ok"] or self.score_flagged
            if not quality["ok"]:
                self.flagged_windows += 1
            self._submit(window)

    def _event_quality(self, window: Window) -> dict[str, Any]:
        q = window.quality
        out: dict[str, Any] = {"ok": q["ok"], "max_uv": q["max_uv"], "mains_uv": q["mains_uv"]}
        for name in FLAGS:
            if q[name]:
                out[name] = list(q[name])
        return out

    def _infer(self, window: Window) -> dict[str, float]:
        row = next(iter(self.engine.run(window.inputs).values()))[0]
        if self._logits and row.dtype == np.float32 and row.flags.c_contiguous:
            # class_probabilities' softmax on the one row, in float64, and the expected level,
            # in compiled code: numpy's per-call cost is most of it for a handful of values
            # (the same to an ulp), and Python's per-value steps the rest.
            return softmax_levels(row, self.outputs)
        if self._logits:
            y = row.tolist()
            top = max(y)
            z = [math.exp(v - top) for v in y]
            total = sum(z)
            p = [v / total for v in z]
        else:
            p = class_probabilities(row[None].astype(np.float64), False)[0].tolist()
        values = dict(zip(self.outputs, p, strict=True))
        values["level"] = sum(q * (i + 1) for i, q in enumerate(p))
        return values

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out.update(
            calibrating=self.calibrating,
            flagged_windows=self.flagged_windows,
            nonfinite_samples=self.front.nonfinite,
        )
        return out
