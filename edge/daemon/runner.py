"""The daemon's moving parts: one worker thread per modality, one event bus, the sinks, a status socket.

- A `ModalityWorker` owns its source and pipeline: it opens the source, pushes frames into the
  pipeline (``mode="async"``: the model runs on the pipeline's own thread, so a live source is
  never held up by inference; a file read with ``pace = false`` runs ``sync``, every window
  scored), and hands every event to the bus. When the source fails it is
  reported (counted, logged, shown by `status`) and reopened after a back-off (0.5 s doubling to
  30 s); the other modalities go on. A file that ends is done, or starts again with ``loop``.
- The `EventBus` is the one bounded queue between the pipelines and the sinks: when it is full the
  oldest event is dropped and counted. Its thread writes each event to every sink; a sink that
  fails counts its own drops.
- Every `report_s` a "system" event goes through the same bus: the process's RSS and CPU share
  of one core over the interval, each pipeline's model p99 latency, and, against the device
  profile's budgets (model p50/p99 per modality, this host's timings scaled to the target by the
  profile's factor as `edge.runtime.budget` does, and not judged where it gives none; RSS against
  the sum of the configured modalities' allowances), `over_budget` naming what broke and `ok`.
- The status socket (optional) answers each connection with one JSON line: per modality its state,
  frames, events, restarts and last error, the pipeline's figures (latency per stage, dropped
  windows), the bus and the sinks' counts, and the process's RSS and CPU time.

Raw sensor data goes nowhere but into the pipelines: no sink ever sees a frame, and nothing raw
is written unless the daemon is given a `record` folder (`edge.daemon.record`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from edge.daemon.config import DaemonConfig, ModalityConfig
from edge.errors import AffectEdgeError, ConfigError
from edge.events import AffectEvent
from edge.runtime.budget import runtime_checks
from edge.runtime.memory import rss_bytes

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


def open_sink(spec: dict[str, Any]):
    kind = spec["kind"]
    if kind == "jsonl":
        from edge.sinks import JsonLinesSink

        return JsonLinesSink(
            spec["path"], max_bytes=spec.get("max_bytes"), backups=spec.get("backups", 3)
        )
    if kind == "unix":
        from edge.sinks.unix import UnixSocketSink

        return UnixSocketSink(
            spec["path"],
            max_backlog=spec.get("max_backlog", 1 << 20),
            max_clients=spec.get("max_clients", 64),
        )
    from edge.sinks.mqtt import MqttSink

    options = {k: v for k, v in spec.items() if k != "kind"}
    return MqttSink(**options)


def _same_sink(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a reload keeps the running sink for `new`: a file or socket at the same path
    (its size limits are changed in place; opening it twice would clash), or an identical
    MQTT connection."""
    if old["kind"] != new["kind"]:
        return False
    if new["kind"] in ("jsonl", "unix"):
        return old["path"] == new["path"]
    return old == new


def _retune_sink(sink, spec: dict[str, Any]) -> None:
    """A kept sink takes the new config's limits."""
    if spec["kind"] == "jsonl":
        sink.max_bytes = spec.get("max_bytes")
        sink.backups = spec.get("backups", 3)
    elif spec["kind"] == "unix":
        sink.max_backlog = int(spec.get("max_backlog", 1 << 20))
        if hasattr(sink, "max_clients"):
            sink.max_clients = int(spec.get("max_clients", sink.max_clients))


class EventBus:
    """Pipelines -> sinks through one bounded queue (the oldest dropped when full)."""

    def __init__(self, sinks: list, limit: int) -> None:
        self.sinks = sinks
        self.dropped = 0
        self.delivered = 0
        self.per_modality: dict[str, int] = {}
        self._queue: deque[AffectEvent] = deque(maxlen=limit)
        self._cv = threading.Condition()
        self._delivering = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="event-bus", daemon=True)
        self._thread.start()

    def publish(self, event: AffectEvent) -> None:
        with self._cv:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1  # the append pushes the oldest out
            self._queue.append(event)
            self.per_modality[event.modality] = self.per_modality.get(event.modality, 0) + 1
            self._cv.notify()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._cv.wait(0.5)
                if not self._queue and self._stopping:
                    return
                event = self._queue.popleft()
            with self._delivering:
                for sink in self.sinks:
                    try:
                        sink.write(event)
                    except Exception as exc:
                        sink.dropped = getattr(sink, "dropped", 0) + 1
                        log.warning("sink %s failed: %s", type(sink).__name__, exc)
                self.delivered += 1

    def swap(self, sinks: list, limit: int) -> None:
        """Deliver to `sinks` from the next event on (a reload); once this returns, no event is
        being written to the sinks it replaced. The queue takes the new `limit`, keeping the
        newest events (the others counted as dropped)."""
        with self._delivering, self._cv:
            self.sinks = list(sinks)
            if limit != self._queue.maxlen:
                self.dropped += max(0, len(self._queue) - limit)
                self._queue = deque(self._queue, maxlen=limit)

    def stop(self, timeout_s: float = 1.5) -> None:
        """Deliver what waits (within `timeout_s`), then stop the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout_s)


class ModalityWorker(threading.Thread):
    def __init__(
        self,
        config: ModalityConfig,
        publish,
        stop: threading.Event,
        record: str | Path | None = None,
    ) -> None:
        super().__init__(name=f"{config.name}-source", daemon=True)
        self.config = config
        self.record = record
        self.recordings: list[Path] = []
        self.publish = publish
        self.stop_event = stop
        self.state = "starting"
        self.frames = 0
        self.restarts = 0
        self.failures = 0
        self.last_error: str | None = None
        self.pipeline = None
        self._paced = None
        self.bundle = self._load_bundles()

    # --- what the modality registry says -------------------------------------------------------
    def _load_bundles(self):
        return self.config.modality.bundles(self.config.options)

    def _open_source(self):
        return self.config.modality.open(self.config.source, self.config.options, self.bundle)

    def _open_pipeline(self, source):
        # Live sources and paced files: the model on the pipeline's thread, the newest window
        # winning. A file read as fast as possible has no clock to keep: every window is scored.
        fast_file = self.config.source.startswith("file:") and not self.config.options.pace
        return self.config.modality.build_pipeline(
            self.bundle,
            source,
            self.config.options,
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
            if ended and self.config.options.loop and not self.stop_event.is_set():
                self.restarts += 1
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
        is_file = self.config.source.startswith("file:")
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
            if is_file and self.config.options.pace:
                source = self._paced = Paced(source, self.config.options.speed, self.stop_event)
            try:
                result = run(
                    source, pipeline, stop=self.stop_event, live=not is_file, on_frame=seen
                )
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
            "failures": self.failures,
            "last_error": self.last_error,
        }
        if self.pipeline is not None:
            with contextlib.suppress(Exception):
                out["pipeline"] = self.pipeline.stats()
        return out


class Daemon:
    """Workers, bus, sinks and status socket for one configuration; `reload` swaps them."""

    def __init__(
        self, config: DaemonConfig, extra_sinks: tuple = (), record: str | Path | None = None
    ) -> None:
        self.config = config
        self.record = record
        self.started = time.monotonic()
        self.reloads = 0
        # Bundles first (a bad one raises before anything is opened), then the outputs.
        self.stop_event, workers = self._new_workers(config, record)
        # Sinks from the config, and any the caller adds (a benchmark's clock, say).
        self._config_sinks: list = []
        self._status = None
        try:
            for spec in config.sinks:
                self._config_sinks.append(open_sink(spec))
            if config.status_socket:
                self._status = StatusServer(config.status_socket, self.snapshot)
            if config.web is not None:
                # The live page (edge.web) is a sink of the bus; as an extra sink it is kept, not
                # reopened, across reloads.
                from edge.web.server import WebServer

                extra_sinks = (*extra_sinks, WebServer(config.web, self.snapshot, config.profile))
        except BaseException as exc:
            for sink in self._config_sinks:
                with contextlib.suppress(Exception):
                    sink.close()
            if self._status is not None:
                self._status.close()
            if isinstance(exc, AffectEdgeError) or not isinstance(exc, Exception):
                raise
            raise ConfigError(f"{config.path}: an output did not open ({exc})") from exc
        self.sinks = self._config_sinks + list(extra_sinks)
        self._start_workers(config, workers)
        self._monitor_stop = threading.Event()
        self._monitor = threading.Thread(target=self._report, name="system-report", daemon=True)
        self._monitor.start()

    def _report(self) -> None:
        import resource

        from devices.profile import load_profile
        from edge import __version__

        profile, profile_name = None, None
        seq = 0
        last_t = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        last_cpu = usage.ru_utime + usage.ru_stime
        while not self._monitor_stop.wait(self.config.report_s or 3600):
            if not self.config.report_s:
                continue
            if self.config.profile != profile_name:  # the profile a reload brought
                profile_name = self.config.profile
                profile = load_profile(profile_name) if profile_name else None
            now = time.monotonic()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            rss = rss_bytes()
            values = {
                "rss_mb": round(rss / 2**20, 2),
                "cpu_share": round((cpu - last_cpu) / max(now - last_t, 1e-9), 4),
            }
            over = []
            rss_budget = 0
            for w in self.workers:
                name = w.config.name
                latency = w.snapshot().get("pipeline", {}).get("model_latency", {})
                if latency.get("p99_ms") is not None:
                    values[f"{name}_model_p99_ms"] = round(latency["p99_ms"], 3)
                budget = profile.budget(name) if profile else None
                if budget is None:
                    continue
                # Host latency scaled to the target where the profile gives the factor; a
                # profile without one (an MCU) is not judged on this machine's timings.
                for check in runtime_checks(name, latency, None, profile):
                    if not check.ok:
                        over.append(f"{name}.{check.budget.removesuffix('_ms')}")
                rss_budget += budget.rss_bytes or 0
            if rss_budget and rss > rss_budget:
                over.append("rss")
            event = AffectEvent(
                modality="system",
                source=self.config.path,
                model="affect-edge",
                model_version=__version__,
                start_s=round(last_t - self.started, 3),
                end_s=round(now - self.started, 3),
                values=values,
                updated=True,
                quality={"ok": not over, "over_budget": over},
                latency_ms={"total": 0.0},
                seq=seq,
            )
            self.bus.publish(event)
            seq += 1
            last_t, last_cpu = now, cpu

    def _start_workers(self, config: DaemonConfig, workers: list | None = None) -> None:
        if workers is None:
            self.stop_event, workers = self._new_workers(config, self.record)
        self.bus = EventBus(self.sinks, config.queue)
        self.workers = workers
        for w in self.workers:
            w.publish = self.bus.publish
            w.start()

    @staticmethod
    def _new_workers(config: DaemonConfig, record=None) -> tuple[threading.Event, list]:
        """Workers for a config, their bundles loaded (a bad bundle raises here, before anything
        running is stopped)."""
        stop = threading.Event()
        return stop, [ModalityWorker(m, None, stop, record) for m in config.modalities]

    def _stop_workers(self, timeout_s: float = 1.5) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for w in self.workers:
            w.join(max(0.05, deadline - time.monotonic()))
        self.bus.stop(max(0.1, deadline - time.monotonic()))

    def reload(self, config: DaemonConfig) -> None:
        """Swap to a new configuration as nginx does: everything new is built and opened first
        (bundles loaded, new sinks and a moved status socket opened) while the running config
        goes on; only when all of it opened are the workers restarted on it and the sinks that
        left the config closed. If anything fails to open, what was opened is closed again, the
        running config is untouched, and a `ConfigError` says why. Sinks whose settings did not
        change stay open (a Unix socket keeps its clients); the bus and its counters live on."""
        stop, workers = self._new_workers(config, self.record)
        extra = self.sinks[len(self._config_sinks) :]
        kept: dict[int, Any] = {}
        opened: list = []
        new_sinks: list = []
        retune: list = []
        status = None
        try:
            for spec in config.sinks:
                old = next(
                    (
                        i
                        for i, s in enumerate(self.config.sinks)
                        if i not in kept and _same_sink(s, spec)
                    ),
                    None,
                )
                if old is not None:
                    kept[old] = self._config_sinks[old]
                    if spec != self.config.sinks[old]:
                        retune.append((kept[old], spec))
                    new_sinks.append(kept[old])
                    continue
                sink = open_sink(spec)
                opened.append(sink)
                new_sinks.append(sink)
            if config.status_socket and config.status_socket != self.config.status_socket:
                status = StatusServer(config.status_socket, self.snapshot)
        except Exception as exc:
            for sink in opened:
                with contextlib.suppress(Exception):
                    sink.close()
            why = exc if isinstance(exc, AffectEdgeError) else f"{type(exc).__name__}: {exc}"
            raise ConfigError(f"the new config's outputs did not open ({why})") from None
        # Everything new is open: swap.
        self.stop_event.set()
        deadline = time.monotonic() + 1.5
        for w in self.workers:
            w.join(max(0.05, deadline - time.monotonic()))
        self.stop_event = stop
        for sink, spec in retune:
            _retune_sink(sink, spec)
        self.bus.swap(new_sinks + extra, config.queue)
        for i, sink in enumerate(self._config_sinks):
            if i not in kept:
                with contextlib.suppress(Exception):
                    sink.flush()
                    sink.close()
        self.sinks = new_sinks + extra
        self._config_sinks = new_sinks
        if config.status_socket != self.config.status_socket:
            if self._status is not None:
                self._status.close()
            self._status = status
        self.config = config
        self.reloads += 1
        self.workers = workers
        for w in self.workers:
            w.publish = self.bus.publish
            w.start()

    def wait_started(self, timeout_s: float = 30.0) -> bool:
        """Wait until every worker has opened its source (or failed to, and is retrying)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(w.state != "starting" or not w.is_alive() for w in self.workers):
                return True
            time.sleep(0.02)
        return False

    def running(self) -> bool:
        return any(w.is_alive() for w in self.workers)

    def healthy(self) -> bool:
        """The event bus is delivering (what the systemd watchdog is fed on)."""
        return self.bus.alive()

    def close(self) -> None:
        self._monitor_stop.set()
        self._monitor.join(2)
        self._stop_workers()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.flush()
                sink.close()
        if self._status is not None:
            self._status.close()

    def snapshot(self) -> dict[str, Any]:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "pid": os.getpid(),
            "config": self.config.path,
            "profile": self.config.profile,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "reloads": self.reloads,
            "modalities": {w.config.name: w.snapshot() for w in self.workers},
            "bus": {
                "delivered": self.bus.delivered,
                "dropped": self.bus.dropped,
                "waiting": self.bus.waiting,
                "events": dict(self.bus.per_modality),
            },
            "sinks": [_sink_snapshot(s) for s in self.sinks],
            "rss_bytes": rss_bytes(),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        }


#: Per-sink figures `status` shows where a sink has them.
_SINK_FIGURES = (
    "clients",
    "clients_dropped",
    "clients_refused",
    "accept_failures",
    "buffered",
    "connected",
    "reconnects",
    "connect_failures",
    "rotations",
    "rolled_back_bytes",
)


def _sink_snapshot(sink) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": type(sink).__name__,
        "written": getattr(sink, "written", 0),
        "dropped": getattr(sink, "dropped", 0),
    }
    for key in _SINK_FIGURES:
        with contextlib.suppress(Exception):
            if hasattr(sink, key):
                out[key] = getattr(sink, key)
    return out


class StatusServer:
    """A Unix socket (mode 0660) answering each connection with one JSON snapshot line."""

    def __init__(self, path: str, snapshot) -> None:
        from edge.sinks.unix import listen_unix

        self.path = Path(path)
        self._sock = listen_unix(self.path, 0o660, 4)
        self._sock.settimeout(0.5)
        self._snapshot = snapshot
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="status", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if self._closing:
                conn.close()
                break
            with conn, contextlib.suppress(OSError):
                conn.sendall((json.dumps(self._snapshot(), default=str) + "\n").encode())

    def close(self) -> None:
        self._closing = True
        # Wake the accept at once (it waits up to 0.5 s otherwise: half of a SIGTERM's stop).
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as poke:
            poke.settimeout(0.2)
            poke.connect(str(self.path))
        self._thread.join(2)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_status(path: str | Path, timeout_s: float = 2.0) -> dict[str, Any]:
    """One snapshot from a daemon's status socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except FileNotFoundError:
        raise ConfigError(f"no daemon status socket at {path}") from None
    except TimeoutError:
        raise ConfigError(
            f"{path} sent no status within {timeout_s:g} s: is it the daemon's status_socket "
            "(not its events socket)?"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the daemon's status at {path} ({exc})") from None
    finally:
        s.close()
    try:
        snap = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        snap = None
    if not isinstance(snap, dict) or not {"pid", "modalities", "bus", "sinks"} <= snap.keys():
        raise ConfigError(
            f"{path} is not a daemon status socket (it sent something else: an events socket?); "
            "give the status_socket from the daemon's config"
        )
    return snap
