"""Any ONNX teacher that takes a raw 16 kHz waveform (1, samples) and returns A/D/V (1, 3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distill.teachers.base import Teacher
from edge.errors import ConfigError


class OnnxTeacher(Teacher):
    licence = "as the ONNX model's licence says"

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"ONNX teacher not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError(f"{path} is not a loadable ONNX model: {exc}") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 2:
            raise ConfigError(f"{path}: an ONNX teacher takes one (1, samples) waveform input")
        self.input_name = inputs[0].name
        self.output_index = next(
            (i for i, o in enumerate(outputs) if o.shape and o.shape[-1] == 3), 0
        )
        self.name = f"ONNX teacher {path.name}"

    def _predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        rows = []
        for w in waves:
            out = self.session.run(None, {self.input_name: np.asarray(w, dtype=np.float32)[None]})
            rows.append(np.asarray(out[self.output_index]).reshape(-1)[:3])
        return np.stack(rows).astype(np.float64)
