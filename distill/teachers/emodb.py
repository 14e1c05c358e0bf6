"""A teacher trained here on human labels: the EmoDB speakers, emotions mapped to A/D/V.

As audEERING's teacher learned A/D/V from MSP-Podcast's ratings, this one learns from EmoDB's
acted emotions placed on the circumplex (`distill.circumplex`). The network is larger than any
student: a 4-block CNN (24-48-96-96 channels) on the shared log-mel, mean+attention pooling
over time, a two-layer head, sigmoid outputs; about 150 K parameters (5x the speech student). It is judged by
leave-one-speaker-out (LOSO): trained on three speakers, scored on the fourth, for each speaker.
EmoDB is free for research, so anything it teaches is research-use.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.audio import augment, load_16k
from distill.evaluate import Corpus, auc, masks, read_labelled
from distill.features import speech_features
from distill.metrics import ccc
from distill.teachers.base import Teacher
from distill.train import Examples, FitConfig, fit, predict_utterances
from edge.errors import ConfigError

log = logging.getLogger(__name__)
LICENCE = "EmoDB (Burkhardt et al. 2005): free for research use"
CROP_FRAMES = 100


class EmoDbTeacherNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 96)) -> None:
        super().__init__()
        layers, c_in = [], 1
        for i, c in enumerate(widths):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv1d(c_in, 1, 1)
        self.head = nn.Sequential(
            nn.Linear(2 * c_in, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=(2, 3), keepdim=True)
        h = self.features(x).mean(dim=3)
        w = torch.softmax(self.score(h), dim=2)
        pooled = torch.cat([h.mean(dim=2), (h * w).sum(dim=2)], dim=1)
        return torch.sigmoid(self.head(pooled))


def read_emodb(folder: str | Path) -> Corpus:
    """The labelled EmoDB speakers of ../shared/data/emodb-train (labels.csv + wav/)."""
    return read_labelled(Path(folder), "wav", "emodb")


def feature_sets(corpus: Corpus, variants: int) -> list[list[np.ndarray]]:
    """Per file, log-mel of the clean audio and of `variants` augmented copies."""
    out = []
    for path in corpus.files:
        wave = load_16k(path)
        out.append([speech_features(augment(wave, path.name, v)) for v in range(variants + 1)])
    return out


def examples(
    feats: list[list[np.ndarray]], targets: np.ndarray, index: Sequence[int], clean_only: bool
) -> Examples:
    xs, ys, groups = [], [], []
    for i in index:
        for v, x in enumerate(feats[i]):
            if clean_only and v:
                break
            xs.append(x)
            ys.append(targets[i])
            groups.append(str(i))
    return Examples(xs, np.asarray(ys), groups)


def arousal_check(arousal: np.ndarray, emotions: Sequence[str]) -> dict:
    """The arousal AUC of distill/evaluate.py (on EmoDB: anger, happiness, fear high; boredom,
    sadness, neutral low; disgust left out), with the two groups' mean arousal."""
    high, low = masks(tuple(emotions))["arousal"]
    return {
        "mean_high": float(arousal[high].mean()),
        "mean_low": float(arousal[low].mean()),
        "auc_high_vs_low": auc(arousal, high, low),
    }


def train_teacher(
    feats,
    targets: np.ndarray,
    train_idx,
    val_idx=None,
    config: FitConfig | None = None,
    on_epoch=None,
) -> tuple[EmoDbTeacherNet, dict]:
    config = config or FitConfig(
        epochs=30, steps_per_epoch=25, crop_frames=CROP_FRAMES, lr=2e-3, patience=10
    )
    net = EmoDbTeacherNet()
    val = examples(feats, targets, val_idx, clean_only=True) if val_idx is not None else None
    report = fit(net, examples(feats, targets, train_idx, clean_only=False), val, config, on_epoch)
    return net, report


def loso(corpus: Corpus, feats, config: FitConfig | None = None, on_epoch=None) -> dict:
    """Leave-one-speaker-out predictions for every file, and the pooled figures."""
    targets = corpus.targets
    speakers = sorted(set(corpus.speakers))
    predictions = np.zeros_like(targets)
    folds = {}
    for held in speakers:
        train_idx = [i for i, s in enumerate(corpus.speakers) if s != held]
        test_idx = [i for i, s in enumerate(corpus.speakers) if s == held]
        # Validation for early stopping comes from the training speakers only (every 5th file).
        val_idx, fit_idx = train_idx[::5], [i for k, i in enumerate(train_idx) if k % 5]
        net, report = train_teacher(feats, targets, fit_idx, val_idx, config, on_epoch)
        log.info("LOSO fold %s: best epoch %d", held, report["best_epoch"])
        predictions[test_idx] = predict_utterances(
            net, examples(feats, targets, test_idx, True), CROP_FRAMES
        )
        folds[held] = {
            "ccc": [float(v) for v in ccc(targets[test_idx], predictions[test_idx])],
            "best_epoch": report["best_epoch"],
        }
    return {
        "predictions": predictions,
        "ccc": [float(v) for v in ccc(targets, predictions)],
        "arousal_check": arousal_check(predictions[:, 0], corpus.emotions),
        "folds": folds,
    }


class EmoDbTeacher(Teacher):
    licence = LICENCE
    chunk_s = 4.0

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"EmoDB teacher checkpoint not found: {path}")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.net = EmoDbTeacherNet()
        self.net.load_state_dict(payload["state_dict"])
        self.net.eval()
        self.name = (
            f"EmoDB-trained CNN teacher ({path.name}; LOSO CCC A/D/V {payload.get('loso_ccc')})"
        )

    def _predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        ex = Examples([speech_features(w) for w in waves], np.zeros((len(waves), 3)))
        return predict_utterances(self.net, ex, CROP_FRAMES)


def save_teacher(net: EmoDbTeacherNet, path: str | Path, loso_report: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": net.state_dict(), "licence": LICENCE}
    if loso_report:
        payload["loso_ccc"] = [round(v, 3) for v in loso_report["ccc"]]
    torch.save(payload, path)
