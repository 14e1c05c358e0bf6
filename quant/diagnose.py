"""Turn exporter failures into one line that names the unsupported operator and the layer using it."""

from __future__ import annotations

import re

import torch

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PATTERNS = (
    re.compile(r"Lowering not found: (\S+)"),  # litert-torch
    re.compile(r"No ONNX function found for <OpOverload\(op='([^']+)'"),  # torch.onnx dynamo
)


def unsupported_op(message: str) -> str | None:
    for pattern in _PATTERNS:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def layer_of(module: torch.nn.Module, example: torch.Tensor, op_name: str) -> str:
    """Module path and type of the first graph node whose target mentions the op's base name.

    Decompositions rename ops (aten.cumprod becomes prims.prod), so the match is on the base
    name ('prod' also finds 'cumprod'), searched in the graph before decomposition.
    """
    try:
        program = torch.export.export(module, (example,))
    except Exception:
        return "an unknown layer"
    parts = op_name.split(".")
    base = parts[1] if len(parts) > 1 else parts[0]
    for node in program.graph.nodes:
        if node.op == "call_function" and base in str(node.target):
            stack = node.meta.get("nn_module_stack") or {}
            if not stack:
                return "the top-level forward()"
            path, kind = list(stack.values())[-1]
            kind_name = getattr(kind, "__name__", str(kind)).split(".")[-1]
            return f"layer '{path or '(top level)'}' ({kind_name})"
    return "a layer not visible before decomposition"


def explain(tool: str, module: torch.nn.Module, example: torch.Tensor, exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc))
    op = unsupported_op(text)
    name = type(module).__name__
    if op:
        return (
            f"{tool} cannot convert operator {op} used by {layer_of(module, example, op)} of {name}"
        )
    first = next((line for line in text.splitlines() if line.strip()), "")
    return f"{tool} could not convert {name}: {first[:300]}"
