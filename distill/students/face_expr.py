"""face_expr: a tiny facial-expression student for the device's face crops.

Input (batch, 1, 48, 48): the grey, eye-levelled crop of `edge.frontends.face.crop`, in [-1, 1].
A strided stem and depthwise-separable blocks (three of them strided) shrink 48x48 to 3x3; global
average pooling and one linear layer give seven expression logits. The softmax is left to the
pipeline: litert-torch's PT2E quantiser puts a second quantiser on a final softmax, and the
full-integer TFLite model then keeps a float output. With the default widths: about 23 K
parameters and about 2.1 M MACs per face. The student underfits its teachers, so its parameters
go to width (the narrower 18 K version agreed 2.6 points less often with the ensemble on
validation crops after 12 epochs) and there is no dropout; more resolution (no stride in the
second block) did not help.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.students import register


class _Separable(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # No norm or activation between the two convs: one fused int8 step per block.
        return torch.relu(self.bn(self.pointwise(self.depthwise(x))))


class FaceExpr(nn.Module):
    def __init__(
        self,
        widths: tuple[int, ...] = (24, 40, 56, 72, 80, 80),
        strides: tuple[int, ...] = (1, 2, 1, 2, 2),
        n_classes: int = 7,
        dropout: float = 0.0,
        stem_stride: int = 2,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(
            *[_Separable(widths[i], widths[i + 1], strides[i]) for i in range(len(widths) - 1)]
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.blocks(self.stem(x)).mean(dim=(2, 3))))

    logits = forward


@register("face_expr")
def face_expr(
    widths: tuple[int, ...] = (24, 40, 56, 72, 80, 80),
    strides: tuple[int, ...] = (1, 2, 1, 2, 2),
    n_classes: int = 7,
    dropout: float = 0.0,
    stem_stride: int = 2,
) -> FaceExpr:
    return FaceExpr(tuple(widths), tuple(strides), n_classes, dropout, stem_stride)


class _Module(nn.Module):
    """Two separable convolutions, the second strided, beside a strided 1x1 shortcut: the
    residual module of mini-Xception (Arriaga et al. 2017), with a strided depthwise
    convolution where it has a max-pool (one op fewer to quantise, a quarter of the MACs)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.first = _Separable(c_in, c_out, 1)
        self.depthwise = nn.Conv2d(c_out, c_out, 3, stride=2, padding=1, groups=c_out, bias=False)
        self.pointwise = nn.Conv2d(c_out, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), nn.BatchNorm2d(c_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(self.pointwise(self.depthwise(self.first(x))))
        return torch.relu(h + self.shortcut(x))


class FaceExprRes(nn.Module):
    """A full-resolution stem, then residual modules that halve the map each (48 -> 3 with four),
    global average pooling and one linear layer; logits out, as `FaceExpr`."""

    def __init__(
        self, stem: int = 16, widths: tuple[int, ...] = (16, 32, 64, 112), n_classes: int = 7
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU()
        )
        ins = (stem, *widths[:-1])
        self.blocks = nn.Sequential(*[_Module(a, b) for a, b in zip(ins, widths, strict=True)])
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    logits = forward


@register("face_expr_res")
def face_expr_res(
    stem: int = 16, widths: tuple[int, ...] = (16, 32, 64, 112), n_classes: int = 7
) -> FaceExprRes:
    return FaceExprRes(stem, tuple(widths), n_classes)


class _ConvBn(nn.Module):
    """A full 3x3 convolution, batch norm and ReLU; with `residual`, the input is added before
    the ReLU (stride 1 and the same width only)."""

    def __init__(self, c_in: int, c_out: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.residual = residual and stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(self.conv(x))
        return torch.relu(h + x if self.residual else h)


class FaceExprPlain(nn.Module):
    """Full 3x3 convolutions only (VGG-like), strided where `strides` says, global average pooling
    and one linear layer; logits out, as `FaceExpr`. A full convolution stores 9 x c_in weights
    per output channel, a depthwise one 9: with TFLite's per-channel int8 costing 28 bytes a
    channel (a scale and an int64 zero point for the weights and again for the bias), the same
    80 KB file holds about 60 K parameters of full convolutions against about 40 K of
    depthwise-separable ones."""

    def __init__(
        self,
        widths: tuple[int, ...] = (16, 24, 24, 32, 32, 48, 44),
        strides: tuple[int, ...] = (1, 2, 1, 2, 1, 2, 1),
        residual: bool = False,
        n_classes: int = 7,
    ) -> None:
        super().__init__()
        ins = (1, *widths[:-1])
        self.body = nn.Sequential(
            *[_ConvBn(a, b, s, residual) for a, b, s in zip(ins, widths, strides, strict=True)]
        )
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))

    logits = forward


@register("face_expr_plain")
def face_expr_plain(
    widths: tuple[int, ...] = (16, 24, 24, 32, 32, 48, 44),
    strides: tuple[int, ...] = (1, 2, 1, 2, 1, 2, 1),
    residual: bool = False,
    n_classes: int = 7,
) -> FaceExprPlain:
    return FaceExprPlain(tuple(widths), tuple(strides), residual, n_classes)
