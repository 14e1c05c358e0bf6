"""A training run's folder: per-epoch state any training loop can leave and continue from.

Every finished epoch leaves `last.pt` (all a loop needs to go on: weights, optimiser, schedule,
random generators, the best so far, the history), `best.pt` whenever validation improved, and one
row in `metrics.csv`, in that order, so a row is never ahead of the state. Resuming reads
`last.pt` only if it was made with the same settings, and gives the loop back its state, so the
resumed run ends with the very weights of one never stopped. A loop with stages (EEG: a teacher,
then its student) gives each stage a prefix (`teacher-last.pt`, `student-metrics.csv`).
Used by distill speech (distill/train.py), face (distill/face.py) and EEG (distill/eeg.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from edge.errors import ConfigError

STATE_FORMAT = "affect-edge-train-state/1"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class RunState:
    """The files of one training stage in a run folder (nothing is written when `folder` is
    None, or by a process that is not the writer, such as a torchrun rank other than 0)."""

    def __init__(
        self,
        folder: Path | None,
        config: dict,
        fields: Sequence[str],
        prefix: str = "",
        writer: bool = True,
    ) -> None:
        self.folder = None if folder is None else Path(folder)
        self.config = config
        self.fields = tuple(fields)
        self.prefix = prefix
        self.writer = writer and self.folder is not None

    def path(self, name: str) -> Path:
        return self.folder / f"{self.prefix}{name}"

    def load(self) -> dict | None:
        """The stage's last state (None when it never finished an epoch), checked to have been
        made with these settings."""
        if self.folder is None or not self.path("last.pt").exists():
            return None
        path = self.path("last.pt")
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # torch raises many types for damaged files
            raise ConfigError(
                f"{path} is not a readable training state ({type(exc).__name__})"
            ) from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ConfigError(f"{path} is not an affect-edge training state")
        if state["config"] != self.config:
            differ = sorted(
                k for k in {**self.config, **state["config"]}
                if state["config"].get(k) != self.config.get(k)
            )  # fmt: skip
            raise ConfigError(
                f"cannot resume from {path}: it was trained with other settings "
                f"({', '.join(differ)}); resume with the same options, or start over with --force"
            )
        return state

    def start(self, history: list[dict]) -> None:
        """metrics.csv from the history so far: exactly one row per finished epoch."""
        if not self.writer:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path("metrics.csv").write_text(
            ",".join(self.fields) + "\n" + "".join(self._row(h) for h in history)
        )

    def save(self, state: dict, history: list[dict], best_model: dict | None = None) -> None:
        """After an epoch: best.pt (when `best_model`, the improved weights, is given), then
        last.pt (`state` with the history), then the epoch's metrics row."""
        if not self.writer:
            return
        if best_model is not None:
            self._atomic({"epoch": state["epoch"], "model": best_model}, self.path("best.pt"))
        self._atomic(
            {"format": STATE_FORMAT, "config": self.config, **state, "history": history},
            self.path("last.pt"),
        )
        with self.path("metrics.csv").open("a") as f:
            f.write(self._row(history[-1]))

    def _row(self, h: dict) -> str:
        cells = [h["epoch"] + 1 if k == "epoch" else h.get(k) for k in self.fields]
        return ",".join(_cell(c) for c in cells) + "\n"

    @staticmethod
    def _atomic(payload: dict, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)


def generators(rng: np.random.Generator) -> dict:
    """The random state a loop needs saved to go on exactly as it would have."""
    return {"numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}


def restore_generators(state: dict, rng: np.random.Generator) -> None:
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
