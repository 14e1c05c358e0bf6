"""The teacher interface: a batch of 16 kHz waveforms in, arousal/dominance/valence in [0, 1] out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16000


class Teacher(ABC):
    """Soft targets for distillation. `name` and `licence` go into every bundle it teaches."""

    name: str = "teacher"
    licence: str = "unknown"
    #: Seconds of audio the teacher scores at once; longer audio is scored in chunks and averaged.
    chunk_s: float = 10.0

    @abstractmethod
    def _predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 3) A/D/V for waveforms no longer than chunk_s."""

    def predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 3) float64 A/D/V for float32 16 kHz mono waveforms of any length (>= 0.1 s)."""
        out = np.empty((len(waves), 3))
        chunk = int(self.chunk_s * SAMPLE_RATE)
        short = [i for i, w in enumerate(waves) if len(w) <= chunk]
        if short:
            out[short] = self._predict([np.asarray(waves[i], dtype=np.float32) for i in short])
        for i, w in enumerate(waves):
            if len(w) > chunk:
                pieces = [
                    w[s : s + chunk]
                    for s in range(0, len(w), chunk)
                    if len(w[s : s + chunk]) >= SAMPLE_RATE // 2
                ]
                weights = np.array([len(p) for p in pieces], dtype=np.float64)
                out[i] = np.average(self._predict(pieces), axis=0, weights=weights)
        return np.clip(out, 0.0, 1.0)
