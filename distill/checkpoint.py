"""Student checkpoints: the weights plus everything export needs to build a bundle.

A checkpoint is a `torch.save`d dict: format tag, architecture name and config (rebuilt with
`distill.students.create`), state dict, the per-example input shape, the task and front-end
configuration for the manifest, provenance, and the training report. Loading checks that the
weights fit the declared architecture and says exactly what does not.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from distill.outputs import check_checkpoint_file, not_a_checkpoint
from distill.students import create
from edge.errors import ConfigError
from edge.runtime.manifest import Provenance, Task
from edge.runtime.specs import parse_front_end

FORMAT = "affect-edge-checkpoint/1"


def source_revision() -> str:
    """The git revision of the affect-edge source that runs now, or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class Checkpoint:
    architecture: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    input_shape: tuple[int, ...]
    task: dict[str, Any]
    front_end: dict[str, Any]
    provenance: dict[str, str]
    name: str = "student"
    modality: str = "speech"
    report: dict[str, Any] = field(default_factory=dict)

    def build(self) -> torch.nn.Module:
        """The module with these weights, in eval mode; a mismatch is a ConfigError naming the keys."""
        module = create(self.architecture, **self.config)
        expected = module.state_dict()
        missing = sorted(set(expected) - set(self.state_dict))
        unexpected = sorted(set(self.state_dict) - set(expected))
        wrong = sorted(
            k
            for k in set(expected) & set(self.state_dict)
            if tuple(expected[k].shape) != tuple(self.state_dict[k].shape)
        )
        if missing or unexpected or wrong:
            details = []
            if missing:
                details.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
            if unexpected:
                details.append(f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
            for k in wrong[:5]:
                details.append(
                    f"{k}: checkpoint {tuple(self.state_dict[k].shape)} vs architecture {tuple(expected[k].shape)}"
                )
            if len(wrong) > 5:
                details.append(f"and {len(wrong) - 5} more tensors of the wrong shape")
            raise ConfigError(
                f"checkpoint weights do not match architecture {self.architecture!r} with config {self.config}: "
                + "; ".join(details)
            )
        module.load_state_dict(self.state_dict)
        return module.eval()

    def example_input(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros((batch, *self.input_shape))

    def save(self, path: str | Path) -> None:
        """Write atomically; an empty provenance date or source revision is filled in now."""
        self.provenance = dict(self.provenance)
        self.provenance["date"] = self.provenance.get("date") or datetime.date.today().isoformat()
        self.provenance["source_revision"] = (
            self.provenance.get("source_revision") or source_revision()
        )
        payload = {"format": FORMAT, **{k: getattr(self, k) for k in self.__dataclass_fields__}}
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        path = Path(path)
        check_checkpoint_file(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for corrupt or foreign files
            # torch's own message runs to several lines of weights_only advice: say it in one.
            if "Weights only load failed" in str(exc):
                why = "it holds Python objects besides tensors, which are not loaded"
            else:
                first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
                why = f"torch cannot read it ({type(exc).__name__}: {first[:120]})"
            raise not_a_checkpoint(path, why) from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ConfigError(
                f"{path} is not an affect-edge checkpoint (expected format {FORMAT!r})"
            )
        fields = {k: payload[k] for k in cls.__dataclass_fields__ if k in payload}
        missing = sorted(
            set(cls.__dataclass_fields__) - set(fields) - {"name", "modality", "report"}
        )
        if missing:
            raise ConfigError(f"{path}: checkpoint lacks {missing}")
        ckpt = cls(**fields)
        ckpt.input_shape = tuple(int(d) for d in ckpt.input_shape)
        try:
            Task.from_dict(ckpt.task)
            Provenance.from_dict(ckpt.provenance)
            parse_front_end(ckpt.front_end)
        except Exception as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        return ckpt
