"""tiny_conv: a small 2-D conv net over a (time x features) map, for tests and quick baselines.

Input (batch, 1, frames, features), e.g. log-mel frames; two conv blocks (the second strided),
global average pooling, one linear layer. About 1.2 K parameters with the defaults.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.students import register


class TinyConv(nn.Module):
    def __init__(self, n_outputs: int = 3, channels: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * channels)
        self.head = nn.Linear(2 * channels, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.head(x.mean(dim=(2, 3)))


@register("tiny_conv")
def tiny_conv(n_outputs: int = 3, channels: int = 8) -> TinyConv:
    return TinyConv(n_outputs=n_outputs, channels=channels)
