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
from pathlib import Path

from edge.cli import render
from edge.errors import ConfigError

HELP = "run the device service: modalities from a TOML config, events to the configured sinks"


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
    from edge.daemon.service import Signals, serve

    # From here on a SIGTERM stops cleanly and a SIGHUP waits for the daemon to be running,
    # also while the config and the models load (they killed the process then).
    signals = Signals() if not args.check else None
    from edge.daemon.config import load_config

    config = load_config(args.config)
    if args.check:
        names = ", ".join(m.name for m in config.modalities)
        render.line(f"{args.config}: valid ({names}; {len(config.sinks)} sink(s))")
        return 0
    if args.record is not None and not args.record.is_dir():
        raise ConfigError(f"--record: folder {args.record} does not exist")
    # A service logs what it does at INFO by default (the CLI's root logger says WARNING
    # unless -v): journald keeps it.
    root = logging.getLogger()
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return serve(config, args.config, args.record, signals)
