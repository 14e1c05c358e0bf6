"""The service loop: one daemon from a config file, run until SIGTERM/SIGINT or every source ends.

SIGHUP reloads the config (a broken new config is reported and the running one keeps going);
systemd hears READY once every source has opened, RELOADING/READY around a reload, STOPPING at
the end, and the watchdog is fed only while the event bus is alive, so a wedged daemon is
restarted by systemd.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from edge.daemon import systemd
from edge.daemon.config import DaemonConfig, load_config
from edge.daemon.runner import Daemon
from edge.errors import AffectEdgeError

log = logging.getLogger("affect-edge.daemon")


class Signals:
    """SIGTERM and SIGINT ask to stop, SIGHUP to reload: installed when made, so that a signal
    that comes while the daemon is still starting is kept for the service loop, not fatal."""

    def __init__(self) -> None:
        self.stop, self.reload = threading.Event(), threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload.set())


def serve(
    config: DaemonConfig,
    config_path: Path,
    record: Path | None = None,
    signals: Signals | None = None,
) -> int:
    """Run the daemon `config` (read from `config_path`, which a SIGHUP reads again) until told
    to stop; 0 when it stopped cleanly."""
    signals = signals or Signals()
    stop, reload = signals.stop, signals.reload
    # A SIGHUP that came while starting is kept: the loop below reloads once the daemon runs.
    if stop.is_set():
        log.info("asked to stop while starting")
        return 0
    daemon = Daemon(config, record=record)
    running = ", ".join(f"{m.name} from {m.source}" for m in config.modalities)
    # READY only once every source has opened (or failed and is being retried).
    if not daemon.wait_started(30.0):
        log.warning("a source is still opening after 30 s; reporting ready")
    log.info("running %s", running)
    systemd.ready()
    systemd.status(f"running {running}")
    ping_every = systemd.watchdog_interval_s()
    last_ping = 0.0
    try:
        while not stop.is_set():
            stop.wait(0.2)
            if reload.is_set():
                reload.clear()
                systemd.reloading()
                try:
                    daemon.reload(load_config(config_path))
                except AffectEdgeError as exc:
                    log.error("reload refused, keeping the running config: %s", exc)
                    systemd.status(f"reload refused: {exc}")
                    systemd.ready()
                    continue
                systemd.ready()
                log.info("reloaded %s", config_path)
            if not daemon.running():
                log.info("every source has ended")
                break
            now = time.monotonic()
            if ping_every and now - last_ping >= ping_every and daemon.healthy():
                systemd.watchdog()
                last_ping = now
    finally:
        systemd.stopping()
        t0 = time.monotonic()
        daemon.close()
        log.info("stopped (sinks closed in %.3f s)", time.monotonic() - t0)
    return 0
