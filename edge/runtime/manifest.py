"""The bundle manifest: what a device needs to run a model without guessing.

Frozen dataclasses, validated once by `Manifest.from_dict` when a bundle is opened; inner code
trusts them. `manifest.schema.json` beside this file states the same rules as a JSON Schema
for other tools (the tests keep the two in agreement).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edge.errors import BundleError
from edge.runtime.specs import FrontEndSpec, parse_front_end

SCHEMA_VERSION = 1
MODALITIES = ("speech", "face", "eeg", "test")
TASK_KINDS = ("regression", "classification", "ordinal", "detection")
FORMATS = {"onnx": ".onnx", "tflite": ".tflite"}
PRECISIONS = ("fp32", "fp16", "int8")
DTYPES = ("float32", "float16", "int8", "uint8", "int16", "int32", "int64")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Fields:
    """Typed reads from one JSON object, with errors that name the field's path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise BundleError(f"manifest: {where} must be an object, got {type(data).__name__}")
        self.data, self.where = data, where

    def _get(self, key: str, default: Any, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise BundleError(f"manifest: {self.where}.{key} is missing")
            return default
        return self.data[key]

    def typed(
        self, key: str, kinds: type | tuple[type, ...], default: Any = None, required: bool = True
    ) -> Any:
        value = self._get(key, default, required)
        if value is default and not required:
            return value
        if isinstance(value, bool) and bool not in (
            kinds if isinstance(kinds, tuple) else (kinds,)
        ):
            raise BundleError(f"manifest: {self.where}.{key} must not be a boolean")
        if not isinstance(value, kinds):
            names = "/".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
            raise BundleError(f"manifest: {self.where}.{key} must be {names}, got {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...] | dict, required: bool = True) -> Any:
        value = self.typed(key, str, required=required)
        if value is not None and value not in options:
            raise BundleError(
                f"manifest: {self.where}.{key} is {value!r}; expected one of {list(options)}"
            )
        return value

    def file_name(self, key: str = "file") -> str:
        """A plain file name inside the bundle: no folder, not hidden, not empty."""
        name = self.typed(key, str)
        if "/" in name or "\\" in name or name.startswith(".") or not name:
            raise BundleError(
                f"manifest: {self.where}.{key} must be a plain file name, got {name!r}"
            )
        return name

    def sha256(self, key: str = "sha256") -> str:
        sha = self.typed(key, str)
        if not _SHA256.match(sha):
            raise BundleError(
                f"manifest: {self.where}.{key} must be 64 lowercase hex digits, got {sha!r}"
            )
        return sha

    def per_precision(self, key: str) -> dict[str, float]:
        """A positive number per model precision (tolerances)."""
        values = self.typed(key, dict)
        for k, v in values.items():
            if (
                k not in PRECISIONS
                or isinstance(v, bool)
                or not isinstance(v, (int, float))
                or v <= 0
            ):
                raise BundleError(
                    f"manifest: {self.where}.{key}.{k} = {v!r}; expected a positive number per "
                    f"precision {PRECISIONS}"
                )
        return {k: float(v) for k, v in values.items()}

    def non_negative_int(self, key: str, required: bool = True) -> int | None:
        value = self.typed(key, int, required=required)
        if value is not None and value < 0:
            raise BundleError(f"manifest: {self.where}.{key} must be >= 0, got {value}")
        return value


def dims_agree(declared: Sequence[int | None], actual: Sequence[int | None]) -> bool:
    """Same rank, and every dimension fixed on both sides is equal (None matches any size)."""
    return len(declared) == len(actual) and all(
        d is None or a is None or d == a for d, a in zip(declared, actual, strict=True)
    )


@dataclass(frozen=True)
class Quantization:
    """Affine int quantisation of a tensor: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output. ``None`` in ``shape`` is a dimension of any size (e.g. batch)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    quantization: Quantization | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorSpec:
        f = _Fields(data, where)
        shape = f.typed("shape", list)
        for i, d in enumerate(shape):
            if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
                raise BundleError(
                    f"manifest: {where}.shape[{i}] must be a positive integer or null, got {d!r}"
                )
        dtype = f.choice("dtype", DTYPES)
        q = data.get("quantization")
        quant = None
        if q is not None:
            qf = _Fields(q, f"{where}.quantization")
            scale = qf.typed("scale", (int, float))
            if not scale > 0:
                raise BundleError(f"manifest: {where}.quantization.scale must be > 0, got {scale}")
            quant = Quantization(float(scale), qf.typed("zero_point", int))
            if dtype not in ("int8", "uint8", "int16"):
                raise BundleError(f"manifest: {where} has quantization but dtype {dtype}")
        return cls(f.typed("name", str), tuple(shape), dtype, quant)


@dataclass(frozen=True)
class ModelFile:
    """One model file of the bundle, in one format and precision."""

    file: str
    format: str
    precision: str
    sha256: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ModelFile:
        f = _Fields(data, where)
        name = f.file_name()
        fmt = f.choice("format", FORMATS)
        if not name.endswith(FORMATS[fmt]):
            raise BundleError(
                f"manifest: {where}.file {name!r} does not end in {FORMATS[fmt]} for format {fmt}"
            )
        sha = f.sha256()
        inputs = tuple(
            TensorSpec.from_dict(t, f"{where}.inputs[{i}]")
            for i, t in enumerate(f.typed("inputs", list))
        )
        outputs = tuple(
            TensorSpec.from_dict(t, f"{where}.outputs[{i}]")
            for i, t in enumerate(f.typed("outputs", list))
        )
        if not inputs or not outputs:
            raise BundleError(f"manifest: {where} needs at least one input and one output")
        return cls(
            name,
            fmt,
            f.choice("precision", PRECISIONS),
            sha,
            f.non_negative_int("size_bytes"),
            inputs,
            outputs,
        )


@dataclass(frozen=True)
class Reference:
    """Held-out real inputs and the float model's outputs on them, shipped in the bundle so that
    `models verify` checks every model against what it should compute (not against another
    engine on random noise). `mean_tolerance` bounds the mean |difference| per precision, as
    the manifest's `tolerance` bounds the largest."""

    file: str
    sha256: str
    size_bytes: int
    examples: int
    mean_tolerance: dict[str, float]
    rule: str = ""
    #: What the build measured per model file on these examples (largest and mean |difference|).
    measured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str = "reference") -> Reference:
        f = _Fields(data, where)
        name = f.file_name()
        if not name.endswith(".npz"):
            raise BundleError(f"manifest: {where}.file must be a .npz file, got {name!r}")
        sha = f.sha256()
        mean = f.per_precision("mean_tolerance")
        examples = f.non_negative_int("examples")
        if examples < 1:
            raise BundleError(f"manifest: {where}.examples must be at least 1")
        return cls(
            name,
            sha,
            f.non_negative_int("size_bytes"),
            examples,
            mean,
            f.typed("rule", str, default="", required=False),
            f.typed("measured", dict, default={}, required=False),
        )


@dataclass(frozen=True)
class Task:
    """What the outputs mean: A/D/V-style regression, ordered class labels, or ordinal levels."""

    kind: str
    outputs: tuple[str, ...]
    labels: tuple[str, ...] = ()
    levels: int | None = None
    value_range: tuple[float, float] | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str = "task") -> Task:
        f = _Fields(data, where)
        kind = f.choice("kind", TASK_KINDS)
        outputs = tuple(f.typed("outputs", list))
        labels = tuple(f.typed("labels", list, default=[], required=kind == "classification"))
        levels = f.typed("levels", int, required=kind == "ordinal")
        vr = f.typed("value_range", list, required=False)
        if not outputs or not all(isinstance(o, str) for o in outputs):
            raise BundleError(f"manifest: {where}.outputs must be a non-empty list of names")
        if kind == "classification" and (
            len(labels) < 2 or not all(isinstance(x, str) for x in labels)
        ):
            raise BundleError(
                f"manifest: {where}.labels must list at least two class names in output order"
            )
        if kind == "ordinal" and levels < 2:
            raise BundleError(f"manifest: {where}.levels must be >= 2, got {levels}")
        if vr is not None and (len(vr) != 2 or not vr[0] < vr[1]):
            raise BundleError(f"manifest: {where}.value_range must be [low, high] with low < high")
        return cls(kind, outputs, labels, levels, tuple(vr) if vr is not None else None)


@dataclass(frozen=True)
class Provenance:
    """Where a model came from. Every bundle says what taught it, on what, and under which licence."""

    teacher: str
    data: str
    date: str
    source_revision: str
    licence: str
    notes: str = ""

    @classmethod
    def from_dict(cls, data: Any, where: str = "provenance") -> Provenance:
        f = _Fields(data, where)
        values = {
            k: f.typed(k, str) for k in ("teacher", "data", "date", "source_revision", "licence")
        }
        for k, v in values.items():
            if not v.strip():
                raise BundleError(f"manifest: {where}.{k} must not be empty")
        return cls(**values, notes=f.typed("notes", str, default="", required=False))


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    name: str
    version: str
    modality: str
    task: Task
    front_end: FrontEndSpec
    models: tuple[ModelFile, ...]
    params: int
    macs: int
    provenance: Provenance
    #: Largest |difference| allowed between a model of this precision and the float model (on
    #: the reference examples where the bundle has them; else between engines of one precision).
    tolerance: dict[str, float]
    measured: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    reference: Reference | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        f = _Fields(data, "manifest")
        version = f.typed("schema_version", int)
        if version != SCHEMA_VERSION:
            raise BundleError(
                f"manifest: schema_version {version} is not supported by this affect-edge "
                f"(it reads version {SCHEMA_VERSION}); rebuild the bundle or upgrade affect-edge"
            )
        models = tuple(
            ModelFile.from_dict(m, f"models[{i}]") for i, m in enumerate(f.typed("models", list))
        )
        if not models:
            raise BundleError("manifest: models must list at least one model file")
        names = [m.file for m in models]
        if len(set(names)) != len(names):
            raise BundleError(f"manifest: models lists a file twice: {names}")
        front_end = parse_front_end(f.typed("front_end", dict))
        check_input_shapes(front_end, models)
        tolerance = f.per_precision("tolerance")
        untold = sorted({m.precision for m in models} - set(tolerance))
        if untold:
            raise BundleError(
                f"manifest: tolerance gives no value for precision(s) {untold} of its models"
            )
        return cls(
            schema_version=version,
            name=f.typed("name", str),
            version=f.typed("version", str),
            modality=f.choice("modality", MODALITIES),
            task=Task.from_dict(f.typed("task", dict)),
            front_end=front_end,
            models=models,
            params=f.non_negative_int("params"),
            macs=f.non_negative_int("macs"),
            provenance=Provenance.from_dict(f.typed("provenance", dict)),
            tolerance=tolerance,
            measured=f.typed("measured", dict, default={}, required=False),
            description=f.typed("description", str, default="", required=False),
            reference=_reference(data, {m.precision for m in models}, names),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (lists, not tuples), as written to manifest.json."""
        out = asdict(self)
        out["front_end"] = self.front_end.to_dict()
        return json.loads(json.dumps(out))

    def model(self, fmt: str | None = None, precision: str | None = None) -> ModelFile:
        """The model file of a format and precision; int8 first, then fp16, then fp32."""
        candidates = [
            m
            for m in self.models
            if (fmt is None or m.format == fmt) and (precision is None or m.precision == precision)
        ]
        if not candidates:
            have = ", ".join(f"{m.format}/{m.precision}" for m in self.models)
            want = f"{fmt or 'any format'}/{precision or 'any precision'}"
            raise BundleError(f"bundle {self.name!r} has no {want} model; it has: {have}")
        order = {"int8": 0, "fp16": 1, "fp32": 2}
        return min(candidates, key=lambda m: order[m.precision])


def _reference(data: dict, precisions: set[str], model_files: list[str]) -> Reference | None:
    if data.get("reference") is None:
        return None
    ref = Reference.from_dict(data["reference"])
    if ref.file in model_files:
        raise BundleError(f"manifest: reference.file {ref.file!r} is also listed as a model")
    untold = sorted(precisions - set(ref.mean_tolerance))
    if untold:
        raise BundleError(
            f"manifest: reference.mean_tolerance gives no value for precision(s) {untold}"
        )
    return ref


def check_input_shapes(front_end: FrontEndSpec, models: Sequence[ModelFile]) -> None:
    """Every model's first input must take what the front end produces (batch axis aside)."""
    produced = front_end.input_shape()
    if produced is None:
        return
    for i, m in enumerate(models):
        spec = m.inputs[0]
        if not dims_agree(produced, spec.shape[1:]):
            raise BundleError(
                f"manifest: front_end ({front_end.kind}) produces model inputs of shape "
                f"{list(produced)} per example, but models[{i}] ({m.file}) input {spec.name!r} takes "
                f"{['batch' if d is None else d for d in spec.shape]}: the front end and the model "
                "disagree; fix front_end or rebuild the bundle"
            )
