"""A transformers wav2vec2/WavLM A/D/V regression checkpoint, loaded from a local folder only.

The layout is that of audEERING's dimensional models: `wav2vec2` (a Wav2Vec2Model), hidden states
mean-pooled over time, then `classifier.dense` (hidden -> hidden), tanh, `classifier.out_proj`
(hidden -> 3) giving arousal, dominance, valence in roughly [0, 1]; the pooled hidden state is
the embedding. Audio is normalised per utterance (zero mean, unit variance) as its feature
extractor does. Each waveform is run at its own length, so batched results equal single ones.
Hub downloads are off (HF_HUB_OFFLINE): the folder must hold config.json and the weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.teachers.base import Teacher
from edge.errors import ConfigError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _model_class():
    from transformers import Wav2Vec2Model, Wav2Vec2PreTrainedModel

    class RegressionHead(nn.Module):
        def __init__(self, config) -> None:
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = nn.Dropout(config.final_dropout)
            self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(x)))))

    class DimensionalModel(Wav2Vec2PreTrainedModel):
        def __init__(self, config) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = RegressionHead(config)
            self.post_init()

        def forward(self, input_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.wav2vec2(input_values)[0].mean(dim=1)
            return pooled, self.classifier(pooled)

    return DimensionalModel


class Wav2Vec2Teacher(Teacher):
    licence = "as the checkpoint's licence says (audEERING's dimensional model: CC BY-NC-SA 4.0)"
    chunk_s = 10.0

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"{folder} is not a transformers checkpoint folder: config.json is missing"
            )
        if not any((folder / w).is_file() for w in WEIGHT_FILES):
            raise ConfigError(
                f"{folder} holds no weights ({' or '.join(WEIGHT_FILES)}); hub downloads are off"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self.model = _model_class().from_pretrained(str(folder), local_files_only=True).eval()
        except Exception as exc:  # transformers raises OSError/ValueError/RuntimeError variously
            raise ConfigError(
                f"{folder}: the checkpoint could not be loaded as a wav2vec2 regression model: {exc}"
            ) from exc
        if self.model.config.num_labels != 3:
            raise ConfigError(
                f"{folder}: the head has {self.model.config.num_labels} outputs; A/D/V needs 3"
            )
        if threads:
            torch.set_num_threads(threads)
        self.name = f"wav2vec2 regression checkpoint {folder.name}"

    def embed_and_predict(self, waves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        embeddings, outputs = [], []
        with torch.no_grad():
            for w in waves:
                x = np.asarray(w, dtype=np.float32)
                x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
                pooled, adv = self.model(torch.from_numpy(x)[None])
                embeddings.append(pooled[0].numpy())
                outputs.append(adv[0].numpy())
        return np.stack(embeddings).astype(np.float64), np.stack(outputs).astype(np.float64)

    def _predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        return self.embed_and_predict(waves)[1]
