"""The daemon's TOML configuration, validated once: every error names the file and the key.

profile = "x86-host"                 # a device profile: budgets reported against it; its
                                     # preferred engine runs a model whose engine is not set
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

A modality's table holds its `source` URI and the fields of its options class
(`edge.modalities`): the keys, their types, limits and defaults are that class's, the same the
CLI's flags build.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge import modalities
from edge.errors import ConfigError
from edge.modalities.options import OptionError, StreamOptions, number, type_problem

SINK_KINDS = ("jsonl", "unix", "mqtt")

_SINK_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "jsonl": {"kind": str, "path": str, "max_bytes": int, "backups": int},
    "unix": {"kind": str, "path": str, "max_backlog": int, "max_clients": int},
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
        "keepalive_s": int,
    },
}


@dataclass(frozen=True)
class ModalityConfig:
    """One modality's stream: its registered name, its source URI and its typed options."""

    name: str
    source: str
    options: StreamOptions = None  # type: ignore[assignment]  # the modality's defaults

    def __post_init__(self) -> None:
        if self.options is None:
            object.__setattr__(self, "options", modalities.get(self.name).options())

    @property
    def modality(self) -> modalities.Modality:
        return modalities.get(self.name)


@dataclass(frozen=True)
class DaemonConfig:
    path: str
    profile: str | None
    status_socket: str | None
    queue: int
    modalities: tuple[ModalityConfig, ...]
    sinks: tuple[dict[str, Any], ...]
    report_s: float = 10.0
    #: The live page (`edge.web.WebConfig`), from an optional [web] table; None: no page.
    web: Any = None


def _check(table: dict, known: dict, where: str) -> None:
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{key}'; known: {', '.join(sorted(known))}")
        kinds = known[key]
        problem = type_problem(value, kinds if isinstance(kinds, tuple) else (kinds,))
        if problem:
            raise ConfigError(f"{where}.{key}: {problem}")


def _num(lo: float, hi: float, lo_open: bool = False, what: str = ""):
    """A finite number in [lo, hi] (or (lo, hi] with `lo_open`), as the options classes check."""

    def check(value: Any) -> str | None:
        try:
            number("", value, lo, hi, what, lo_open)
        except OptionError as exc:
            return exc.problem
        return None

    return check


def _one_of(*allowed: Any):
    def check(value: Any) -> str | None:
        if value not in allowed:
            return f"must be one of {', '.join(str(a) for a in allowed)}, got {value!r}"
        return None

    return check


def _text(value: Any) -> str | None:
    if not value.strip():
        return "must not be empty"
    if "\x00" in value:
        return "must not hold a NUL character"
    return None


def _topic_part(value: Any) -> str | None:
    if any(c in value for c in "+#\x00"):
        return f"MQTT topic parts may not hold '+', '#' or NUL: {value!r}"
    return None


#: Value checks beyond the type, per key: each returns what is wrong, or None.
_RULES: dict[str, dict[str, Any]] = {
    "top": {
        "queue": _num(1, 10_000_000),
        "report_s": lambda v: (
            None if v == 0 else _num(0.1, 86_400, what=" seconds (0: no system events)")(v)
        ),
        "status_socket": _text,
    },
    "jsonl": {
        "path": _text,
        "max_bytes": _num(1024, 2**62, what=" bytes"),
        "backups": _num(1, 1000),
    },
    "unix": {
        "path": _text,
        "max_backlog": _num(1024, 2**31, what=" bytes"),
        "max_clients": _num(1, 10_000),
    },
    "mqtt": {
        "host": _text,
        "port": _num(1, 65535),
        "qos": _one_of(0, 1, 2),
        "buffer": _num(1, 10_000_000, what=" events"),
        "prefix": lambda v: _text(v) or _topic_part(v),
        "device": lambda v: _text(v) or _topic_part(v),
        "keepalive_s": _num(5, 65535, what=" seconds"),
        "ca_certs": _text,
        "certfile": _text,
        "keyfile": _text,
    },
}


def _values(table: dict, rules: dict, where: str) -> None:
    for key, value in table.items():
        check = rules.get(key)
        problem = check(value) if check is not None else None
        if problem:
            raise ConfigError(f"{where}.{key}: {problem}")


def _resolve(value: str, base: Path) -> str:
    """A path from the config, relative to the config file's folder."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


#: Where systemd makes a service's own folder before starting it (RuntimeDirectory=,
#: StateDirectory=, LogsDirectory=, CacheDirectory=): /run/NAME and the like may not exist yet.
_SYSTEMD_MADE = (Path("/run"), Path("/var/lib"), Path("/var/log"), Path("/var/cache"))


def _folder_exists(path: str, where: str) -> None:
    folder = Path(path).parent
    if not folder.is_dir() and folder.parent not in _SYSTEMD_MADE:
        raise ConfigError(f"{where}: folder {folder} does not exist; create it or fix the path")


def _existing_file(path: str, where: str) -> None:
    p = Path(path)
    if p.is_file():
        return
    if p.is_dir():
        raise ConfigError(f"{where}: {path} is a directory, not a file")
    if p.exists():  # a FIFO, a device, a socket: a file source reads a recording
        raise ConfigError(f"{where}: {path} is not a regular file (a pipe or device?)")
    raise ConfigError(f"{where}: file not found: {path}")


def parse_config(data: dict[str, Any], where: str, base: str | Path | None = None) -> DaemonConfig:
    """A validated config from TOML `data`; relative paths are resolved against `base` (the
    config file's folder; the working directory where None)."""
    base = Path(base) if base is not None else Path.cwd()
    top = {
        "profile": str,
        "status_socket": str,
        "queue": int,
        "report_s": (int, float),
        "sinks": list,
        **{m: dict for m in modalities.names()},
        "web": dict,
    }
    _check(data, top, where)
    _values(data, _RULES["top"], where)
    queue = data.get("queue", 1000)
    status_socket = data.get("status_socket")
    if status_socket is not None:
        status_socket = _resolve(status_socket, base)
        _folder_exists(status_socket, f"{where}.status_socket")
    if "profile" in data:
        from devices.profile import load_profile

        try:
            load_profile(data["profile"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: profile: {exc}") from None
    streams = tuple(
        _modality(name, data[name], f"{where} [{name}]", base)
        for name in modalities.names()
        if name in data
    )
    if not streams:
        tables = ", ".join(f"[{n}]" for n in modalities.names())
        raise ConfigError(f"{where}: configure at least one of {tables}")
    sinks = []
    for i, sink in enumerate(data.get("sinks", [])):
        w = f"{where} sinks[{i}]"
        if not isinstance(sink, dict) or sink.get("kind") not in SINK_KINDS:
            raise ConfigError(f"{w}: 'kind' must be one of {', '.join(SINK_KINDS)}")
        sink = dict(sink)
        _check(sink, _SINK_KEYS[sink["kind"]], w)
        if sink["kind"] in ("jsonl", "unix") and "path" not in sink:
            raise ConfigError(f"{w}: 'path' is missing")
        _values(sink, _RULES[sink["kind"]], w)
        if "path" in sink and sink["path"] != "-":
            sink["path"] = _resolve(sink["path"], base)
            _folder_exists(sink["path"], f"{w}.path")
        if sink["kind"] == "mqtt":
            for key in ("ca_certs", "certfile", "keyfile"):
                if key in sink:
                    sink[key] = _resolve(sink[key], base)
                    _existing_file(sink[key], f"{w}.{key}")
            if "keyfile" in sink and "certfile" not in sink:
                raise ConfigError(f"{w}.keyfile: needs a certfile beside it")
            if "password" in sink and "username" not in sink:
                raise ConfigError(f"{w}.password: needs a username beside it")
        sinks.append(sink)
    if not sinks:
        raise ConfigError(f"{where}: configure at least one [[sinks]] entry")
    paths = [s["path"] for s in sinks if s.get("path", "-") != "-"]
    paths += [status_socket] if status_socket else []
    if len(set(paths)) != len(paths):
        raise ConfigError(f"{where}: two outputs share one path; give each its own")
    return DaemonConfig(
        where,
        data.get("profile"),
        status_socket,
        queue,
        streams,
        tuple(sinks),
        float(data.get("report_s", 10.0)),
        _web(data.get("web"), where, base),
    )


def _web(table: dict | None, where: str, base: Path):
    """The [web] table, validated by `edge.web.config` (the page is opt-in)."""
    if table is None:
        return None
    from edge.web.config import parse_web

    return parse_web(table, f"{where} [web]", base)


def _bundle(value: str, base: Path, where: str) -> str:
    """A bundle name, or a path (relative to the config file); it must be found."""
    from edge.errors import AffectEdgeError
    from edge.runtime.registry import find_bundle

    if "/" in value or value.endswith(".zip"):
        value = _resolve(value, base)
    try:
        find_bundle(value)
    except AffectEdgeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


def _modality(name: str, table: dict[str, Any], w: str, base: Path) -> ModalityConfig:
    """One modality's table: its source URI and its options class, paths resolved."""
    modality = modalities.get(name)
    table = dict(table)
    source = table.pop("source", None)
    if source is not None and not isinstance(source, str):
        raise ConfigError(f"{w}.source: expected str, got {type(source).__name__} {source!r}")
    options = modality.options.from_mapping(table, w, reserved=("source",))
    if source is None:
        raise ConfigError(f"{w}: 'source' is missing")
    if not modality.fits(source) or source.startswith(":"):
        raise ConfigError(f"{w}.source: {source!r} is not a {name} source ({modality.uri_help()})")
    if source.startswith("file:"):
        source = "file:" + _resolve(source[5:], base)
        _existing_file(source[5:], f"{w}.source")
    elif source.endswith(":"):
        raise ConfigError(f"{w}.source: name the device, as in '{source}NAME'")
    resolved = {}
    for f in fields(options):
        kind, value = f.metadata.get("path"), getattr(options, f.name)
        if kind is None or value is None or f.name not in table:
            continue
        if kind == "bundle":
            resolved[f.name] = _bundle(value, base, f"{w}.{f.name}")
        else:
            resolved[f.name] = _resolve(value, base)
            _existing_file(resolved[f.name], f"{w}.{f.name}")
    return ModalityConfig(name, source, options.replace(**resolved) if resolved else options)


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
    return parse_config(data, str(path), path.resolve().parent)
