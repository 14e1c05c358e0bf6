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
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from distill.metrics import ccc
from distill.run_state import RunState
from edge.dsp.logmel import normalise_windows
from edge.errors import ConfigError

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
    #: The window normalisation the model sees (a speech bundle's front_end window_norm: "mean",
    #: "loudest"), applied to every crop and validation window; None: none.
    window_norm: str | None = None


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


def predict_utterances(
    model: torch.nn.Module,
    ex: Examples,
    frames: int,
    hop: int | None = None,
    window_norm: str | None = None,
) -> np.ndarray:
    """(n, 3) utterance-level outputs: the model's mean over each example's windows."""
    model.eval()
    out = []
    with torch.no_grad():
        for x in ex.features:
            w = normalise_windows(windows(x, frames, hop or max(1, frames // 2)), window_norm)
            out.append(model(torch.from_numpy(w[:, None]).float()).mean(dim=0).numpy())
    return np.asarray(out, dtype=np.float64)


METRICS_FIELDS = ("epoch", "loss", "val_ccc", "seconds", "lr")


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (torchrun sets RANK and WORLD_SIZE)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def fit(
    model: torch.nn.Module,
    train: Examples,
    val: Examples | None,
    config: FitConfig = FitConfig(),
    on_epoch: Callable[[int, float, float | None], None] | None = None,
    run: Path | None = None,
    resume: bool = False,
) -> dict:
    """Train in place; returns a report (best epoch, validation CCC per output, losses).

    With `run` (a folder), every epoch leaves `last.pt` there (weights, optimiser, schedule, both
    random generators, the best so far) and `best.pt` whenever validation improves, and appends a
    row to `metrics.csv`; `resume` continues from `last.pt` with the very same result as a run
    never stopped. Under torchrun (WORLD_SIZE > 1) the model trains as DistributedDataParallel:
    each rank draws its own share of every batch, gradients are averaged, and only rank 0 writes.
    """
    rank, world = rank_and_world()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed if world == 1 else [config.seed, rank])
    net = model
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        net = torch.nn.parallel.DistributedDataParallel(model)
    per_rank = max(1, config.batch_size // world)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    targets = torch.from_numpy(np.asarray(train.targets, dtype=np.float32))
    best = {"score": -np.inf, "epoch": -1, "state": None, "ccc": None}
    history: list[dict] = []
    first = 0
    files = RunState(run, asdict(config), METRICS_FIELDS, writer=rank == 0)
    if resume and (state := files.load()) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"][rank] if world > 1 else state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        best, history, first = state["best"], state["history"], state["epoch"] + 1
        log.info("resuming at epoch %d of %d from %s", first + 1, config.epochs, run)
    files.start(history)
    stopped = best["epoch"] >= 0 and first - 1 - best["epoch"] >= config.patience
    for epoch in range(first, config.epochs):
        if stopped:
            break
        started = time.perf_counter()
        net.train()
        losses = []
        for _ in range(config.steps_per_epoch):
            idx = rng.integers(0, len(train), per_rank)
            crops = np.stack([_crop(train.features[i], config.crop_frames, rng) for i in idx])
            batch = normalise_windows(crops, config.window_norm)[:, None]
            loss = ccc_loss(net(torch.from_numpy(batch).float()), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        if world > 1:
            # Gradients are averaged by DDP; BatchNorm's running statistics are not: take rank
            # 0's, so every rank validates (and keeps as best) the very same model.
            import torch.distributed as dist

            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        score, per_output = None, None
        if val is not None and len(val):
            student = predict_utterances(
                model, val, config.crop_frames, window_norm=config.window_norm
            )
            per_output = ccc(val.targets, student)
            score = float(np.mean(per_output))
        mean_loss = float(np.mean(losses))
        if world > 1:  # every rank reports the mean loss over all of them
            import torch.distributed as dist

            t = torch.tensor([mean_loss], dtype=torch.float64)
            dist.all_reduce(t)
            mean_loss = float(t.item()) / world
        seconds = time.perf_counter() - started
        history.append(
            {
                "epoch": epoch,
                "loss": mean_loss,
                "val_ccc": score,
                "seconds": seconds,
                "lr": sched.get_last_lr()[0],
            }
        )
        current = score if score is not None else -mean_loss
        improved = current > best["score"]
        if improved:
            best = {
                "score": current,
                "epoch": epoch,
                "state": copy.deepcopy(model.state_dict()),
                "ccc": None if per_output is None else [float(v) for v in per_output],
            }
        elif epoch - best["epoch"] >= config.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            stopped = True
        if run is not None:
            rng_states = rng.bit_generator.state
            if world > 1:
                import torch.distributed as dist

                gathered: list = [None] * world
                dist.all_gather_object(gathered, rng_states)
                rng_states = gathered
            files.save(
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "numpy_rng": rng_states,
                    "torch_rng": torch.get_rng_state(),
                    "best": best,
                },
                history,
                best["state"] if improved else None,
            )
        if on_epoch and rank == 0:
            on_epoch(epoch, mean_loss, score)
    if best["state"] is None:
        raise ConfigError("no epoch was trained (nothing left to resume?)")
    model.load_state_dict(best["state"])
    model.eval()
    report = {
        "best_epoch": best["epoch"],
        "val_ccc": best["ccc"],
        "epochs_run": len(history),
        "resumed_at_epoch": first if resume else None,
        "history": history,
        "config": asdict(config),
        "world_size": world,
    }
    if world > 1:
        import torch.distributed as dist

        digest = float(sum(p.double().sum() for p in model.state_dict().values()))
        sums: list = [None] * world
        dist.all_gather_object(sums, digest)
        if len(set(sums)) != 1:
            raise RuntimeError(f"DDP ranks ended with different weights: {sums}")
        report["ranks_in_sync"] = True
    return report
