"""Distil a speech A/D/V student from a teacher over a folder of unlabelled audio.

1. Pseudo-label every segment and augmentation variant with the teacher (cached, resumable).
2. Compute the device's log-mel for each labelled item (the same `edge.dsp` code as the device).
3. Hold out speakers (or files) for validation, train the student with the CCC loss, keep the best.
4. Save a checkpoint with everything export needs, and a report: student-vs-teacher CCC on the
   held-out speakers (utterance level), and student-vs-human labels where a labels.csv exists.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from distill.checkpoint import Checkpoint
from distill.circumplex import human_labels
from distill.cost import count_macs, count_params
from distill.features import SPEECH_SPEC, front_end_dict
from distill.metrics import ccc
from distill.provenance import describe, licence_text
from distill.pseudolabel import item_features, pseudo_label
from distill.students import create
from distill.teachers import from_spec
from distill.train import Examples, FitConfig, fit, predict_utterances
from edge.errors import ConfigError

log = logging.getLogger(__name__)
WINDOW_FRAMES = 100


@dataclass
class DistillConfig:
    teacher: str
    audio: Path
    cache: Path
    architecture: str = "speech_adv"
    arch_config: dict = field(default_factory=dict)
    segment_s: float = 2.0
    variants: int = 4
    speaker_regex: str | None = None
    val_speakers: tuple[str, ...] = ()
    val_fraction: float = 0.2
    update_s: float = 0.5
    fit: FitConfig = field(default_factory=lambda: FitConfig(crop_frames=WINDOW_FRAMES))
    name: str = "speech-adv"
    seed: int = 0
    relabel: bool = False  # a teacher-label cache made otherwise is relabelled, not refused
    data_root: Path | None = None  # data is recorded relative to it (never as an absolute path)
    run: Path | None = None  # run folder: a checkpoint every epoch (see distill.train.fit)
    resume: bool = False


def split_groups(items, cfg: DistillConfig) -> tuple[set[str], str]:
    """The validation speakers (or files): named ones, else a seeded fraction of speakers."""
    speakers = sorted({it.speaker for it in items})
    if cfg.val_speakers:
        missing = sorted(set(cfg.val_speakers) - set(speakers))
        if missing:
            raise ConfigError(f"validation speakers {missing} not found; speakers: {speakers}")
        return set(cfg.val_speakers), "speaker"
    if len(speakers) >= 2:
        rng = np.random.default_rng(cfg.seed)
        n = max(1, round(len(speakers) * cfg.val_fraction))
        return set(rng.choice(speakers, n, replace=False).tolist()), "speaker"
    files = sorted({it.file for it in items})
    if len(files) < 2:
        raise ConfigError(
            "need at least two files (or two speakers) to hold some out for validation"
        )
    rng = np.random.default_rng(cfg.seed)
    n = max(1, round(len(files) * cfg.val_fraction))
    return set(rng.choice(files, n, replace=False).tolist()), "file"


def distill_speech(cfg: DistillConfig, on_epoch=None, progress=None) -> tuple[Checkpoint, dict]:
    humans = human_labels(Path(cfg.audio))  # a malformed labels.csv is refused before any work
    teacher = from_spec(cfg.teacher)
    items, labels = pseudo_label(
        teacher,
        cfg.audio,
        cfg.cache,
        cfg.segment_s,
        cfg.variants,
        cfg.speaker_regex,
        progress=progress,
        teacher_spec=cfg.teacher,
        relabel=cfg.relabel,
    )
    items = [it for it in items if it.key in labels]
    if not items:
        raise ConfigError(f"no labelled audio in {cfg.audio}")
    held, by = split_groups(items, cfg)
    is_val = (lambda it: it.speaker in held) if by == "speaker" else (lambda it: it.file in held)
    memo: dict = {}
    frames_memo: dict = {}
    tick = progress("log-mel features", len(items)) if progress else (lambda: None)
    feats = {}
    for it in items:
        memo_for = frames_memo if it.variant == 0 else memo
        feats[it.key] = item_features(Path(cfg.audio), it, cfg.segment_s, memo_for)
        tick()
    train = Examples(
        [feats[it.key] for it in items if not is_val(it)],
        np.asarray([labels[it.key] for it in items if not is_val(it)]),
    )
    val_items = [it for it in items if is_val(it) and it.variant == 0]
    val = Examples(
        [feats[it.key] for it in val_items], np.asarray([labels[it.key] for it in val_items])
    )
    if not len(train) or not len(val):
        raise ConfigError(
            f"the split left {len(train)} training and {len(val)} validation examples"
        )
    torch.manual_seed(cfg.seed)
    model = create(cfg.architecture, **cfg.arch_config)
    # Speech students see 1 s windows normalised as the bundle's front end says (window_norm) and
    # the pipeline applies the same function, so train and serve agree.
    norm = SPEECH_SPEC.window_norm
    fit_config = replace(cfg.fit, crop_frames=WINDOW_FRAMES, window_norm=norm)
    if cfg.run is not None and (cfg.cache / "fingerprint.json").is_file():
        Path(cfg.run).mkdir(parents=True, exist_ok=True)
        (Path(cfg.run) / "data.json").write_text((cfg.cache / "fingerprint.json").read_text())
    fit_report = fit(model, train, val, fit_config, on_epoch, run=cfg.run, resume=cfg.resume)
    student = predict_utterances(model, val, WINDOW_FRAMES, window_norm=norm)
    report = {
        "teacher": teacher.name,
        "split": {
            "by": by,
            "held_out": sorted(held),
            "train_examples": len(train),
            "val_utterances": len(val),
        },
        "student_vs_teacher_ccc": dict(
            zip(
                ("arousal", "dominance", "valence"),
                map(float, ccc(val.targets, student)),
                strict=True,
            )
        ),
        "fit": {k: v for k, v in fit_report.items() if k != "history"},
        "history": fit_report["history"],
    }
    rows = [
        (i, humans[Path(it.file).name])
        for i, it in enumerate(val_items)
        if Path(it.file).name in humans
    ]
    if rows:
        idx, truth = zip(*rows, strict=True)
        truth = np.stack(truth)
        report["student_vs_labels_ccc"] = dict(
            zip(
                ("arousal", "dominance", "valence"),
                map(float, ccc(truth, student[list(idx)])),
                strict=True,
            )
        )
        report["teacher_vs_labels_ccc_seen"] = dict(
            zip(
                ("arousal", "dominance", "valence"),
                map(float, ccc(truth, val.targets[list(idx)])),
                strict=True,
            )
        )
        report["teacher_vs_labels_note"] = (
            "the teacher may have learned from these very utterances (the EmoDB teacher was trained on all "
            "four speakers), so teacher_vs_labels_ccc_seen is not a held-out figure; its held-out figures are "
            "the leave-one-speaker-out ones"
        )
    shape = (1, WINDOW_FRAMES, SPEECH_SPEC.n_mels)
    macs = count_macs(model, torch.zeros(1, *shape))
    report["cost"] = {
        "params": count_params(model),
        "macs_per_window": macs,
        "window_s": WINDOW_FRAMES / 100,
        "update_s": cfg.update_s,
        "macs_per_second_of_audio": round(macs / cfg.update_s),
    }
    front_end = front_end_dict(update_s=cfg.update_s)
    seen = json.loads((cfg.cache / "fingerprint.json").read_text())
    data_text = describe(Path(cfg.audio), cfg.data_root, seen["data_files"], seen["data_sha256"])
    ckpt = Checkpoint(
        cfg.architecture,
        dict(cfg.arch_config),
        model.state_dict(),
        shape,
        {
            "kind": "regression",
            "outputs": ["arousal", "dominance", "valence"],
            "value_range": [0.0, 1.0],
        },
        front_end,
        {
            "teacher": teacher.name,
            "data": data_text,
            "date": "",
            "source_revision": "",
            "licence": licence_text(teacher.licence, Path(cfg.audio)),
        },
        name=cfg.name,
        modality="speech",
        report=report,
    )
    return ckpt, report
