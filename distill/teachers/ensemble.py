"""A weighted mean of teachers' A/D/V."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distill.teachers.base import Teacher
from edge.errors import ConfigError


class EnsembleTeacher(Teacher):
    def __init__(self, members: Sequence[Teacher], weights: Sequence[float] | None = None) -> None:
        if not members:
            raise ConfigError("an ensemble needs at least one teacher")
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(members),) or np.any(w < 0) or w.sum() == 0:
            raise ConfigError(
                f"ensemble weights must be {len(members)} non-negative numbers, not all 0; got {weights}"
            )
        self.members, self.weights = list(members), w / w.sum()
        self.chunk_s = min(m.chunk_s for m in members)
        self.name = "ensemble of " + " + ".join(
            f"{wt:.2f} x {m.name}" for m, wt in zip(members, self.weights, strict=True)
        )
        self.licence = "; ".join(dict.fromkeys(m.licence for m in members))

    def _predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        return sum(wt * m.predict(waves) for m, wt in zip(self.members, self.weights, strict=True))
