"""The daemon: one configuration's workers, bus, sinks, budget monitor and status socket.

The parts live in their own rooms: `worker` (one modality's stream on its own thread),
`bus` (the bounded queue to the sinks), `outputs` (sinks from config), `monitor` (the "system"
budget reports), `status` (the status socket) and `service` (signals, reload, watchdog). A
`reload` opens everything new before it closes anything old.

Raw sensor data goes nowhere but into the pipelines: no sink ever sees a frame, and nothing raw
is written unless the daemon is given a `record` folder (`edge.daemon.record`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from edge.daemon.bus import EventBus
from edge.daemon.config import DaemonConfig
from edge.daemon.monitor import BudgetMonitor
from edge.daemon.outputs import open_sink, retune_sink, same_sink, sink_snapshot
from edge.daemon.status import StatusServer, read_status
from edge.daemon.worker import ModalityWorker
from edge.errors import AffectEdgeError, ConfigError
from edge.runtime.memory import cpu_seconds, rss_bytes

__all__ = ["Daemon", "EventBus", "ModalityWorker", "StatusServer", "read_status"]


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
            # The status socket first: a daemon refused because another serves it leaves no
            # new, empty event file behind.
            if config.status_socket:
                self._status = StatusServer(config.status_socket, self.snapshot)
            for spec in config.sinks:
                self._config_sinks.append(open_sink(spec))
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
        if self._status is not None:  # answered once a snapshot has all it reads
            self._status.start()
        self._monitor = BudgetMonitor(self)

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
        preferred = None
        if config.profile:
            from devices.profile import load_profile

            preferred = load_profile(config.profile).preferred_engine
        return stop, [
            ModalityWorker(m, None, stop, record, preferred_engine=preferred)
            for m in config.modalities
        ]

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
                        if i not in kept and same_sink(s, spec)
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
            # A new path, or the same one whose socket was removed (a SIGHUP brings it back).
            replace_status = config.status_socket and (
                config.status_socket != self.config.status_socket
                or self._status is None
                or self._status.lost()
            )
            if replace_status:
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
            retune_sink(sink, spec)
        self.bus.swap(new_sinks + extra, config.queue)
        for i, sink in enumerate(self._config_sinks):
            if i not in kept:
                with contextlib.suppress(Exception):
                    sink.flush()
                    sink.close()
        self.sinks = new_sinks + extra
        self._config_sinks = new_sinks
        if status is not None or not config.status_socket:
            if self._status is not None:
                self._status.close()
            self._status = status.start() if status is not None else None
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
        self._monitor.close()
        self._stop_workers()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.flush()
                sink.close()
        if self._status is not None:
            self._status.close()

    def snapshot(self) -> dict[str, Any]:
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
            "sinks": [sink_snapshot(s) for s in self.sinks],
            "rss_bytes": rss_bytes(),
            "cpu_s": round(cpu_seconds(), 3),
        }
