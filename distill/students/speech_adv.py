"""speech_adv: a Wav2Small-scale A/D/V student on the streaming log-mel, chunk-wise.

Input (batch, 1, 100 frames, 40 mels): one second of the device's log-mel (10 ms hop) minus the
window's mean (the front end's window_norm "mean", applied by the pipeline and by training: level
carries no affect here and varies by microphone; outside the network so that the int8 model's
input is int8 too). A strided stem and four depthwise-separable blocks shrink time and frequency, time and frequency are
averaged, and a small head with a sigmoid gives arousal, dominance, valence in [0, 1].
Pooling is a plain mean, not Wav2Small's softmax attention: TFLite's int8 SOFTMAX needs a fixed
output scale (1/256) that the PT2E quantiser does not keep when the softmax feeds a multiply, so
such a model does not load in LiteRT; silence is left out by the pipeline's voice-activity gate. With the default widths: about 30 K parameters
and about 4 M MACs per window. The device keeps the last 100 frames (bounded state) and runs the
model every `update_s`; MACs per second of audio = MACs per window / update_s.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.students import register


class SeparableBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.pointwise(self.depthwise(x))))


class SpeechAdv(nn.Module):
    def __init__(
        self, widths: tuple[int, ...] = (24, 48, 64, 96, 96), head: int = 48, n_outputs: int = 3
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, stride=(1, 2), padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        strides = [(2, 2), (1, 2), (2, 1), (1, 1)]
        self.blocks = nn.Sequential(
            *[SeparableBlock(widths[i], widths[i + 1], strides[i]) for i in range(len(widths) - 1)]
        )
        self.head = nn.Sequential(
            nn.Linear(widths[-1], head), nn.ReLU(), nn.Linear(head, n_outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.blocks(self.stem(x)).mean(dim=(2, 3))
        return torch.sigmoid(self.head(pooled))


@register("speech_adv")
def speech_adv(
    widths: tuple[int, ...] = (24, 48, 64, 96, 96), head: int = 48, n_outputs: int = 3
) -> SpeechAdv:
    return SpeechAdv(tuple(widths), head, n_outputs)
