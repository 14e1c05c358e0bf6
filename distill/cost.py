"""Parameter and multiply-accumulate counts of a torch module for one input.

MACs are counted with forward hooks on the layers that carry the arithmetic: convolutions
(output elements x input channels per group x kernel size) and linear layers (output elements
x input features). Elementwise ops, pooling and normalisation are not counted (BatchNorm folds
into the preceding convolution at export).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_macs(module: nn.Module, example: torch.Tensor) -> int:
    """MACs of one forward pass on `example` (batch 1 expected; divided by the batch size)."""
    total = 0

    def conv_hook(layer: nn.modules.conv._ConvNd, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        per_output = layer.in_channels // layer.groups * math.prod(layer.kernel_size)
        total += output.numel() * per_output

    def linear_hook(layer: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * layer.in_features

    handles = []
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            module.eval()(example)
    finally:
        for h in handles:
            h.remove()
    return total // example.shape[0]
