"""A pretrained speech backbone that ships inside a PyPI package: Resemblyzer's GE2E speaker
encoder, rebuilt in torch from the package's own weights file.

The `resemblyzer` wheel (Apache-2.0; `pip install resemblyzer --no-deps`) carries
`resemblyzer/pretrained.pt`, a 3-layer LSTM (40 -> 256) and a 256 -> 256 projection trained for
speaker verification with the generalised end-to-end (GE2E) loss; the wheel does not say on what
data. Nothing of the package's code is imported (its `__init__` pulls in webrtcvad): the weights
are found through the package's location and loaded into our own modules.

Its input, as the package computes it: 16 kHz audio raised to -30 dBFS if quieter, a *power* mel
spectrogram (librosa, 25 ms windows, 10 ms hop, 40 bands, not logged). We cut it into partials
of 160 frames (1.6 s) every 80 frames, the last zero-padded. Per utterance we keep two
256-vectors, averaged over partials: the L2-normalised speaker embedding, and the top LSTM
layer's output averaged over time. The second carries more of how a thing is said (see the
speech evaluation table), which is what a teacher of arousal and valence needs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from distill.teachers.base import SAMPLE_RATE, Teacher
from edge.errors import ConfigError

RATE = SAMPLE_RATE
PARTIAL = 160
STEP = 80
TARGET_DBFS = -30.0
#: Feature layout: [embedding (256), top-layer output mean (256)].
EMBEDDING = slice(0, 256)
HIDDEN = slice(256, 512)


def weights_path() -> Path:
    """The pretrained.pt inside the installed resemblyzer wheel."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the GE2E backbone needs the resemblyzer wheel for its weights: "
            "pip install resemblyzer --no-deps"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise ConfigError(f"resemblyzer is installed but has no {path.name} at {path.parent}")
    return path


class Ge2eEncoder:
    """Utterance features from the pretrained GE2E encoder (one thread, CPU)."""

    def __init__(self, path: str | Path | None = None) -> None:
        import torch

        state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
        state = state.get("model_state", state)
        self.lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.lstm.eval()
        self.linear.eval()

    @staticmethod
    def mel(wave: np.ndarray, rate: int) -> np.ndarray:
        """(frames, 40) power mel of one mono waveform, as the package prepares it."""
        import librosa

        w = np.asarray(wave, dtype=np.float32)
        if rate != RATE:
            w = librosa.resample(w, orig_sr=rate, target_sr=RATE)
        level = 10.0 * np.log10(float(np.mean(w.astype(np.float64) ** 2)) + 1e-12)
        if level < TARGET_DBFS:
            w = w * np.float32(10.0 ** ((TARGET_DBFS - level) / 20.0))
        m = librosa.feature.melspectrogram(y=w, sr=RATE, n_fft=400, hop_length=160, n_mels=40)
        return m.T.astype(np.float32)

    def features(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """(512,) float32: mean embedding, then mean top-layer output, over 1.6 s partials."""
        import torch

        if np.size(wave) < rate // 100:
            raise ConfigError("the GE2E backbone needs at least one 10 ms frame of audio")
        mel = self.mel(wave, rate)
        starts = range(0, max(1, len(mel) - PARTIAL + 1), STEP)
        parts = np.zeros((len(starts), PARTIAL, 40), np.float32)
        for i, s in enumerate(starts):
            chunk = mel[s : s + PARTIAL]
            parts[i, : len(chunk)] = chunk
        with torch.no_grad():
            out, (hidden, _) = self.lstm(torch.from_numpy(parts))
            embed = torch.relu(self.linear(hidden[-1]))
            embed = embed / embed.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return np.concatenate([embed.mean(0).numpy(), out.mean(dim=1).mean(0).numpy()])


# --- a teacher on the backbone ------------------------------------------------------------------
#: What a teacher head trained here on the shared corpora may be used for.
LICENCE = (
    "research / non-commercial: head trained on EmoDB (free for research use) and RAVDESS "
    "(CC BY-NC-SA 4.0); backbone weights Apache-2.0 (resemblyzer)"
)


def fit_head(x: np.ndarray, y: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Ridge regression of (n, 3) targets on standardised (n, 256) features, as arrays."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    a = z.T @ z + alpha * np.eye(z.shape[1])
    coef = np.linalg.solve(a, z.T @ (y - y.mean(axis=0)))
    return {"mean": mean, "std": std, "coef": coef, "bias": y.mean(axis=0)}


def apply_head(head: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.clip(((x - head["mean"]) / head["std"]) @ head["coef"] + head["bias"], 0.0, 1.0)


class Ge2eTeacher(Teacher):
    """Frozen GE2E backbone (top layer) and a ridge head: 16 kHz waveforms in, A/D/V out.

    The head file (`scripts/train_ge2e_teacher.py` writes it) is an .npz of mean, std, coef, bias
    and the leave-speakers-out figures it was chosen by."""

    chunk_s = 10.0

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"GE2E teacher head not found: {path}")
        with np.load(path) as f:
            self.head = {k: f[k] for k in ("mean", "std", "coef", "bias")}
            note = str(f["note"]) if "note" in f else ""
        self.encoder = Ge2eEncoder()
        self.rate = RATE
        self.name = (
            f"GE2E backbone (resemblyzer) + ridge head ({path.name}{'; ' + note if note else ''})"
        )
        self.licence = LICENCE

    def features(self, wave: np.ndarray) -> np.ndarray:
        return self.encoder.features(wave, self.rate)[HIDDEN]

    def _predict(self, waves) -> np.ndarray:
        return apply_head(self.head, np.stack([self.features(w) for w in waves]))
