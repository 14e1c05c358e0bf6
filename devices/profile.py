"""Device profiles: the targets' cores, memory, preferred engine, sensors and budgets.

Profiles are TOML files in `devices/profiles/` (or any path). They are parsed and validated
once into frozen dataclasses; a bad profile is a `ConfigError` naming the file and field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from devices.errors import ConfigError

ENGINES = ("onnx", "tflite")
SENSOR_KINDS = ("audio", "camera", "eeg")
MODALITIES = ("speech", "face", "eeg")


@dataclass(frozen=True)
class Budget:
    """Per-modality limits. None means the profile sets no limit for that figure."""

    latency_p99_ms: float | None = None
    latency_p50_ms: float | None = None
    model_bytes: int | None = None
    rss_bytes: int | None = None


@dataclass(frozen=True)
class Compute:
    macs_per_s: float
    estimate: bool
    source: str
    host_latency_scale: float | None = None
    host_latency_scale_source: str = ""


@dataclass(frozen=True)
class Sensor:
    kind: str
    rate_hz: float
    channels: tuple[str, ...]
    block_samples: int | None = None
    board: str | None = None
    frame_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    arch: str
    cores: int
    memory_bytes: int
    preferred_engine: str
    compute: Compute
    sensors: tuple[Sensor, ...]
    budgets: dict[str, Budget]
    path: str = ""

    def budget(self, modality: str) -> Budget | None:
        return self.budgets.get(modality)

    def sensor(self, kind: str) -> Sensor | None:
        return next((s for s in self.sensors if s.kind == kind), None)


def _need(table: dict, key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: '{key}' is missing")
    value = table[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ConfigError(f"{where}: '{key}' must not be true/false")
    if not isinstance(value, kinds):
        raise ConfigError(
            f"{where}: '{key}' has the wrong type ({type(value).__name__}): {value!r}"
        )
    return value


def _positive(value: float, what: str) -> float:
    if not value > 0:
        raise ConfigError(f"{what} must be > 0, got {value}")
    return value


def parse_profile(data: dict[str, Any], where: str) -> Profile:
    engine = _need(data, "preferred_engine", str, where)
    if engine not in ENGINES:
        raise ConfigError(f"{where}: preferred_engine {engine!r} is not one of {ENGINES}")
    c = _need(data, "compute", dict, where)
    compute = Compute(
        macs_per_s=_positive(
            float(_need(c, "macs_per_s", (int, float), f"{where} [compute]")), f"{where} macs_per_s"
        ),
        estimate=_need(c, "estimate", bool, f"{where} [compute]"),
        source=_need(c, "source", str, f"{where} [compute]"),
        host_latency_scale=(
            _positive(float(c["host_latency_scale"]), f"{where} host_latency_scale")
            if "host_latency_scale" in c
            else None
        ),
        host_latency_scale_source=c.get("host_latency_scale_source", ""),
    )
    if compute.host_latency_scale is not None and not compute.host_latency_scale_source:
        raise ConfigError(
            f"{where}: host_latency_scale needs host_latency_scale_source (say how it was found)"
        )
    sensors = []
    for i, s in enumerate(data.get("sensors", [])):
        w = f"{where} sensors[{i}]"
        kind = _need(s, "kind", str, w)
        if kind not in SENSOR_KINDS:
            raise ConfigError(f"{w}: kind {kind!r} is not one of {SENSOR_KINDS}")
        channels = _need(s, "channels", list, w)
        if not channels or not all(isinstance(ch, str) for ch in channels):
            raise ConfigError(f"{w}: channels must be a non-empty list of names, in order")
        frame = s.get("frame_size")
        sensors.append(
            Sensor(
                kind,
                _positive(float(_need(s, "rate_hz", (int, float), w)), f"{w} rate_hz"),
                tuple(channels),
                s.get("block_samples"),
                s.get("board"),
                tuple(frame) if frame else None,
            )
        )
    budgets = {}
    for modality, b in data.get("budgets", {}).items():
        if modality not in MODALITIES:
            raise ConfigError(f"{where}: budgets.{modality} is not a modality {MODALITIES}")
        unknown = set(b) - {"latency_p99_ms", "latency_p50_ms", "model_bytes", "rss_bytes"}
        if unknown:
            raise ConfigError(f"{where}: budgets.{modality} has unknown fields {sorted(unknown)}")
        for key, value in b.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(
                    f"{where}: budgets.{modality}.{key} must be a positive number, got {value!r}"
                )
        budgets[modality] = Budget(**b)
    return Profile(
        name=_need(data, "name", str, where),
        description=_need(data, "description", str, where),
        arch=_need(data, "arch", str, where),
        cores=int(_positive(_need(data, "cores", int, where), f"{where} cores")),
        memory_bytes=int(
            _positive(_need(data, "memory_bytes", int, where), f"{where} memory_bytes")
        ),
        preferred_engine=engine,
        compute=compute,
        sensors=tuple(sensors),
        budgets=budgets,
        path=where,
    )


def _builtin_dir() -> Path:
    return Path(str(resources.files("devices").joinpath("profiles")))


def list_profiles() -> list[str]:
    """Names of the profiles shipped with affect-edge."""
    return sorted(p.stem for p in _builtin_dir().glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (e.g. 'raspberry-pi-4'), or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _builtin_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown device profile {str(name_or_path)!r}; shipped: {', '.join(list_profiles())}"
            )
    if not path.is_file():
        raise ConfigError(f"device profile file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_profile(data, str(path))


def electrodes(name_or_path: str | Path) -> tuple[str, ...]:
    """The EEG electrodes of a profile's headset, in its order (e.g. 'emotiv-14': DREAMER's 14).
    The profile is their one owner; code that needs a headset's layout reads it here."""
    profile = load_profile(name_or_path)
    sensor = profile.sensor("eeg")
    if sensor is None:
        raise ConfigError(f"device profile {profile.name!r} has no EEG sensor")
    return sensor.channels
