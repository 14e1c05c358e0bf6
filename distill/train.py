"""The training loop for A/D/V regressors on log-mel features: CCC loss, AdamW, early stopping.

Loss: 1 - CCC per output on the batch, averaged (batch statistics, so larger batches estimate it
better). Each step takes random crops of `crop_frames` from the examples' feature maps; validation
averages the model over overlapping windows of each utterance and scores utterance-level CCC
against the targets. The best validation state is kept; training stops after `patience` epochs
without improvement. Seeds fix crops, batches and initialisation.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from distill.metrics import ccc
from edge.dsp.logmel import subtract_window_mean

log = logging.getLogger(__name__)


@dataclass
class Examples:
    """Feature maps (frames, n_mels) with their (3,) targets and a group (utterance) id each."""

    features: list[np.ndarray]
    targets: np.ndarray
    groups: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 40
    steps_per_epoch: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    patience: int = 8
    crop_frames: int = 100
    seed: int = 0
    #: Subtract each window's mean before the model sees it (speech bundles' window_norm "mean").
    window_mean: bool = False


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - CCC per column, averaged; population statistics over the batch."""
    mp, mt = pred.mean(dim=0), target.mean(dim=0)
    vp, vt = pred.var(dim=0, unbiased=False), target.var(dim=0, unbiased=False)
    cov = ((pred - mp) * (target - mt)).mean(dim=0)
    return (1.0 - 2.0 * cov / (vp + vt + (mp - mt) ** 2 + 1e-8)).mean()


def _crop(x: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) < frames:
        x = np.pad(x, ((0, frames - len(x)), (0, 0)), mode="edge")
    start = rng.integers(0, len(x) - frames + 1)
    return x[start : start + frames]


def windows(x: np.ndarray, frames: int, hop: int) -> np.ndarray:
    """Overlapping windows (n, frames, n_mels) covering a feature map (padded if short)."""
    if len(x) < frames:
        x = np.pad(x, ((0, frames - len(x)), (0, 0)), mode="edge")
    starts = list(range(0, len(x) - frames + 1, hop)) or [0]
    if starts[-1] != len(x) - frames:
        starts.append(len(x) - frames)
    return np.stack([x[s : s + frames] for s in starts])


def _normalised(batch: np.ndarray, window_mean: bool) -> np.ndarray:
    return subtract_window_mean(batch) if window_mean else batch


def predict_utterances(
    model: torch.nn.Module,
    ex: Examples,
    frames: int,
    hop: int | None = None,
    window_mean: bool = False,
) -> np.ndarray:
    """(n, 3) utterance-level outputs: the model's mean over each example's windows."""
    model.eval()
    out = []
    with torch.no_grad():
        for x in ex.features:
            w = _normalised(windows(x, frames, hop or max(1, frames // 2)), window_mean)
            out.append(model(torch.from_numpy(w[:, None]).float()).mean(dim=0).numpy())
    return np.asarray(out, dtype=np.float64)


def fit(
    model: torch.nn.Module,
    train: Examples,
    val: Examples | None,
    config: FitConfig = FitConfig(),
    on_epoch: Callable[[int, float, float | None], None] | None = None,
) -> dict:
    """Train in place; returns a report (best epoch, validation CCC per output, losses)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    targets = torch.from_numpy(np.asarray(train.targets, dtype=np.float32))
    best = {"score": -np.inf, "epoch": -1, "state": None, "ccc": None}
    history = []
    for epoch in range(config.epochs):
        model.train()
        losses = []
        for _ in range(config.steps_per_epoch):
            idx = rng.integers(0, len(train), config.batch_size)
            crops = np.stack([_crop(train.features[i], config.crop_frames, rng) for i in idx])
            batch = _normalised(crops, config.window_mean)[:, None]
            loss = ccc_loss(model(torch.from_numpy(batch).float()), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        score, per_output = None, None
        if val is not None and len(val):
            student = predict_utterances(
                model, val, config.crop_frames, window_mean=config.window_mean
            )
            per_output = ccc(val.targets, student)
            score = float(np.mean(per_output))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_ccc": score})
        if on_epoch:
            on_epoch(epoch, float(np.mean(losses)), score)
        current = score if score is not None else -float(np.mean(losses))
        if current > best["score"]:
            best = {
                "score": current,
                "epoch": epoch,
                "state": copy.deepcopy(model.state_dict()),
                "ccc": None if per_output is None else [float(v) for v in per_output],
            }
        elif epoch - best["epoch"] >= config.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            break
    model.load_state_dict(best["state"])
    model.eval()
    return {
        "best_epoch": best["epoch"],
        "val_ccc": best["ccc"],
        "epochs_run": len(history),
        "history": history,
        "config": asdict(config),
    }
