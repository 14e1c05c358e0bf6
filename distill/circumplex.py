"""Emotion categories -> arousal, dominance, valence, so categorical labels and teachers can teach A/D/V.

Coordinates are the pleasure-arousal-dominance (PAD) ratings of emotion terms from Russell and
Mehrabian (1977), "Evidence for a three-factor theory of emotions", Journal of Research in
Personality 11, 273-294, on a -1..+1 scale, as reproduced in later work that builds on them
(e.g. Gebhard 2005, "ALMA: a layered model of affect", AAMAS). We could not check them against
the original table in this environment. "neutral" is the scale's midpoint by definition, not
a rating. Values are mapped to [0, 1] by (v + 1) / 2; outputs are ordered arousal, dominance,
valence, as in audEERING's dimensional models.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import MappingProxyType

import numpy as np

from edge.errors import ConfigError

ORDER = ("arousal", "dominance", "valence")

#: (pleasure/valence, arousal, dominance) on -1..+1.
_PAD = {
    "anger": (-0.51, 0.59, 0.25),
    "fear": (-0.64, 0.60, -0.43),
    "happiness": (0.81, 0.51, 0.46),
    "sadness": (-0.63, -0.27, -0.33),
    "boredom": (-0.65, -0.62, -0.33),
    "disgust": (-0.60, 0.35, 0.11),
    "calm": (0.68, -0.46, 0.06),
    # "surprised" as commonly quoted from the same table; not checked against the original here.
    "surprise": (0.40, 0.67, -0.13),
    "neutral": (0.0, 0.0, 0.0),
}

#: emotion -> (arousal, dominance, valence) in [0, 1].
ADV = MappingProxyType(
    {e: tuple((np.array([a, d, p]) + 1.0) / 2.0) for e, (p, a, d) in _PAD.items()}
)

ALIASES = MappingProxyType(
    {
        "angry": "anger",
        "fearful": "fear",
        "afraid": "fear",
        "happy": "happiness",
        "sad": "sadness",
        "bored": "boredom",
        "disgusted": "disgust",
        "relaxed": "calm",
        "surprised": "surprise",
    }
)


def adv_of(emotion: str) -> np.ndarray:
    """(arousal, dominance, valence) in [0, 1] of an emotion name."""
    name = ALIASES.get(emotion.lower(), emotion.lower())
    if name not in ADV:
        raise KeyError(f"no circumplex coordinates for emotion {emotion!r}; known: {sorted(ADV)}")
    return np.asarray(ADV[name])


def expected_adv(probabilities: np.ndarray, emotions: list[str]) -> np.ndarray:
    """Probability-weighted A/D/V: (n, k) class probabilities over `emotions` -> (n, 3)."""
    coords = np.stack([adv_of(e) for e in emotions])
    p = np.asarray(probabilities, dtype=np.float64)
    return (p / p.sum(axis=1, keepdims=True)) @ coords


def human_labels(folder: Path) -> dict[str, np.ndarray]:
    """file -> A/D/V from a labels.csv (file, emotion columns) beside or above the audio, if any."""
    for table in (folder / "labels.csv", folder.parent / "labels.csv"):
        if table.is_file():
            with table.open() as f:
                rows = list(csv.DictReader(f))
            if rows and not {"file", "emotion"} <= set(rows[0]):
                raise ConfigError(
                    f"{table} has columns {sorted(rows[0])}; human labels need 'file' and "
                    "'emotion' columns (rename them, or move the table away to train without)"
                )
            if rows:
                out = {}
                for r in rows:
                    try:
                        out[r["file"]] = adv_of(r["emotion"])
                    except KeyError:
                        continue
                return out
    return {}
