"""Typed front-end sections of a manifest: one frozen spec per kind, validated when a bundle loads.

A manifest's ``front_end`` says exactly how raw sensor data becomes the model's input, so the
device never guesses. `parse_front_end` turns the JSON object into one of:

- `LogMelSpec` (speech): DC blocker, log-mel (`edge.dsp.LogMelConfig`), the model's window of
  frames, how often it is scored, and the window normalisation;
- `ImageSpec` (faces): crop size, colour, layout, value range and the margin around a face box;
- `EegSpec` (EEG): electrode names in the model's order, rate, window and hop, normalisation;
- `NoFrontEnd` (test bundles fed raw arrays).

Each spec knows the per-example input shape it produces (`input_shape`), which `Manifest`
checks against every model file's declared input, so a bundle whose front end disagrees with
its model fails at load with an error naming both.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from devices.errors import BundleError, ConfigError
from edge.dsp.designs import stored_sos
from edge.dsp.logmel import LogMelConfig

WINDOW_NORMS = ("mean", "loudest")
COLORS = ("grey", "rgb", "bgr")
LAYOUTS = ("nchw", "nhwc")


def _fail(where: str, message: str) -> BundleError:
    return BundleError(f"manifest: {where}: {message}")


def _known(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names - {"kind"})
    if unknown:
        raise _fail(
            where, f"unknown field(s) {unknown} for kind {cls.kind!r}; known: {sorted(names)}"
        )
    return {k: v for k, v in values.items() if k != "kind"}


def _number(value: Any, where: str, low: float = 0.0, open_low: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"must be a finite number, got {value!r}")
    if value < low or (open_low and value == low):
        raise _fail(where, f"must be {'>' if open_low else '>='} {low}, got {value}")
    return float(value)


def _integer(value: Any, where: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(where, f"must be an integer >= {low}, got {value!r}")
    return value


@dataclass(frozen=True)
class FrontEndSpec:
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def input_shape(self) -> tuple[int, ...] | None:
        """The model input this front end produces per example (no batch axis); None: unchecked."""
        return None


@dataclass(frozen=True)
class NoFrontEnd(FrontEndSpec):
    kind: ClassVar[str] = "none"


@dataclass(frozen=True)
class LogMelSpec(FrontEndSpec, LogMelConfig):
    """Speech: resample to `sample_rate`, DC blocker, streaming log-mel, windows of frames.

    The log-mel fields (and their validation) are `LogMelConfig`'s, inherited; this adds only
    what the device does around it. `dc_pole` is the pole of the first-order DC blocker y[n] = x[n] - x[n-1] + p y[n-1] run at
    `sample_rate` (0.999 at 16 kHz: -3 dB near 2.5 Hz; 0 turns it off). The model sees
    `window_frames` frames (with `window_norm` "mean": minus the window's mean over time and
    bands; "loudest": minus the mean level of its loudest quarter of frames), scored every
    `update_s` seconds.
    """

    kind: ClassVar[str] = "logmel"
    window_frames: int = 100
    update_s: float = 0.5
    window_norm: str | None = None
    dc_pole: float = 0.999

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "front_end") -> LogMelSpec:
        fields = _known(cls, values, where)
        try:
            spec = cls(**fields)
        except (ConfigError, TypeError) as exc:
            raise _fail(where, f"not a valid log-mel configuration: {exc}") from None
        _integer(spec.window_frames, f"{where}.window_frames")
        _number(spec.update_s, f"{where}.update_s")
        if spec.window_norm is not None and spec.window_norm not in WINDOW_NORMS:
            raise _fail(
                f"{where}.window_norm",
                f"is {spec.window_norm!r}; this affect-edge knows {list(WINDOW_NORMS)} or null",
            )
        pole = _number(spec.dc_pole, f"{where}.dc_pole", 0.0, open_low=False)
        if pole >= 1.0:
            raise _fail(f"{where}.dc_pole", f"must be in [0, 1), got {pole}")
        # LogMelConfig has filled the defaults it derives (win_length, fmax), so the spec
        # states every number it uses.
        return spec

    def logmel(self) -> LogMelConfig:
        """The log-mel part alone (a plain `LogMelConfig`)."""
        return LogMelConfig(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(LogMelConfig)}
        )

    @property
    def hop_s(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def window_s(self) -> float:
        """Seconds of audio a full window covers: the first frame's n_fft plus the hops after it."""
        return (self.n_fft + (self.window_frames - 1) * self.hop_length) / self.sample_rate

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.window_frames, self.n_mels)


@dataclass(frozen=True)
class ImageSpec(FrontEndSpec):
    """Faces: a square-ish crop around each detected face, resized to (height, width).

    `color` is the channel content ("grey" gives one channel); `layout` the tensor order;
    pixel values are mapped linearly from [0, 255] to `value_range`; `crop_margin` is the
    fraction of the face box added on each side before resizing.
    """

    kind: ClassVar[str] = "image"
    height: int = 48
    width: int = 48
    color: str = "grey"
    layout: str = "nchw"
    value_range: tuple[float, float] = (0.0, 1.0)
    crop_margin: float = 0.1

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "front_end") -> ImageSpec:
        fields = _known(cls, values, where)
        if "value_range" in fields:
            vr = fields["value_range"]
            if not isinstance(vr, (list, tuple)) or len(vr) != 2:
                raise _fail(f"{where}.value_range", f"must be [low, high], got {vr!r}")
            fields["value_range"] = tuple(_number(v, f"{where}.value_range", -1e9) for v in vr)
        spec = cls(**fields)
        _integer(spec.height, f"{where}.height", 4)
        _integer(spec.width, f"{where}.width", 4)
        if spec.color not in COLORS:
            raise _fail(f"{where}.color", f"is {spec.color!r}; expected one of {list(COLORS)}")
        if spec.layout not in LAYOUTS:
            raise _fail(f"{where}.layout", f"is {spec.layout!r}; expected one of {list(LAYOUTS)}")
        if not spec.value_range[0] < spec.value_range[1]:
            raise _fail(f"{where}.value_range", "needs low < high")
        _number(spec.crop_margin, f"{where}.crop_margin", 0.0, open_low=False)
        return spec

    @property
    def n_channels(self) -> int:
        return 1 if self.color == "grey" else 3

    def input_shape(self) -> tuple[int, ...]:
        c, h, w = self.n_channels, self.height, self.width
        return (c, h, w) if self.layout == "nchw" else (h, w, c)


def electrode_key(name: str) -> str:
    """How electrode names compare (a source's against a model's): without case or outer spaces."""
    return name.strip().lower()


@dataclass(frozen=True)
class EegSpec(FrontEndSpec):
    """EEG: electrodes in the model's order, resampled to `rate_hz`, windows of `window_s`.

    `normalization` "baseline_zscore" scales each channel by the statistics of a calibration
    (baseline) phase; `scaling` "maxabs" then divides each window by its largest |value|.
    The model input per example is (1, samples, channels).
    """

    kind: ClassVar[str] = "eeg"
    rate_hz: int = 128
    channels: tuple[str, ...] = ()
    window_s: float = 1.0
    hop_s: float = 1.0
    normalization: str | None = "baseline_zscore"
    scaling: str | None = "maxabs"
    baseline_s: float = 10.0
    unit: str = "uV"
    #: Stored filter designs (`edge.dsp.designs`) run in series at `rate_hz` before the z-score;
    #: the device adds its own mains notch (50 or 60 Hz) after them.
    filters: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "front_end") -> EegSpec:
        fields = _known(cls, values, where)
        names = fields.get("channels", ())
        if (
            not isinstance(names, (list, tuple))
            or not names
            or not all(isinstance(n, str) for n in names)
        ):
            raise _fail(f"{where}.channels", "must list the electrode names in the model's order")
        if len(set(names)) != len(names):
            raise _fail(f"{where}.channels", f"names a channel twice: {list(names)}")
        fields["channels"] = tuple(names)
        filters = fields.get("filters", ())
        if not isinstance(filters, (list, tuple)) or not all(isinstance(f, str) for f in filters):
            raise _fail(f"{where}.filters", "must list stored filter design names")
        fields["filters"] = tuple(filters)
        spec = cls(**fields)
        _integer(spec.rate_hz, f"{where}.rate_hz")
        _number(spec.window_s, f"{where}.window_s")
        _number(spec.hop_s, f"{where}.hop_s")
        _number(spec.baseline_s, f"{where}.baseline_s", 0.0, open_low=False)
        if spec.normalization not in (None, "baseline_zscore"):
            raise _fail(
                f"{where}.normalization",
                f"is {spec.normalization!r}; expected 'baseline_zscore' or null",
            )
        if spec.scaling not in (None, "maxabs"):
            raise _fail(f"{where}.scaling", f"is {spec.scaling!r}; expected 'maxabs' or null")
        if spec.unit not in ("V", "uV"):
            raise _fail(f"{where}.unit", f"is {spec.unit!r}; expected 'V' or 'uV'")
        for name in spec.filters:
            try:
                stored_sos(name, spec.rate_hz)
            except ConfigError as exc:
                raise _fail(f"{where}.filters", str(exc)) from None
        return spec

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.rate_hz)

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.window_samples, len(self.channels))


SPECS: dict[str, type[FrontEndSpec]] = {
    s.kind: s for s in (LogMelSpec, ImageSpec, EegSpec, NoFrontEnd)
}


def parse_front_end(data: Any, where: str = "front_end") -> FrontEndSpec:
    """The typed spec of a manifest's front_end object; a `BundleError` names the bad field."""
    if not isinstance(data, dict):
        raise _fail(where, f"must be an object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in SPECS:
        raise _fail(f"{where}.kind", f"is {kind!r}; expected one of {list(SPECS)}")
    cls = SPECS[kind]
    if cls is NoFrontEnd:
        _known(cls, data, where)
        return NoFrontEnd()
    return cls.from_dict(data, where)  # type: ignore[attr-defined]
