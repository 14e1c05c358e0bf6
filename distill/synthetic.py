"""A synthetic, learnable regression task for testing and benchmarking the export path.

Examples are random (1, frames, features) maps; the three targets are simple statistics of
regions of the map, so a small conv net learns them in a few hundred steps. Nothing here is
about affect: it exists so that export, quantisation and drift can be measured on a real,
trained network without data or teachers.
"""

from __future__ import annotations

import numpy as np
import torch

from distill.checkpoint import Checkpoint
from distill.students import create

SHAPE = (1, 20, 16)
TASK = {"kind": "regression", "outputs": ["arousal", "dominance", "valence"]}
PROVENANCE = {
    "teacher": "synthetic targets (region statistics of random maps)",
    "data": "random features",
    "date": "",
    "source_revision": "",
    "licence": "Apache-2.0",
}


def features(n: int, seed: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def regression_targets(x: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            x[:, 0, :, :4].mean(axis=(1, 2)),
            x[:, 0, :10].std(axis=(1, 2)),
            x[:, 0, :, 8:].mean(axis=(1, 2)),
        ],
        axis=1,
    ).astype(np.float32)


def train(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, loss_fn, steps: int = 200, seed: int = 0
) -> None:
    """Adam, batches of 64 drawn with a fixed seed; leaves the model in eval mode."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(x), 64)
        loss = loss_fn(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def regression_student(
    channels: int = 48, n_train: int = 600, steps: int = 200
) -> tuple[Checkpoint, np.ndarray]:
    """A trained tiny_conv checkpoint and its training features (usable as calibration data)."""
    x = features(n_train, 0)
    model = create("tiny_conv", n_outputs=3, channels=channels)
    train(model, x, regression_targets(x), torch.nn.functional.mse_loss, steps=steps)
    ckpt = Checkpoint(
        "tiny_conv",
        {"n_outputs": 3, "channels": channels},
        model.state_dict(),
        SHAPE,
        dict(TASK),
        {"kind": "none"},
        dict(PROVENANCE),
        name="synthetic-regression",
    )
    return ckpt, x
