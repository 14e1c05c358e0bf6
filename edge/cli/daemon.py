"""`affect-edge daemon --config affect.toml`: the long-running device service.

Each configured modality (speech, face, EEG) gets its source and pipeline on its own thread;
events go through one bounded queue to the sinks (JSON lines, Unix socket, MQTT). SIGTERM and
SIGINT stop it cleanly (sinks flushed, exit 0 within about 2 s); SIGHUP reloads the config (a
broken new config is reported and the running one keeps going). Raw audio, video and EEG are
never written anywhere. `affect-edge status --socket PATH` shows the live figures.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path

from edge.cli import render
from edge.errors import AffectEdgeError, ConfigError

HELP = "run the device service: modalities from a TOML config, events to the configured sinks"
log = logging.getLogger("affect-edge.daemon")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="the daemon's TOML configuration")
    p.add_argument(
        "--check", action="store_true", help="validate the configuration and exit (0 if valid)"
    )
    p.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="also keep the raw audio/EEG/video each source delivers in DIR (off by default: "
        "nothing raw is ever written without it)",
    )


def run(args: argparse.Namespace) -> int:
    from edge.daemon import systemd
    from edge.daemon.config import load_config
    from edge.daemon.runner import Daemon

    config = load_config(args.config)
    if args.check:
        names = ", ".join(m.name for m in config.modalities)
        render.line(f"{args.config}: valid ({names}; {len(config.sinks)} sink(s))")
        return 0
    # A service logs what it does at INFO by default (the CLI's root logger says WARNING
    # unless -v): journald keeps it.
    root = logging.getLogger()
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    stop, reload = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    if args.record is not None and not args.record.is_dir():
        raise ConfigError(f"--record: folder {args.record} does not exist")
    daemon = Daemon(config, record=args.record)
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
                    daemon.reload(load_config(args.config))
                except AffectEdgeError as exc:
                    log.error("reload refused, keeping the running config: %s", exc)
                    systemd.status(f"reload refused: {exc}")
                    systemd.ready()
                    continue
                systemd.ready()
                log.info("reloaded %s", args.config)
            if not daemon.running():
                log.info("every source has ended")
                break
            # The watchdog is fed only while the event bus is alive: a wedged daemon is
            # restarted by systemd.
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
