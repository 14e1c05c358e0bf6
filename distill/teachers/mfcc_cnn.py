"""The small real categorical speech teacher in ../shared/teachers/speech-mfcc-cnn, without TensorFlow.

Its Keras 2 HDF5 file is read with h5py and rebuilt in torch: six Conv1D(128, k=5, same) with
ReLU, MaxPool(8) after the second, Flatten, Dense(10), softmax; 445,578 parameters. Input, as its
authors computed it: audio at 44.1 kHz from 0.5 s for 2.5 s, librosa MFCC (13 coefficients),
mean over the coefficients: one value per frame, 216 frames (shorter audio is zero-padded, as
their pandas pipeline did). Its ten classes (female/male x angry, calm, fearful, happy, sad) are
folded into A/D/V through `distill.circumplex`. Trained on RAVDESS and SAVEE: research use only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.circumplex import expected_adv
from distill.teachers.base import SAMPLE_RATE, Teacher
from edge.errors import ConfigError

CLASSES = (
    "female_angry",
    "female_calm",
    "female_fearful",
    "female_happy",
    "female_sad",
    "male_angry",
    "male_calm",
    "male_fearful",
    "male_happy",
    "male_sad",
)
EMOTIONS = [c.split("_", 1)[1] for c in CLASSES]
FRAMES = 216
TEACHER_RATE = 44100


def load_keras_weights(
    folder: Path,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """Conv (kernel (k, in, out), bias) pairs in graph order, and the dense (kernel, bias)."""
    import h5py

    config = json.loads((folder / "model.json").read_text())
    layers = config["config"] if isinstance(config["config"], list) else config["config"]["layers"]
    names = [(layer["class_name"], layer["config"]["name"]) for layer in layers]
    with h5py.File(folder / "model.h5", "r") as f:
        weights = f["model_weights"]

        def pair(name: str) -> tuple[np.ndarray, np.ndarray]:
            return np.asarray(weights[name][name]["kernel:0"]), np.asarray(
                weights[name][name]["bias:0"]
            )

        convs = [pair(n) for kind, n in names if kind == "Conv1D"]
        dense = next(pair(n) for kind, n in names if kind == "Dense")
    if len(convs) != 6:
        raise ConfigError(f"{folder}: expected 6 Conv1D layers, found {len(convs)}")
    return convs, dense


class MfccCnn(nn.Module):
    """The Keras network in torch; input (batch, 216) MFCC means, output logits (batch, 10)."""

    def __init__(self, convs, dense) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for kernel, bias in convs:
            conv = nn.Conv1d(
                kernel.shape[1], kernel.shape[2], kernel.shape[0], padding=kernel.shape[0] // 2
            )
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 1, 0)))
            conv.bias.data = torch.from_numpy(bias)
            self.convs.append(conv)
        self.dense = nn.Linear(dense[0].shape[0], dense[0].shape[1])
        self.dense.weight.data = torch.from_numpy(np.ascontiguousarray(dense[0].T))
        self.dense.bias.data = torch.from_numpy(dense[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(1)
        for i, conv in enumerate(self.convs):
            h = torch.relu(conv(h))
            if i == 1:
                h = nn.functional.max_pool1d(h, 8)
        # Keras flattens (time, channels) time-major.
        return self.dense(h.transpose(1, 2).reshape(h.shape[0], -1))


def numpy_forward(x: np.ndarray, convs, dense) -> np.ndarray:
    """The same network in plain numpy (a second, independent implementation for checking)."""
    h = np.asarray(x, dtype=np.float64)[:, :, None]  # (batch, time, channels), Keras layout
    for i, (kernel, bias) in enumerate(convs):
        k = kernel.shape[0]
        padded = np.pad(h, ((0, 0), (k // 2, k // 2), (0, 0)))
        windows = np.stack(
            [padded[:, j : j + h.shape[1]] for j in range(k)], axis=2
        )  # (b, t, k, in)
        h = np.maximum(np.einsum("btki,kio->bto", windows, kernel) + bias, 0.0)
        if i == 1:
            t = h.shape[1] // 8
            h = h[:, : t * 8].reshape(h.shape[0], t, 8, -1).max(axis=2)
    logits = h.reshape(h.shape[0], -1) @ dense[0] + dense[1]
    return logits


def mfcc_means(wave_16k: np.ndarray) -> np.ndarray:
    """The authors' input for one waveform: (216,) MFCC means of 44.1 kHz audio from 0.5 s."""
    import librosa

    from edge.dsp import resample

    y = resample(np.asarray(wave_16k, dtype=np.float64), SAMPLE_RATE, TEACHER_RATE)
    y = y[int(0.5 * TEACHER_RATE) : int(3.0 * TEACHER_RATE)]
    if len(y) < 2048:
        y = np.pad(y, (0, 2048 - len(y)))
    feats = librosa.feature.mfcc(y=y.astype(np.float32), sr=TEACHER_RATE, n_mfcc=13).mean(axis=0)
    out = np.zeros(FRAMES, dtype=np.float32)
    out[: min(FRAMES, len(feats))] = feats[:FRAMES]
    return out


class MfccCnnTeacher(Teacher):
    licence = "weights trained on RAVDESS (CC BY-NC-SA 4.0) and SAVEE (research use): research / non-commercial"
    chunk_s = 3.0

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        if not (folder / "model.h5").is_file() or not (folder / "model.json").is_file():
            raise ConfigError(
                f"{folder} must hold model.h5 and model.json (the speech-mfcc-cnn teacher)"
            )
        self.weights = load_keras_weights(folder)
        self.net = MfccCnn(*self.weights).eval()
        self.name = (
            f"speech-mfcc-cnn ({folder.name}), classes folded to A/D/V via Russell & Mehrabian PAD"
        )

    def probabilities(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack([mfcc_means(w) for w in waves]))
        with torch.no_grad():
            return torch.softmax(self.net(x), dim=1).numpy().astype(np.float64)

    def _predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        return expected_adv(self.probabilities(waves), EMOTIONS)
