"""Typed, frozen stream options: validated once, where they enter (CLI flags, TOML tables, code).

Each modality's options class derives from `StreamOptions` and holds every knob of one stream
with its one default. Construction checks every value (`check()` in each class), and a bad one is
an `OptionError` naming the option: the CLI shows it as ``--detect-every: must be ...``, the
daemon as ``affect.toml [face].detect_every: must be ...``. Inner code trusts the object.

`from_mapping` builds an options object from a table (a TOML table, parsed flags): unknown keys
and wrong types are refused by the field annotations, so a new option is one field and its check.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from edge.errors import ConfigError


class OptionError(ConfigError):
    """A bad option value: `key` names the option, `problem` says what is wrong with it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def path_field(default: Any = None, kind: str = "file") -> Any:
    """A field holding a path ("file": must exist) or a bundle ("bundle": a name or a path), which
    a config file resolves against its own folder."""
    return dataclasses.field(default=default, metadata={"path": kind})


def fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def number(key: str, value: Any, lo: float, hi: float, unit: str = "", lo_open: bool = False):
    """An `OptionError` unless `value` is a finite number in [lo, hi] ((lo, hi] with lo_open)."""
    if value is None:
        return
    if not math.isfinite(value):
        raise OptionError(key, f"must be a finite number, got {value!r}")
    if (value <= lo if lo_open else value < lo) or value > hi:
        left = "(" if lo_open else "["
        raise OptionError(key, f"must be in {left}{fmt(lo)}, {fmt(hi)}]{unit}, got {value!r}")


def one_of(key: str, value: Any, allowed: tuple) -> None:
    if value is not None and value not in allowed:
        raise OptionError(
            key, f"must be one of {', '.join(str(a) for a in allowed)}, got {value!r}"
        )


def text(key: str, value: Any) -> None:
    if value is None:
        return
    if not value.strip():
        raise OptionError(key, "must not be empty")
    if "\x00" in value:
        raise OptionError(key, "must not hold a NUL character")


def names(key: str, value: Any) -> None:
    """A list of channel names: text, none twice."""
    if value is None:
        return
    if not value:
        raise OptionError(key, "must name at least one channel")
    for v in value:
        if not isinstance(v, str) or not v.strip():
            raise OptionError(key, f"must be a list of channel names (text), got {v!r}")
        if v.strip().lstrip("+-").replace(".", "", 1).isdigit():
            raise OptionError(key, f"channel names are text like 'AF3', not numbers: {v!r}")
    if len(set(value)) != len(value):
        raise OptionError(key, "names a channel twice")


def _accepts(annotation: Any) -> tuple[type, ...]:
    """The Python types a table value may have for a field annotated `annotation`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(t for a in typing.get_args(annotation) for t in _accepts(a))
    if annotation is type(None):
        return ()
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return (list, tuple)
    if annotation is float:
        return (int, float)
    return (annotation,)


def type_problem(value: Any, kinds: tuple[type, ...]) -> str | None:
    """What is wrong with the type of a table value that should be one of `kinds` (None: right)."""
    if isinstance(value, bool) and bool not in kinds:
        return "must not be true/false"
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        return f"expected {names}, got {type(value).__name__} {value!r}"
    return None


@dataclass(frozen=True)
class StreamOptions:
    """What every stream has: the bundle, the runtime, and how a file is played."""

    bundle: str | None = path_field(kind="bundle")
    engine: str | None = None
    precision: str | None = None
    #: Files at their real rate (the daemon); False: as fast as read.
    pace: bool = True
    #: Times real time when paced.
    speed: float = 1.0
    #: Start a file again when it ends.
    loop: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise an `OptionError` for the first bad value (each class adds its own checks)."""
        text("bundle", self.bundle)
        one_of("engine", self.engine, ("native", "onnx", "tflite"))
        one_of("precision", self.precision, ("fp32", "int8"))
        number("speed", self.speed, 0.01, 1000)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(
        cls,
        table: Mapping[str, Any],
        where: str = "",
        reserved: tuple[str, ...] = (),
        shown_as: Callable[[str], str] | None = None,
    ) -> Self:
        """Options from a table of values; every problem is a `ConfigError` naming
        ``{where}.{key}`` (or just the key where `where` is empty). `reserved`: keys the table's
        owner reads itself (the daemon's `source`), listed among the known ones. `shown_as`: how
        a key is named in messages (the CLI: ``--detect-every``)."""
        hints = typing.get_type_hints(cls)
        known = cls.option_names()
        at = f"{where}." if where else ""
        name = shown_as or (lambda key: key)
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                shown = ", ".join(sorted((*known, *reserved)))
                raise ConfigError(f"{where or 'options'}: unknown key '{key}'; known: {shown}")
            problem = type_problem(value, _accepts(hints[key]))
            if problem:
                raise ConfigError(f"{at}{name(key)}: {problem}")
            values[key] = tuple(value) if isinstance(value, list) else value
        try:
            return cls(**values)
        except OptionError as exc:
            raise ConfigError(f"{at}{name(exc.key)}: {exc.problem}") from None

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    @classmethod
    def default(cls, key: str) -> Any:
        """The one default of an option (what `--help` shows)."""
        return next(f.default for f in fields(cls) if f.name == key)
