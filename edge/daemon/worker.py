"""A daemon worker: one modality's source and pipeline on its own thread, through the stream runner.

It opens the source its modality names (`edge.modalities`), pushes frames into the pipeline
(``mode="async"``: the model runs on the pipeline's own thread, so a live source is never held up
by inference; a file read with ``pace = false`` runs ``sync``, every window scored), and hands
every event to the bus. When the source fails it is reported (counted, logged, shown by
`status`) and reopened after a back-off (0.5 s doubling to 30 s); the other modalities go on. A
file that ends is done, or starts again with ``loop`` (counted as a loop, not a restart).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from edge.daemon.config import ModalityConfig
from edge.errors import AffectEdgeError

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


def engine_for(bundles: Any, options: Any, preferred: str | None) -> Any:
    """`options` with the device profile's preferred engine (`devices.profile`: "tflite" on a
    Pi, so that ONNX Runtime is never loaded there) when they name none and the modality's model
    bundle (the first, where it has several) holds a model of that format; a bundle whose own
    measurements name a default engine keeps it. Otherwise `options` unchanged."""
    from edge.runtime.engines import bundle_default

    main = bundles[0] if isinstance(bundles, tuple) else bundles
    manifest = getattr(main, "manifest", None)
    if preferred is None or options.engine is not None or manifest is None:
        return options
    if bundle_default(main) is not None or preferred not in {m.format for m in manifest.models}:
        return options
    return options.replace(engine=preferred)


class ModalityWorker(threading.Thread):
    def __init__(
        self,
        config: ModalityConfig,
        publish,
        stop: threading.Event,
        record: str | Path | None = None,
        preferred_engine: str | None = None,
    ) -> None:
        super().__init__(name=f"{config.name}-source", daemon=True)
        self.config = config
        self.record = record
        self.recordings: list[Path] = []
        self.publish = publish
        self.stop_event = stop
        self.state = "starting"
        self.frames = 0
        self.restarts = 0  # reopened after a failure
        self.loops = 0  # a looping file started again: not a restart
        self.failures = 0
        self.last_error: str | None = None
        self.pipeline = None
        self._paced = None
        self.bundle = self._load_bundles()
        #: The options the stream runs with: the config's, with the device profile's engine
        #: where the config names none (`engine_for`).
        self.options = engine_for(self.bundle, config.options, preferred_engine)

    # --- what the modality registry says -------------------------------------------------------
    def _load_bundles(self):
        return self.config.modality.bundles(self.config.options)

    def _open_source(self):
        return self.config.modality.open(self.config.source, self.options, self.bundle)

    def _open_pipeline(self, source):
        # Live sources and paced files: the model on the pipeline's thread, the newest window
        # winning. A file read as fast as possible has no clock to keep: every window is scored.
        fast_file = not source.live and not self.options.pace
        return self.config.modality.build_pipeline(
            self.bundle,
            source,
            self.options,
            mode="sync" if fast_file else "async",
            on_event=self.publish,
        )

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                ended = self._stream()
            except (AffectEdgeError, OSError, RuntimeError) as exc:
                self.failures += 1
                self.last_error = str(exc)
                self.state = "failed, retrying"
                log.error(
                    "%s source failed: %s (retrying in %.1f s)", self.config.name, exc, backoff
                )
                if self.stop_event.wait(backoff):
                    break
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                self.restarts += 1
                continue
            backoff = 0.5
            if ended and self.options.loop and not self.stop_event.is_set():
                self.loops += 1
                continue
            break
        self.state = "stopped" if self.stop_event.is_set() else "ended"

    @property
    def clock_origin(self) -> tuple[float, float, float] | None:
        """(monotonic time, source time, speed) where pacing started: maps source time to wall."""
        return None if self._paced is None else self._paced.origin

    def _stream(self) -> bool:
        """Run the source through a pipeline; True when the source ended by itself."""
        from edge.stream import Paced, run

        source = self._open_source()
        recorder = None
        if self.record is not None:
            from edge.daemon.record import Recorder

            recorder = Recorder(self.record, self.config.name)

        def seen(frame, _events) -> None:
            if recorder is not None:
                recorder.write(frame)
            self.frames += 1

        with source:
            pipeline = self._open_pipeline(source)
            self.pipeline = pipeline
            self.state = "running"
            # A file (any source with an end) plays at its own rate unless told not to.
            if not source.live and self.options.pace:
                source = self._paced = Paced(source, self.options.speed, self.stop_event)
            try:
                result = run(source, pipeline, stop=self.stop_event, on_frame=seen)
                return result.ended
            finally:
                pipeline.close()
                if recorder is not None and (path := recorder.close()) is not None:
                    self.recordings.append(path)

    def _model_name(self) -> str:
        """The bundle's name (the first, where a modality loads several; its own name without)."""
        bundle = self.bundle[0] if isinstance(self.bundle, tuple) else self.bundle
        return getattr(getattr(bundle, "manifest", None), "name", self.config.name)

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.state,
            "source": self.config.source,
            "model": self._model_name(),
            "frames": self.frames,
            "restarts": self.restarts,
            "loops": self.loops,
            "failures": self.failures,
            "last_error": self.last_error,
        }
        if self.pipeline is not None:
            with contextlib.suppress(Exception):
                out["pipeline"] = self.pipeline.stats()
        return out
