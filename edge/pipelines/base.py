"""One base for every modality's pipeline: `push(frame)` -> events, `flush()`, `reset()`.

A modality writes two things: its front end (`_front`: a frame in, ready windows out, on the
caller's thread) and its inference (`_infer`: a window in, output values out). The base writes
the rest once:

- **stamping** from the frames' own times (`StreamClock`): an event's span is where its window's
  first and last samples were taken, even after dropped frames;
- **the hand-off to inference**: ``mode="sync"`` runs the model inline, so files give the same
  events every time; ``mode="async"`` gives each ready window to a worker thread and returns at
  once: at most one window waits (a newer one replaces it, and every replaced window is
  counted in `dropped_windows`), so an audio callback never waits for a model;
- **smoothing** (exponential, weight `smoothing` on the newest estimate) and the event record,
  with latency per stage: front end, queue (time waiting for the worker), model, total.

Events come back from `push`/`flush`, or, with ``on_event``, are handed to that function as
they are made (on the worker thread in async mode) and `push` returns nothing.

Window slots are preallocated (three: one being filled, one waiting, one being scored), and the
worker is woken through a raw lock used as a binary semaphore, so the caller's path copies into
memory that already exists and takes no lock that allocates. With ``mode="async"`` and
``on_event``, `push` makes no allocation a tracer can see for blocks of up to 256 samples
(`bench/callback.py` measures it).

Thread safety: one stream per pipeline. `push`, `flush` and `reset` must not run concurrently;
two threads pushing at once get an `InputError`, and frames from a second source are refused,
rather than the two streams being mixed silently. ``on_event`` runs on the worker thread in
async mode: it must be thread-safe with respect to whatever else it touches.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import Any, ClassVar

import numpy as np

from devices.frame import Frame
from edge.errors import BundleError, ConfigError, InputError
from edge.events import AffectEvent
from edge.pipelines._record import make_event, round_to, rounded
from edge.pipelines.clock import StreamClock
from edge.runtime import Bundle
from edge.runtime.engines import open_engine

MODES = ("sync", "async")
_NO_EVENTS: tuple[AffectEvent, ...] = ()


def class_probabilities(rows: np.ndarray, logits: bool) -> np.ndarray:
    """(n, classes) model outputs as probabilities: a softmax of logits, or, for a model that
    ends in its own softmax, its int8-rounded outputs clipped to [0, 1] and renormalised."""
    if logits:
        z = np.exp(rows - rows.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    out = np.clip(rows, 0.0, 1.0) + 1e-6
    return out / out.sum(axis=1, keepdims=True)


class Window:
    """One preallocated slot: the model's input plus where in the stream it came from."""

    __slots__ = ("end", "first", "front_ms", "inputs", "quality", "t_ready", "update")

    def __init__(self, inputs: np.ndarray) -> None:
        self.inputs = inputs
        # Stream positions, in input samples: the window's first sample and just past its last.
        self.first = 0.0
        self.end = 0.0
        self.update = True
        #: Figures the front end fills in place (fixed keys, so nothing is allocated per window).
        self.quality: dict[str, float | bool] = {}
        self.t_ready = 0.0
        self.front_ms = 0.0


def require_bundle(
    bundle: Bundle, modality: str, spec_type: type, needs: str, task: str | None = None
) -> None:
    """A `BundleError` naming what `needs` says, unless the bundle is of `modality` with a
    `spec_type` front end (and, where given, a `task` of that kind)."""
    m = bundle.manifest
    if (
        m.modality != modality
        or not isinstance(m.front_end, spec_type)
        or (task is not None and m.task.kind != task)
    ):
        kind = f"{m.modality}/{m.task.kind}" if task is not None else m.modality
        raise BundleError(
            f"{bundle.path}: {needs} (this one is {kind} with a {m.front_end.kind} front end)"
        )


class Pipeline(ABC):
    modality: ClassVar[str]

    def __init__(
        self,
        bundle: Bundle,
        engine: str | None = None,
        precision: str | None = None,
        threads: int = 1,
        mode: str = "sync",
        smoothing: float = 1.0,
        on_event: Callable[[AffectEvent], None] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
        if not 0.0 < smoothing <= 1.0:
            raise ConfigError(f"smoothing must be in (0, 1], got {smoothing}")
        m = bundle.manifest
        self.bundle = bundle
        self.model_name = m.name
        self.model_version = m.version
        self.mode = mode
        self.smoothing = smoothing
        self.on_event = on_event
        self.engine = open_engine(bundle, engine=engine, precision=precision, threads=threads)
        self.engine.warmup(3)
        self.clock = StreamClock()
        self._slots = tuple(self._new_window() for _ in range(3))
        self._lock = threading.Lock()  # guards _pending and _busy
        self._signal = threading.Lock()  # a binary semaphore: released when a window waits
        self._signal.acquire()
        self._push_guard = threading.Lock()
        self._pending: Window | None = None
        self._busy: Window | None = None
        self._outbox: deque[AffectEvent] = deque()
        self._worker: threading.Thread | None = None
        self._closing = False
        self._source: str | None = None
        self._reset_counters()

    # --- what a modality implements -----------------------------------------------------------
    @abstractmethod
    def _new_window(self) -> Window:
        """A fresh slot with this modality's model-input buffer."""

    @abstractmethod
    def _check_frame(self, frame: Frame) -> None:
        """Raise `InputError` for a frame this pipeline cannot use."""

    @abstractmethod
    def _front(self, frame: Frame) -> None:
        """Run the front end on one frame; call `_submit` for every window it completes."""

    def _front_flush(self) -> None:  # noqa: B027 - most front ends hold no tail
        """End of stream: submit what the front end still holds."""

    def _front_reset(self) -> None:  # noqa: B027
        """Forget the front end's stream state."""

    @abstractmethod
    def _infer(self, window: Window) -> dict[str, float]:
        """The model's values for a window (called on the worker thread in async mode)."""

    def _complete(self, window: Window) -> None:
        """Score a window and deliver its event (worker thread in async mode). A modality whose
        window holds several subjects (faces in a frame) makes one event per subject here."""
        self._deliver(self._score(window))

    def _event_quality(self, window: Window) -> dict[str, float | bool]:
        """The event's quality figures from the slot's (called where the event is made)."""
        return dict(window.quality)

    # --- the stream ----------------------------------------------------------------------------
    def push(self, frame: Frame) -> tuple[AffectEvent, ...]:
        """Feed one frame; return the events completed since the last call (usually none)."""
        if not self._push_guard.acquire(blocking=False):
            raise InputError(
                f"{type(self).__name__} fed from two threads at once: one pipeline serves one stream"
            )
        try:
            self._t_push = time.perf_counter()
            if frame.source != self._source:
                if self._source is not None:
                    raise InputError(
                        f"frame from source {frame.source!r} pushed into a pipeline fed by "
                        f"{self._source!r}: use one pipeline per stream, or reset() it first"
                    )
                self._source = frame.source
            self._check_frame(frame)
            self.clock.note(frame)
            self._front(frame)
            return self._drain() if self._outbox else _NO_EVENTS
        finally:
            self._push_guard.release()

    def flush(self) -> tuple[AffectEvent, ...]:
        """End of stream: score what remains, wait for the worker, return the last events."""
        with self._push_guard:
            self._t_push = time.perf_counter()
            self._front_flush()
            self._wait_idle()
            return self._drain()

    def reset(self) -> None:
        """Start a new stream (any source); events not yet returned are dropped."""
        with self._push_guard:
            self._wait_idle()
            self._front_reset()
            self.clock.reset()
            self._outbox.clear()
            self._source = None
            self._reset_counters()

    def close(self) -> None:
        """Stop the worker thread (async mode). The pipeline cannot be used afterwards."""
        self._closing = True
        if self._worker is not None:
            self._wake_worker()
            self._worker.join(timeout=5)
        self.engine.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dropped_windows(self) -> int:
        return int(self._dropped)

    @property
    def windows(self) -> int:
        return int(self._windows)

    def stats(self) -> dict[str, Any]:
        return {
            "frames_pushed": int(self.clock.frames),
            "windows": self.windows,
            "updates": self.updates,
            "dropped_windows": self.dropped_windows,
            "events": self.events,
            "gaps": self.clock.gaps,
            "gap_s": round(self.clock.gap_s, 6),
            "backward_jumps": self.clock.backward_jumps,
            "model_latency": self.engine.latency.summary(),
            "runtime": self.engine.runtime,
        }

    # --- for the modalities: handing windows over ----------------------------------------------
    def _claim(self) -> Window:
        """A slot that is neither waiting nor being scored."""
        a, b, c = self._slots
        # acquire/release rather than `with`: `with` binds lock.__exit__, an allocation per use.
        self._lock.acquire()
        pending, busy = self._pending, self._busy
        self._lock.release()
        if a is not pending and a is not busy:
            return a
        return b if b is not pending and b is not busy else c

    def _submit(self, window: Window) -> None:
        window.t_ready = time.perf_counter()
        window.front_ms = (window.t_ready - self._t_push) * 1e3
        self._windows += 1.0
        if self.mode == "sync":
            self._complete(window)
            return
        self._lock.acquire()
        if self._pending is not None:
            self._dropped += 1.0
        self._pending = window
        self._lock.release()
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._work, name=f"{type(self).__name__}-infer", daemon=True
            )
            self._worker.start()
        self._wake_worker()

    # --- internals -------------------------------------------------------------------------------
    def _reset_counters(self) -> None:
        self._windows = 0.0  # floats: see StreamClock
        self._dropped = 0.0
        self.updates = 0
        self.events = 0
        self._smoothed: list[float] | None = None
        self._names: tuple[str, ...] = ()
        self._t_push = 0.0

    def _wake_worker(self) -> None:
        # Release the semaphore if nobody has yet; one producer thread (push is guarded), so
        # the check and the release cannot race with another release.
        if self._signal.locked():
            self._signal.release()

    def _deliver(self, event: AffectEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)
        else:
            self._outbox.append(event)

    def _drain(self) -> tuple[AffectEvent, ...]:
        out = []
        while self._outbox:
            out.append(self._outbox.popleft())
        return tuple(out)

    def _wait_idle(self) -> None:
        while True:
            with self._lock:
                if self._pending is None and self._busy is None:
                    return
            time.sleep(0.0002)

    def _work(self) -> None:
        while True:
            self._signal.acquire()
            with self._lock:
                window, self._pending = self._pending, None
                self._busy = window
            if window is None:
                if self._closing:
                    return
                continue
            try:
                self._complete(window)
            finally:
                with self._lock:
                    self._busy = None
            if self._closing:
                return

    def _score(self, window: Window) -> AffectEvent:
        t0 = perf_counter()
        queue_ms = (t0 - window.t_ready) * 1e3
        model_ms = 0.0
        update = window.update
        if update:
            values = self._infer(window)
            model_ms = (perf_counter() - t0) * 1e3
            y = [float(v) for v in values.values()]
            old = self._smoothed
            # Without smoothing the newest estimate is the smoothed one (1 * y + 0 * old, the
            # same values) and needs no arithmetic; with it, each value as float64 arithmetic
            # in the order NumPy's s * y + (1 - s) * old takes.
            if old is not None and self.smoothing != 1.0:
                s = self.smoothing
                r = 1 - s
                y = [s * a + r * b for a, b in zip(y, old, strict=True)]
            self._smoothed = y
            self._names = tuple(values)
            self.updates += 1
        # round() through decimal strings is most of the record's cost: the same values in C.
        shown = {} if self._smoothed is None else rounded(self._names, self._smoothed, 4)
        quality = self._event_quality(window)
        clock = self.clock
        if clock.jumps_between(window.first, window.end - 1):
            quality["gap"] = True
        front_ms = window.front_ms
        latency = {
            "front_end": round_to(front_ms, 3),
            "queue": round_to(queue_ms, 3),
            "model": round_to(model_ms, 3),
            "total": round_to(front_ms + (perf_counter() - window.t_ready) * 1e3, 3),
        }
        seq = self.events
        self.events = seq + 1
        # AffectEvent(...) with every field, without its frozen __init__'s per-field setattr.
        return make_event(
            AffectEvent,
            self.modality,
            self._source or "",
            self.model_name,
            self.model_version,
            round_to(clock.time_of(window.first), 3),
            round_to(clock.end_time_of(window.end), 3),
            shown,
            update,
            quality,
            latency,
            None,
            seq,
        )
