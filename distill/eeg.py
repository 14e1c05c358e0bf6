"""EEG valence/arousal levels: HiSTN's protocol, metrics, teacher and distilled student.

Protocol, subject-dependent (as HiSTN describes it): per subject, each clip's preprocessed 60 s is
cut into 10 blocks of 6 s. Fold i tests on block i of every clip, validates on block i-1 and
trains on the other eight, drawing random 1 s crops from them in class-balanced batches; Adam at
1e-3, 5e-4 after 60% of the epochs (the paper: 50 epochs, the drop after 30). The test windows
are the block's six non-overlapping seconds. Subject-independent: leave one subject out, with an
optional calibration that fine-tunes on the first `calibration_s` seconds of the held-out
subject's clips (those seconds are then left out of its test windows).

Labels: the 1-5 rating as five ordinal levels. The student is trained on Gaussian ordinal label
smoothing (q_k proportional to exp(-(k-y)^2 / (2 sigma^2)), sigma 0.5) plus temperature KD from
the teacher (KL x T^2), the teacher first trained on the same fold's data with the same smoothing.

Metrics: weighted F1; Top-2 accuracy; Tri-P (the prediction within one level of the truth);
Seq2HR (the top-1 and top-2 levels are adjacent and one of them is the truth).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from distill.dreamer import RATE_HZ, Trial
from distill.run_state import RunState, generators, restore_generators
from distill.students import create
from edge.errors import ConfigError
from edge.frontends.eeg import window_inputs

LEVELS = 5
BLOCKS = 10
BLOCK_S = 6
#: metrics.csv's columns in a run folder (distill/run_state.py).
METRICS_FIELDS = ("epoch", "loss", "val_f1", "seconds")


def ordinal_targets(y: np.ndarray, sigma: float = 0.5, levels: int = LEVELS) -> np.ndarray:
    """Gaussian ordinal label smoothing: one row per label (0-based levels)."""
    k = np.arange(levels)[None, :]
    q = np.exp(-((k - np.asarray(y)[:, None]) ** 2) / (2 * sigma**2))
    return (q / q.sum(1, keepdims=True)).astype(np.float32)


def metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Weighted F1, Top-2, Tri-P and Seq2HR of class scores (n, levels) against levels y."""
    from sklearn.metrics import f1_score

    order = np.argsort(-scores, axis=1)
    top1, top2 = order[:, 0], order[:, 1]
    return {
        "f1": float(f1_score(y, top1, average="weighted", zero_division=0)),
        "top2": float(np.mean((top1 == y) | (top2 == y))),
        "tri_p": float(np.mean(np.abs(top1 - y) <= 1)),
        "seq2hr": float(np.mean((np.abs(top1 - top2) == 1) & ((top1 == y) | (top2 == y)))),
    }


@dataclass
class EegFitConfig:
    architecture: str = "histn"
    arch_config: dict = field(default_factory=dict)
    teacher_config: dict = field(default_factory=lambda: {"filters": 16, "maps": 16})
    epochs: int = 50
    steps_per_epoch: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    sigma: float = 0.5
    temperature: float = 2.0
    kd_weight: float = 0.5
    seed: int = 0


def _blocks(trials: list[Trial], target: str) -> tuple[np.ndarray, np.ndarray]:
    """(clips, blocks, block samples, channels) and the clips' levels (0-4)."""
    n = BLOCK_S * RATE_HZ
    x = np.stack([t.eeg[: BLOCKS * n].reshape(BLOCKS, n, -1) for t in trials])
    y = np.array([t.ratings[target] - 1 for t in trials])
    return x, y


def _crops(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced random 1 s crops from (clips, samples, channels) segments."""
    classes = np.unique(y)
    want = rng.choice(classes, batch)
    clip = np.array([rng.choice(np.flatnonzero(y == c)) for c in want])
    start = rng.integers(0, x.shape[1] - RATE_HZ + 1, batch)
    windows = np.stack([x[c, s : s + RATE_HZ] for c, s in zip(clip, start, strict=True)])
    return window_inputs(windows)[:, None], y[clip]


def _windows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping 1 s windows of (clips, samples, channels) segments."""
    per = x.shape[1] // RATE_HZ
    w = x[:, : per * RATE_HZ].reshape(x.shape[0] * per, RATE_HZ, x.shape[2])
    return window_inputs(w)[:, None], np.repeat(y, per)


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()


def fit(
    model: torch.nn.Module,
    train: np.ndarray,
    train_y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray],
    cfg: EegFitConfig,
    teacher: torch.nn.Module | None = None,
    on_epoch=None,
    files: RunState | None = None,
    resume: bool = False,
) -> dict:
    """Train in place with ordinal smoothing (+ KD when a teacher is given); keep the best
    validation F1's weights. `on_epoch(epoch, loss, val_f1)` after each epoch. With `files` (a
    stage of a run folder) every epoch leaves last.pt, best.pt and a metrics.csv row; `resume`
    goes on from last.pt (a stage that finished is not trained again)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    drop = int(cfg.epochs * 0.6)
    best = {"f1": -1.0, "state": None, "epoch": -1}
    files = files or RunState(None, {}, METRICS_FIELDS)
    history: list[dict] = []
    first = 0
    if resume and (state := files.load()) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        restore_generators(state, rng)
        best, history, first = state["best"], state["history"], state["epoch"] + 1
    files.start(history)
    for epoch in range(first, cfg.epochs):
        started = time.perf_counter()
        if epoch == drop:
            for g in opt.param_groups:
                g["lr"] = cfg.lr / 2
        model.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            xb, yb = _crops(train, train_y, rng, cfg.batch_size)
            xt = torch.from_numpy(xb)
            logits = model(xt)
            smooth = torch.from_numpy(ordinal_targets(yb, cfg.sigma))
            loss = -(smooth * F.log_softmax(logits, 1)).sum(1).mean()
            if teacher is not None:
                with torch.no_grad():
                    soft = torch.softmax(teacher(xt) / cfg.temperature, 1)
                kd = F.kl_div(
                    F.log_softmax(logits / cfg.temperature, 1), soft, reduction="batchmean"
                )
                loss = (1 - cfg.kd_weight) * loss + cfg.kd_weight * cfg.temperature**2 * kd
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        f1 = metrics(val[1], predict(model, val[0]))["f1"]
        history.append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_f1": f1,
                "seconds": time.perf_counter() - started,
            }
        )
        improved = f1 > best["f1"]
        if improved:
            best = {"f1": f1, "state": copy.deepcopy(model.state_dict()), "epoch": epoch}
        files.save(
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                **generators(rng),
                "best": best,
            },
            history,
            best["state"] if improved else None,
        )
        if on_epoch is not None:
            on_epoch(epoch, float(np.mean(losses)), f1)
    model.load_state_dict(best["state"])
    model.eval()
    return {"best_epoch": best["epoch"], "val_f1": best["f1"]}


def subject_dependent(
    trials: list[Trial],
    target: str,
    cfg: EegFitConfig | None = None,
    folds: list[int] | None = None,
    channels: tuple[str, ...] | None = None,
    tick: Callable[[], None] | None = None,
) -> dict:
    """Per subject and fold: teacher, student with KD, and the student without KD (the ablation
    that says what the teacher adds). Returns per-subject means and the overall means."""
    cfg = cfg or EegFitConfig()
    channels = channels or trials[0].channels
    arch = {"channels": list(channels), **cfg.arch_config}
    folds = list(range(BLOCKS)) if folds is None else folds
    if any(not 0 <= f < BLOCKS for f in folds):
        raise ConfigError(f"folds must be 0-{BLOCKS - 1}, got {folds}")
    by_subject: dict[int, list[Trial]] = {}
    for t in trials:
        by_subject.setdefault(t.subject, []).append(t)
    rows = []
    for subject, ts in sorted(by_subject.items()):
        x, y = _blocks(ts, target)
        per_fold = {"teacher": [], "student": [], "student_no_kd": []}
        for fold in folds:
            val_block = (fold - 1) % BLOCKS
            train_blocks = [b for b in range(BLOCKS) if b not in (fold, val_block)]
            train = x[:, train_blocks].reshape(len(ts), -1, x.shape[-1])
            val = _windows(x[:, val_block], y)
            test = _windows(x[:, fold], y)
            teacher = create(cfg.architecture, **{**arch, **cfg.teacher_config})
            fit(teacher, train, y, val, cfg)
            student = create(cfg.architecture, **arch)
            fit(student, train, y, val, cfg, teacher=teacher)
            plain = create(cfg.architecture, **arch)
            fit(plain, train, y, val, cfg)
            for name, model in (
                ("teacher", teacher),
                ("student", student),
                ("student_no_kd", plain),
            ):
                per_fold[name].append(metrics(test[1], predict(model, test[0])))
            if tick:
                tick()
        rows.append(
            {
                "subject": subject + 1,
                **{
                    name: {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}
                    for name, ms in per_fold.items()
                },
            }
        )
    means = {
        name: {k: float(np.mean([r[name][k] for r in rows])) for k in rows[0][name]}
        for name in ("teacher", "student", "student_no_kd")
    }
    return {
        "target": target,
        "protocol": "subject-dependent",
        "folds": folds,
        "subjects": rows,
        "mean": means,
    }


def subject_independent(
    trials: list[Trial],
    target: str,
    cfg: EegFitConfig | None = None,
    calibration_s: float = 0.0,
    subjects: list[int] | None = None,
    channels: tuple[str, ...] | None = None,
    tick: Callable[[], None] | None = None,
) -> dict:
    """Leave one subject out: teacher and student (KD) trained on the others (the next subject
    validates), tested on every 1 s window of the held-out subject's clips; with
    `calibration_s` > 0 the student is then fine-tuned on the first seconds of each of that
    subject's clips, which are left out of its test windows."""
    cfg = cfg or EegFitConfig()
    channels = channels or trials[0].channels
    arch = {"channels": list(channels), **cfg.arch_config}
    by_subject: dict[int, list[Trial]] = {}
    for t in trials:
        by_subject.setdefault(t.subject, []).append(t)
    ids = sorted(by_subject)
    if len(ids) < 3:
        raise ConfigError(
            f"leaving subjects out needs at least 3 subjects, the data has {len(ids)}"
        )
    data = {
        s: (
            np.stack([t.eeg for t in by_subject[s]]),
            np.array([t.ratings[target] - 1 for t in by_subject[s]]),
        )
        for s in ids
    }
    rows = []
    for held in subjects if subjects is not None else ids:
        val_subject = ids[(ids.index(held) + 1) % len(ids)]
        rest = [s for s in ids if s not in (held, val_subject)]
        train = np.concatenate([data[s][0] for s in rest])
        train_y = np.concatenate([data[s][1] for s in rest])
        val = _windows(*data[val_subject])
        x, y = data[held]
        skip = int(calibration_s * RATE_HZ)
        test = _windows(x[:, skip:], y)
        teacher = create(cfg.architecture, **{**arch, **cfg.teacher_config})
        fit(teacher, train, train_y, val, cfg)
        student = create(cfg.architecture, **arch)
        fit(student, train, train_y, val, cfg, teacher=teacher)
        row = {
            "subject": held + 1,
            "teacher": metrics(test[1], predict(teacher, test[0])),
            "student": metrics(test[1], predict(student, test[0])),
        }
        if skip >= RATE_HZ:
            tuned = copy.deepcopy(student)
            calib = x[:, :skip]
            fit(
                tuned,
                calib,
                y,
                _windows(calib, y),
                EegFitConfig(
                    **{**cfg.__dict__, "epochs": max(1, cfg.epochs // 5), "lr": cfg.lr / 2}
                ),
            )
            row["student_calibrated"] = metrics(test[1], predict(tuned, test[0]))
        rows.append(row)
        if tick:
            tick()
    names = [k for k in rows[0] if k != "subject"]
    means = {n: {k: float(np.mean([r[n][k] for r in rows])) for k in rows[0][n]} for n in names}
    return {
        "target": target,
        "protocol": "subject-independent" + (f", {calibration_s:g} s calibration" if skip else ""),
        "subjects": rows,
        "mean": means,
    }


def train_final(
    trials: list[Trial],
    target: str,
    cfg: EegFitConfig | None = None,
    channels: tuple[str, ...] | None = None,
    on_epoch=None,
    run: Path | None = None,
    resume: bool = False,
) -> tuple[torch.nn.Module, torch.nn.Module, dict]:
    """Teacher and KD student on every subject's blocks 0-8 (block 9 of every clip validates):
    the model a bundle ships. Returns (student, teacher, report). With `run` (a folder) each
    stage leaves its epochs there (teacher-last.pt, student-metrics.csv...); `resume` goes on
    from the last finished epoch."""
    cfg = cfg or EegFitConfig()
    channels = channels or trials[0].channels
    arch = {"channels": list(channels), **cfg.arch_config}
    x, y = _blocks(trials, target)
    train = x[:, : BLOCKS - 1].reshape(len(trials), -1, x.shape[-1])
    val = _windows(x[:, BLOCKS - 1], y)
    # Each model starts from the seed (torch's own start is random per process), so a run is
    # the same run to run, and a student resumed after its teacher finished starts as it did.
    torch.manual_seed(cfg.seed)
    teacher = create(cfg.architecture, **{**arch, **cfg.teacher_config})

    def stage(name: str):
        return None if on_epoch is None else (lambda e, loss, f1: on_epoch(name, e, loss, f1))

    settings = {**asdict(cfg), "target": target, "channels": list(channels)}

    def files(name: str) -> RunState:
        return RunState(run, settings, METRICS_FIELDS, prefix=f"{name}-")

    t_report = fit(teacher, train, y, val, cfg, None, stage("teacher"), files("teacher"), resume)
    torch.manual_seed(cfg.seed)
    student = create(cfg.architecture, **arch)
    s_report = fit(student, train, y, val, cfg, teacher, stage("student"), files("student"), resume)
    report = {
        "teacher_val": metrics(val[1], predict(teacher, val[0])),
        "student_val": metrics(val[1], predict(student, val[0])),
        "teacher_best_epoch": t_report["best_epoch"],
        "student_best_epoch": s_report["best_epoch"],
    }
    return student, teacher, report


def eeg_checkpoint(student, teacher, report: dict, args, trials: list[Trial]):
    """The student's checkpoint: the HiSTN graph, the front end the device must run, provenance."""
    from distill.checkpoint import Checkpoint
    from distill.cost import count_macs, count_params

    channels = list(trials[0].channels)
    filters = list(getattr(args, "filters", ()) or ())
    mains = getattr(args, "mains", None)
    example = torch.zeros(1, 1, RATE_HZ, len(channels))
    subjects = sorted({t.subject for t in trials})
    synthetic = all(t.synthetic for t in trials)
    full = {
        **report,
        "params": {"student": count_params(student), "teacher": count_params(teacher)},
        "macs_per_window": {
            "student": count_macs(student, example),
            "teacher": count_macs(teacher, example),
        },
        "target": args.target,
        "subjects": len(subjects),
        "trials": len(trials),
    }
    data = (
        f"{args.dreamer.name}: {len(subjects)} subjects x {len(trials) // max(1, len(subjects))} "
        f"clips, the last 60 s of each"
        + (f" through {'+'.join(filters)}" if filters else "")
        + (f" and a {mains} Hz notch" if mains else "")
        + ", blocks 0-8 trained, block 9 validated"
    )
    # A graph given by name (distill eeg --graph montage) is kept, so the export rebuilds it.
    graph = {"regions": student.regions, "edges": student.edges} if student.edges else {}
    return Checkpoint(
        "histn",
        {"channels": channels, **graph},
        student.state_dict(),
        (1, RATE_HZ, len(channels)),
        {
            "kind": "ordinal",
            "outputs": [f"level_{k}" for k in range(1, LEVELS + 1)],
            "levels": LEVELS,
        },
        {
            "kind": "eeg",
            "rate_hz": RATE_HZ,
            "channels": channels,
            "window_s": 1.0,
            "hop_s": 1.0,
            "normalization": "baseline_zscore",
            "scaling": "maxabs",
            "baseline_s": 10.0,
            "unit": "uV",
            "filters": filters,
        },
        {
            "teacher": f"HiSTN-style teacher ({full['params']['teacher']:,} parameters, 16 filters x 16 maps) trained on the {args.target} ratings with Gaussian ordinal label smoothing",
            "data": (
                "SYNTHETIC DREAMER-structured EEG (distill/dreamer.py): demonstrates the runtime, not an emotion model; "
                if synthetic
                else ""
            )
            + data,
            "date": "",
            "source_revision": "",
            "licence": "synthetic data, Apache-2.0"
            if synthetic
            else "DREAMER: its EULA (research use); check before shipping",
        },
        name=args.name,
        modality="eeg",
        report=full,
    )
