"""The daemon's TOML configuration, validated once: every error names the file and the key.

profile = "x86-host"                 # a device profile (its budgets are reported against)
status_socket = "/run/affect-edge/status.sock"   # `affect-edge status` reads it (optional)
queue = 1000                         # events waiting for the sinks; the oldest is dropped

[speech]                             # each modality is optional; at least one is needed
source = "mic"                       # "mic", "mic:DEVICE" or "file:PATH"
bundle = "speech-adv"                # optional; the default bundle otherwise
pace = true                          # files at their real rate (false: as fast as read)
loop = false                         # start a file again when it ends

[face]
source = "camera:0"                  # "camera:N", "/dev/videoN" or "file:PATH" (image/video)
detect_every = 3

[eeg]
source = "board:synthetic"           # "board:NAME" or "file:PATH"
channels = ["AF3", ...]              # the source's channel names, in order (optional)
mains = 50

[[sinks]]
kind = "jsonl"                       # "jsonl" (path "-" is stdout), "unix" or "mqtt"
path = "/var/lib/affect-edge/events.jsonl"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

MODALITIES = ("speech", "face", "eeg")
SINK_KINDS = ("jsonl", "unix", "mqtt")

_MODALITY_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "speech": {
        "source": str,
        "bundle": str,
        "pace": bool,
        "speed": (int, float),
        "loop": bool,
        "block_ms": (int, float),
    },
    "face": {
        "source": str,
        "bundle": str,
        "detector": str,
        "pace": bool,
        "speed": (int, float),
        "loop": bool,
        "detect_every": int,
        "smoothing": (int, float),
        "still_s": (int, float),
        "still_fps": (int, float),
    },
    "eeg": {
        "source": str,
        "bundle": str,
        "pace": bool,
        "speed": (int, float),
        "loop": bool,
        "channels": list,
        "mains": int,
        "calibration_s": (int, float),
        "baseline": str,
        "csv_columns": list,
        "csv_time": str,
        "rate": (int, float),
        "unit": str,
        "score_flagged": bool,
        "serial_port": str,
        "mac_address": str,
        "block_ms": (int, float),
    },
}
_SINK_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "jsonl": {"kind": str, "path": str, "max_bytes": int, "backups": int},
    "unix": {"kind": str, "path": str, "max_backlog": int},
    "mqtt": {
        "kind": str,
        "host": str,
        "port": int,
        "prefix": str,
        "device": str,
        "qos": int,
        "buffer": int,
        "username": str,
        "password": str,
        "tls": bool,
        "ca_certs": str,
        "certfile": str,
        "keyfile": str,
    },
}


@dataclass(frozen=True)
class ModalityConfig:
    name: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass(frozen=True)
class DaemonConfig:
    path: str
    profile: str | None
    status_socket: str | None
    queue: int
    modalities: tuple[ModalityConfig, ...]
    sinks: tuple[dict[str, Any], ...]
    report_s: float = 10.0


def _check(table: dict, known: dict, where: str) -> None:
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{key}'; known: {', '.join(sorted(known))}")
        kinds = known[key]
        kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
        if isinstance(value, bool) and bool not in kinds_t:
            raise ConfigError(f"{where}.{key}: must not be true/false")
        if not isinstance(value, kinds_t):
            raise ConfigError(
                f"{where}.{key}: expected {' or '.join(k.__name__ for k in kinds_t)}, "
                f"got {type(value).__name__} {value!r}"
            )


def parse_config(data: dict[str, Any], where: str) -> DaemonConfig:
    top = {
        "profile": str,
        "status_socket": str,
        "queue": int,
        "report_s": (int, float),
        "sinks": list,
        **{m: dict for m in MODALITIES},
    }
    _check(data, top, where)
    queue = data.get("queue", 1000)
    if queue < 1:
        raise ConfigError(f"{where}: queue must be at least 1, got {queue}")
    if data.get("report_s", 10.0) < 0:
        raise ConfigError(f"{where}: report_s must be >= 0 (0: no system events)")
    if "profile" in data:
        from devices.profile import load_profile

        try:
            load_profile(data["profile"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: profile: {exc}") from None
    modalities = []
    for name in MODALITIES:
        if name not in data:
            continue
        table = data[name]
        _check(table, _MODALITY_KEYS[name], f"{where} [{name}]")
        if "source" not in table:
            raise ConfigError(f"{where} [{name}]: 'source' is missing")
        source = table["source"]
        if not (
            source.startswith(("file:", "mic", "camera:", "/dev/video", "board:"))
            and _source_fits(name, source)
        ):
            raise ConfigError(f"{where} [{name}].source: {source!r} is not a {name} source")
        if source.startswith("file:") and not Path(source[5:]).is_file():
            raise ConfigError(f"{where} [{name}].source: file not found: {source[5:]}")
        if table.get("speed", 1.0) <= 0:
            raise ConfigError(f"{where} [{name}].speed: must be > 0")
        if name == "face" and table.get("detect_every", 1) < 1:
            raise ConfigError(f"{where} [face].detect_every: must be at least 1")
        if name == "eeg" and table.get("mains", 50) not in (50, 60):
            raise ConfigError(f"{where} [eeg].mains: must be 50 or 60")
        options = {k: v for k, v in table.items() if k != "source"}
        modalities.append(ModalityConfig(name, source, options))
    if not modalities:
        raise ConfigError(f"{where}: configure at least one of [speech], [face], [eeg]")
    sinks = []
    for i, sink in enumerate(data.get("sinks", [])):
        w = f"{where} sinks[{i}]"
        if not isinstance(sink, dict) or sink.get("kind") not in SINK_KINDS:
            raise ConfigError(f"{w}: 'kind' must be one of {', '.join(SINK_KINDS)}")
        _check(sink, _SINK_KEYS[sink["kind"]], w)
        if sink["kind"] in ("jsonl", "unix") and "path" not in sink:
            raise ConfigError(f"{w}: 'path' is missing")
        if sink["kind"] == "mqtt" and sink.get("qos", 1) not in (0, 1, 2):
            raise ConfigError(f"{w}.qos: must be 0, 1 or 2")
        sinks.append(dict(sink))
    if not sinks:
        raise ConfigError(f"{where}: configure at least one [[sinks]] entry")
    return DaemonConfig(
        where,
        data.get("profile"),
        data.get("status_socket"),
        queue,
        tuple(modalities),
        tuple(sinks),
        float(data.get("report_s", 10.0)),
    )


def _source_fits(modality: str, source: str) -> bool:
    if source.startswith("file:"):
        return True
    return {
        "speech": source.startswith("mic"),
        "face": source.startswith(("camera:", "/dev/video")),
        "eeg": source.startswith("board:"),
    }[modality]


def load_config(path: str | Path) -> DaemonConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    return parse_config(data, str(path))
