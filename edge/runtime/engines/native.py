"""The native engine: HiSTN students run by affect-edge's own C99 kernel (`edge/dsp/c/ae_histn.c`),
no interpreter.

It runs a bundle's fp32 ONNX model when that model is HiSTN's export form
(`HiSTN.for_export`: temporal conv, slice, ELU, depthwise conv, ELU, average pooling, one
matrix): the weights are read from the ONNX file's initialisers (the file the manifest lists,
its sha256 checked when the bundle is read), by the small protobuf reader below, so the engine
needs neither the `onnx` package nor a second copy of the weights. Any other graph is a
`BundleError` saying what differs. Its outputs equal ONNX Runtime's on the same file within
1e-5 (tests/test_eeg_native.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from edge.dsp._histn import HistnKernel
from edge.errors import BundleError
from edge.runtime.bundle import Bundle
from edge.runtime.engines.base import Engine
from edge.runtime.manifest import ModelFile

# --- a minimal reader of the ONNX protobuf fields the export form uses ---------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value): an int for varints, bytes otherwise."""
    out, i, n = [], 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not one ONNX uses")
        out.append((field, wire, value))
    return out


def _ints(fields: list, number: int) -> list[int]:
    """A repeated int64 field, packed or not (negative values as two's complement)."""
    out: list[int] = []
    for f, wire, v in fields:
        if f != number:
            continue
        if wire == 0:
            out.append(v)
        else:
            i = 0
            while i < len(v):
                x, i = _varint(v, i)
                out.append(x)
    return [x - (1 << 64) if x >= 1 << 63 else x for x in out]


def _strings(fields: list, number: int) -> list[str]:
    return [v.decode() for f, _, v in fields if f == number]


@dataclass
class _Node:
    op: str
    inputs: list[str]
    attrs: dict[str, object]


def _node(buf: bytes) -> _Node:
    fields = _fields(buf)
    attrs: dict[str, object] = {}
    for f, _, v in fields:
        if f != 5:
            continue
        a = _fields(v)
        name = _strings(a, 1)[0]
        floats = [struct.unpack("<f", x)[0] for g, _, x in a if g == 2]
        ints = _ints(a, 3)
        many = _ints(a, 8)
        attrs[name] = floats[0] if floats else ints[0] if ints else tuple(many)
    return _Node(_strings(fields, 4)[0], _strings(fields, 1), attrs)


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    fields = _fields(buf)
    dims = _ints(fields, 1)
    dtype = {1: np.float32, 7: np.int64}.get(next((v for f, _, v in fields if f == 2), 0))
    name = _strings(fields, 8)[0]
    raw = [v for f, _, v in fields if f == 9]
    if dtype is None:
        return name, np.zeros(0)
    if raw:
        data = np.frombuffer(raw[0], dtype=np.dtype(dtype).newbyteorder("<"))
    elif dtype is np.float32:
        data = np.concatenate(
            [np.frombuffer(v, "<f4") for f, w, v in fields if f == 4 and w == 2]
            + [
                np.array([struct.unpack("<f", v)[0]], np.float32)
                for f, w, v in fields
                if f == 4 and w == 5
            ]
        )
    else:
        data = np.array(_ints(fields, 7), dtype=np.int64)
    return name, data.astype(dtype).reshape(dims)


def read_onnx(data: bytes) -> tuple[list[_Node], dict[str, np.ndarray]]:
    """The graph's nodes in order and its initialisers by name."""
    graph = next(v for f, _, v in _fields(data) if f == 7)
    nodes, weights = [], {}
    for f, _, v in _fields(graph):
        if f == 1:
            nodes.append(_node(v))
        elif f == 5:
            name, array = _tensor(v)
            weights[name] = array
    return nodes, weights


# --- the export form's weights -------------------------------------------------------------

EXPORT_FORM = ("Conv", "Slice", "Elu", "Conv", "Elu", "AveragePool", "Reshape", "Gemm")


def histn_weights(data: bytes, samples: int, electrodes: int) -> dict:
    """The keyword arguments of `HistnKernel` from an fp32 ONNX of HiSTN's export form; a
    `ValueError` saying what differs for any other graph."""
    nodes, w = read_onnx(data)
    ops = tuple(n.op for n in nodes)
    # An odd kernel's "same" conv needs no Slice after it.
    if ops not in (EXPORT_FORM, EXPORT_FORM[:1] + EXPORT_FORM[2:]):
        raise ValueError(
            f"its operations are {list(ops)}, not HiSTN's export form {list(EXPORT_FORM)}"
        )
    if len(nodes) == len(EXPORT_FORM):
        del nodes[1]
    conv, elu1, depth, elu2, pool, _, gemm = nodes
    temporal = w[conv.inputs[1]]
    maps, _, taps, _ = temporal.shape
    pads = conv.attrs.get("pads", (0, 0, 0, 0))
    if (
        temporal.shape[1] != 1
        or temporal.shape[3] != 1
        or conv.attrs.get("group", 1) != 1
        or tuple(conv.attrs.get("strides", (1, 1))) != (1, 1)
        or tuple(conv.attrs.get("dilations", (1, 1))) != (1, 1)
        or pads[1] != 0
        or pads[3] != 0
        or pads[0] + pads[2] + 1 < taps
    ):
        raise ValueError(f"its temporal conv is {temporal.shape} with {conv.attrs}")
    dw = w[depth.inputs[1]]
    d_taps = dw.shape[2]
    if (
        dw.shape != (maps, 1, d_taps, 1)
        or depth.attrs.get("group") != maps
        or tuple(depth.attrs.get("pads", ())) != (d_taps // 2, 0, d_taps // 2, 0)
        or d_taps % 2 == 0
    ):
        raise ValueError(f"its depthwise conv is {dw.shape} with {depth.attrs}")
    for e in (elu1, elu2):
        if abs(float(e.attrs.get("alpha", 1.0)) - 1.0) > 1e-12:
            raise ValueError(f"an ELU has alpha {e.attrs['alpha']}")
    if (
        tuple(pool.attrs.get("kernel_shape", ())) != (2, 1)
        or tuple(pool.attrs.get("strides", ())) != (2, 1)
        or any(pool.attrs.get("pads", (0, 0, 0, 0)))
    ):
        raise ValueError(f"its pooling is {pool.attrs}")
    head = w[gemm.inputs[1]]
    half = samples // 2
    if gemm.attrs.get("transB") != 1 or head.shape[1] != maps * half * electrodes:
        raise ValueError(f"its matrix is {head.shape}, for {maps} maps x {half} x {electrodes}")
    levels = head.shape[0]
    # ONNX flattens (maps, time, electrodes), the order the kernel reads.
    head = head.reshape(levels, maps, half, electrodes)
    return {
        "temporal": temporal[:, 0, :, 0],
        "temporal_bias": w[conv.inputs[2]] if len(conv.inputs) > 2 else np.zeros(maps),
        "depth": dw[:, 0, :, 0],
        "depth_bias": w[depth.inputs[2]] if len(depth.inputs) > 2 else np.zeros(maps),
        "head": head,
        "head_bias": w[gemm.inputs[2]] if len(gemm.inputs) > 2 else np.zeros(levels),
        "samples": samples,
        "electrodes": electrodes,
        "pad": int(pads[0]),
    }


class NativeEngine(Engine):
    """HiSTN's export form on the C kernel; takes the bundle's fp32 ONNX model."""

    kind = "native"
    reads = "onnx"

    def __init__(self, bundle: Bundle, model: ModelFile, threads: int = 1) -> None:
        super().__init__(bundle, model, threads)
        if model.precision != "fp32":
            raise BundleError(
                f"{self._where()}: the native engine runs fp32 models, not {model.precision}"
            )
        spec = model.inputs[0]
        if len(model.inputs) != 1 or len(model.outputs) != 1 or len(spec.shape) != 4:
            raise BundleError(
                f"{self._where()}: the native engine runs one (batch, 1, samples, electrodes) input"
            )
        _, _, samples, electrodes = spec.shape
        try:
            weights = histn_weights(bundle.model_bytes(model), samples, electrodes)
            self.kernel = HistnKernel(**weights)
        except (ValueError, KeyError, IndexError, StopIteration) as exc:
            raise BundleError(
                f"{self._where()}: the native engine runs HiSTN's export form only: {exc}"
            ) from None
        self.runtime = "affect-edge native HiSTN kernel (C99)"
        self.levels = self.kernel.levels
        self.samples, self.electrodes = samples, electrodes

    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        x = arrays[0]
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        # The base class checked the shape (batch, 1, samples, electrodes) and the dtype.
        return [self.kernel.score(x)]
