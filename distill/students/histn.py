"""histn: a HiSTN-style hierarchical spatio-temporal graph network for EEG, for any headset's graph.

Built from the layer list in ../shared/REFERENCES.md (Kuang, Song, Michoski, arXiv 2408.15255),
parameterised by a device graph: the electrode names, their grouping into brain regions
(`regions_for` derives them from 10-20 names when not given), and the adjacency inside each
region (neighbours in the listed order unless edges are given), so one code builds the
14-channel Emotiv/DREAMER graph, Muse's 4 channels or OpenBCI's 8 and 16.

Input (batch, 1, samples, electrodes): a 1 s window (128 samples at 128 Hz for DREAMER).
1. Temporal conv: `filters` kernels of `kernel` samples over time, no bias ("same" padding).
2. Depthwise mix of the filter maps into `maps` maps, BN, ELU; a depthwise (5 x 1) conv per map,
   BN, ELU; average pooling over time by 2.
3. Node level, per region: an order-2 Chebyshev graph filter on the region's scaled Laplacian
   (3 scalar weights per region), then a separable 1-D conv over time (k=5, depthwise per map,
   then a pointwise map mix), added back to its input (residual).
4. Region level: per region, learned node weights pool the region into one signal; an order-2
   Chebyshev filter over the ring of regions.
5. Global level: learned region weights give one signal.
Deviation from the paper: its attention weights come from a softmax over scores of the input;
here they are learned constants. LiteRT's int8 SOFTMAX needs a fixed output scale (1/256) that
the PT2E quantiser does not keep when a softmax feeds a multiply, so such a model does not load
as full-integer TFLite (measured: "output->params.scale not near 1.f / 256").
6. The electrodes, regions and the global signal side by side (14 + 4 + 1 = 19 for DREAMER),
   averaged over time, and one linear layer to `levels` ordinal classes (5 rating levels).
With the DREAMER graph and the defaults: about 1.2 K parameters.

Export (`HiSTN.for_export`, used by quant/): the same function rewritten as a temporal conv of
`maps` folded kernels, a depthwise conv and one matrix for the linear hierarchy (`_Deployed`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from distill.students import register
from edge.errors import ConfigError

#: DREAMER's (Emotiv EPOC) electrodes and the paper's four regions.
DREAMER_REGIONS = (
    ("AF3", "F7", "F3", "FC5"),
    ("T7", "P7", "O1"),
    ("O2", "P8", "T8"),
    ("FC6", "F4", "F8", "AF4"),
)


def scaled_laplacian(adjacency: np.ndarray) -> np.ndarray:
    """2 L / lambda_max - I for the symmetric normalised Laplacian L (zeros for a lone node)."""
    a = np.asarray(adjacency, dtype=np.float64)
    n = len(a)
    if n == 1 or not a.any():
        return np.zeros((n, n))
    degree = a.sum(1)
    inv = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-12)), 0.0)
    lap = np.eye(n) - inv[:, None] * a * inv[None, :]
    lam = max(float(np.linalg.eigvalsh(lap).max()), 1e-6)
    return 2.0 * lap / lam - np.eye(n)


def chain(n: int) -> np.ndarray:
    a = np.zeros((n, n))
    for i in range(n - 1):
        a[i, i + 1] = a[i + 1, i] = 1.0
    return a


def ring(n: int) -> np.ndarray:
    a = chain(n)
    if n > 2:
        a[0, -1] = a[-1, 0] = 1.0
    return a


class Chebyshev2(nn.Module):
    """y = t0 x + t1 L x + t2 (2 L^2 - I) x over the last axis (the graph's nodes)."""

    def __init__(self, laplacian: np.ndarray) -> None:
        super().__init__()
        lap = torch.tensor(laplacian, dtype=torch.float32)
        self.register_buffer("t1", lap.T.contiguous(), persistent=False)
        self.register_buffer(
            "t2", (2 * lap @ lap - torch.eye(len(lap))).T.contiguous(), persistent=False
        )
        self.theta = nn.Parameter(torch.tensor([1.0, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.theta[0] * x + self.theta[1] * (x @ self.t1) + self.theta[2] * (x @ self.t2)


class HiSTN(nn.Module):
    def __init__(
        self,
        channels: Sequence[str],
        regions: Sequence[Sequence[str]],
        edges: Sequence[Sequence[str]] = (),
        levels: int = 5,
        filters: int = 8,
        maps: int = 4,
        kernel: int = 64,
    ) -> None:
        super().__init__()
        channels = list(channels)
        flat = [c for r in regions for c in r]
        if sorted(flat) != sorted(channels) or len(set(flat)) != len(flat):
            raise ConfigError(
                f"regions must hold every electrode exactly once: channels {channels}, regions {list(map(list, regions))}"
            )
        self.channels, self.regions = channels, [list(r) for r in regions]
        #: The named edges inside the regions (empty: a chain in each region's listed order).
        self.edges = [list(e) for e in edges]
        # Indices of each region's electrodes in the input's electrode order.
        self.region_index = [torch.tensor([channels.index(c) for c in r]) for r in regions]
        for i, idx in enumerate(self.region_index):
            self.register_buffer(f"index_{i}", idx, persistent=False)
        # Where each electrode sits once the regions are laid side by side (a constant, so the
        # exported graph holds no sort). Graph constants are rebuilt from the configuration, never
        # loaded from a state dict.
        self.register_buffer("order", torch.cat(self.region_index).argsort(), persistent=False)
        named = {tuple(sorted(e)) for e in edges}
        laps = []
        for r in regions:
            if named:
                a = np.array([[float(tuple(sorted((p, q))) in named) for q in r] for p in r])
            else:
                a = chain(len(r))
            laps.append(scaled_laplacian(a))
        # Symmetric padding inside the conv (a separate pad on the input would stay float in
        # int8 TFLite); an even kernel then gives one extra sample, dropped in forward.
        self.temporal = nn.Conv2d(1, filters, (kernel, 1), padding=(kernel // 2, 0), bias=False)
        self.kernel = kernel
        self.mix = nn.Conv2d(filters, maps, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(maps)
        self.depth = nn.Conv2d(maps, maps, (5, 1), padding=(2, 0), groups=maps, bias=False)
        self.bn2 = nn.BatchNorm2d(maps)
        self.node_graph = nn.ModuleList(Chebyshev2(lap) for lap in laps)
        self.node_time = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(maps, maps, (5, 1), padding=(2, 0), groups=maps, bias=False),
                nn.Conv2d(maps, maps, 1, bias=False),
            )
            for _ in regions
        )
        self.region_pool = nn.ParameterList(
            nn.Parameter(torch.full((len(r), 1), 1.0 / len(r))) for r in regions
        )
        self.region_graph = Chebyshev2(scaled_laplacian(ring(len(regions))))
        self.global_pool = nn.Parameter(torch.full((len(regions), 1), 1.0 / len(regions)))
        self.head = nn.Linear(maps * (len(channels) + len(regions) + 1), levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.front(x))

    def front(self, x: torch.Tensor) -> torch.Tensor:
        """Temporal conv, mix, depthwise conv (each with BN and ELU), pooling: (B, M, T/2, C)."""
        samples = x.shape[2]
        x = self.temporal(x)[:, :, :samples]
        x = F.elu(self.bn1(self.mix(x)))
        x = F.elu(self.bn2(self.depth(x)))
        return F.avg_pool2d(x, (2, 1))

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        """Node, region and global levels and the head: linear in `x` (no activation)."""
        nodes, pooled = [], []
        for i in range(len(self.regions)):
            r = x.index_select(3, getattr(self, f"index_{i}"))
            r = self.node_graph[i](r)
            r = r + self.node_time[i](r)
            nodes.append(r)
            pooled.append(r @ self.region_pool[i])  # (B, M, T/2, 1)
        region = self.region_graph(torch.cat(pooled, dim=3))  # (B, M, T/2, R)
        top = region @ self.global_pool
        # Electrodes back in input order (regions list them grouped), then regions, then global.
        node_all = torch.cat(nodes, dim=3)
        feats = torch.cat([node_all.index_select(3, self.order), region, top], dim=3).mean(dim=2)
        return self.head(feats.flatten(1))

    def for_export(self, example: torch.Tensor) -> nn.Module:
        """The same function (eval mode) in the few operations device engines run fast."""
        return _Deployed(self, example)


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class _Deployed(nn.Module):
    """A trained HiSTN rewritten for export, computing the same outputs (to float rounding).

    - The temporal conv and the map mix have no activation between them, so they are one conv
      of `maps` kernels (the mixed kernels); the first BN folds into it, the second into the
      depthwise conv.
    - Everything after the pooling (graph filters, residual time convs, attention pools, mean
      over time, head) is linear, so it is one matrix: its columns are the tail's responses to
      unit inputs, its bias the response to zeros, both computed in float64.
    For DREAMER's graph this turns 61 TFLite operations (87 in float ONNX) into about 20 and
    halves the temporal conv's MACs; the file holds more weights (maps x T/2 x electrodes x
    levels in the last matrix, 17,920 for DREAMER) than the 1.2 K trained parameters.
    """

    def __init__(self, net: HiSTN, example: torch.Tensor) -> None:
        super().__init__()
        net = copy.deepcopy(net).double().eval()
        t, mix, depth = net.temporal, net.mix, net.depth
        s1, b1 = _bn_affine(net.bn1)
        kernels = torch.einsum("mf,fk->mk", mix.weight[:, :, 0, 0], t.weight[:, 0, :, 0])
        self.samples = example.shape[2]
        self.temporal = nn.Conv2d(1, len(kernels), t.kernel_size, padding=t.padding)
        self.depth = nn.Conv2d(
            depth.in_channels,
            depth.out_channels,
            depth.kernel_size,
            padding=depth.padding,
            groups=depth.groups,
        )
        s2, b2 = _bn_affine(net.bn2)
        with torch.no_grad():
            self.temporal.weight.copy_((kernels * s1[:, None])[:, None, :, None])
            self.temporal.bias.copy_(b1)
            self.depth.weight.copy_(depth.weight * s2[:, None, None, None])
            self.depth.bias.copy_(b2)
            shape = net.front(example.double()[:1]).shape[1:]
            size = int(np.prod(shape))
            zero = net.tail(torch.zeros(1, *shape, dtype=torch.float64))
            unit = net.tail(torch.eye(size, dtype=torch.float64).reshape(size, *shape)) - zero
        self.head = nn.Linear(size, unit.shape[1])
        with torch.no_grad():
            self.head.weight.copy_(unit.T)
            self.head.bias.copy_(zero[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.elu(self.temporal(x)[:, :, : self.samples])
        x = F.avg_pool2d(F.elu(self.depth(x)), (2, 1))
        return self.head(x.flatten(1))


def regions_for(channels: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Brain regions for any 10-20 montage: DREAMER's four for its 14 electrodes; otherwise
    left-anterior, left-posterior, right-posterior, right-anterior (a ring, as DREAMER's), with
    midline electrodes joining the smaller side. Empty regions are left out."""
    channels = list(channels)
    if sorted(channels) == sorted(c for r in DREAMER_REGIONS for c in r):
        return DREAMER_REGIONS
    groups: dict[tuple[str, str], list[str]] = {
        k: [] for k in (("L", "A"), ("L", "P"), ("R", "P"), ("R", "A"))
    }
    midline = []
    for name in channels:
        letters = name.rstrip("0123456789zZ").upper()
        digits = name[len(letters) :]
        part = "A" if letters in ("FP", "AF", "F", "FC", "FT") else "P"
        if digits.isdigit():
            groups[("L" if int(digits) % 2 else "R", part)].append(name)
        else:
            midline.append((name, part))
    for name, part in midline:
        side = "L" if len(groups[("L", part)]) <= len(groups[("R", part)]) else "R"
        groups[(side, part)].append(name)
    return tuple(tuple(g) for g in groups.values() if g)


@register("histn")
def histn(
    channels: Sequence[str] = tuple(c for r in DREAMER_REGIONS for c in r),
    regions: Sequence[Sequence[str]] | None = None,
    edges: Sequence[Sequence[str]] = (),
    levels: int = 5,
    filters: int = 8,
    maps: int = 4,
    kernel: int = 64,
) -> HiSTN:
    regions = regions_for(channels) if regions is None else regions
    return HiSTN(channels, regions, edges, levels, filters, maps, kernel)
