"""distill/: teachers, circumplex, pseudo-labels, and `distill speech` -> `export` end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="distillation needs the 'train' extra (torch)")
transformers = pytest.importorskip("transformers", reason="the wav2vec2 teacher needs transformers")
import soundfile as sf  # noqa: E402

from distill.circumplex import adv_of, expected_adv  # noqa: E402
from distill.pseudolabel import load_cache, pseudo_label  # noqa: E402
from distill.teachers import from_spec  # noqa: E402
from distill.teachers.wav2vec2 import Wav2Vec2Teacher, _model_class  # noqa: E402
from edge.cli.main import main  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.runtime import load_bundle  # noqa: E402


def voiced(seconds: float, rate: int, f0: float, level: float, seed: int) -> np.ndarray:
    """A vowel-like harmonic signal with vibrato and a syllabic envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (level * envelope * x / 3 + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    """A randomly initialised wav2vec2 regression model in audEERING's layout, saved to a folder."""
    folder = tmp_path_factory.mktemp("w2v2")
    config = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_labels=3,
        final_dropout=0.0,
    )
    torch.manual_seed(0)
    model = _model_class()(config)
    with torch.no_grad():  # spread the outputs so the student has something to learn
        model.classifier.out_proj.weight.mul_(20)
        model.classifier.out_proj.bias.fill_(0.5)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """12 short files by three 'speakers' (folders), at 16, 22.05 and 48 kHz, one in stereo."""
    root = tmp_path_factory.mktemp("audio")
    for s, (rate, f0) in enumerate([(16000, 110.0), (22050, 180.0), (48000, 240.0)]):
        (root / f"spk{s}").mkdir()
        for i in range(4):
            x = voiced(2.0, rate, f0 * (1 + 0.1 * i), 0.1 + 0.2 * i, seed=10 * s + i)
            data = np.stack([x, x * 0.5], axis=1) if (s, i) == (2, 3) else x
            sf.write(root / f"spk{s}" / f"u{i}.wav", data, rate)
    return root


def test_circumplex_places_emotions_sensibly() -> None:
    for e in ("anger", "fear", "happiness", "sadness", "boredom", "disgust", "calm", "neutral"):
        assert np.all((adv_of(e) >= 0) & (adv_of(e) <= 1))
    assert (
        adv_of("anger")[0] > adv_of("sadness")[0] and adv_of("happiness")[2] > adv_of("sadness")[2]
    )
    np.testing.assert_allclose(adv_of("neutral"), 0.5)
    np.testing.assert_allclose(
        expected_adv(np.array([[1.0, 1.0]]), ["angry", "sad"])[0],
        (adv_of("anger") + adv_of("sadness")) / 2,
    )
    with pytest.raises(KeyError, match="no circumplex coordinates for emotion 'smug'"):
        adv_of("smug")


def test_wav2vec2_teacher_batched_equals_single_and_chunks_long_audio(tiny_teacher) -> None:
    teacher = Wav2Vec2Teacher(tiny_teacher)
    waves = [voiced(s, 16000, 150, 0.3, seed=i) for i, s in enumerate((0.5, 1.3, 2.0))]
    batched = teacher.predict(waves)
    assert batched.shape == (3, 3) and np.all((batched >= 0) & (batched <= 1))
    singles = np.concatenate([teacher.predict([w]) for w in waves])
    np.testing.assert_allclose(batched, singles, atol=1e-6)
    teacher.chunk_s = 1.0
    long = np.concatenate([waves[2], waves[2]])
    chunked = teacher.predict([long])[0]
    pieces = teacher._predict([waves[2][:16000], waves[2][16000:]] * 2)
    np.testing.assert_allclose(chunked, np.clip(pieces.mean(axis=0), 0, 1), atol=1e-6)


def test_teacher_folder_without_weights(tmp_path, tiny_teacher) -> None:
    (tmp_path / "config.json").write_text((tiny_teacher / "config.json").read_text())
    with pytest.raises(ConfigError, match=r"holds no weights"):
        Wav2Vec2Teacher(tmp_path)
    with pytest.raises(ConfigError, match=r"config\.json is missing"):
        Wav2Vec2Teacher(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="unknown teacher kind 'bert'"):
        from_spec("bert:/x")


def test_ensemble_is_the_weighted_mean(tiny_teacher) -> None:
    wave = [voiced(1.0, 16000, 200, 0.2, seed=1)]
    one = from_spec(f"wav2vec2:{tiny_teacher}").predict(wave)
    both = from_spec(f"wav2vec2:{tiny_teacher}*3+wav2vec2:{tiny_teacher}*1").predict(wave)
    np.testing.assert_allclose(both, one, atol=1e-9)


def test_pseudo_labels_resume_and_skip_bad_files(tiny_teacher, corpus, tmp_path) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    for f in sorted(corpus.rglob("*.wav"))[:3]:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF....not audio")
    teacher = Wav2Vec2Teacher(tiny_teacher)
    items, labels = pseudo_label(teacher, folder, tmp_path / "cache", variants=1)
    assert len(items) == 6 and set(labels) == {it.key for it in items}  # broken.wav skipped
    lines = (tmp_path / "cache" / "labels.rank0.jsonl").read_text().splitlines()
    (tmp_path / "cache" / "labels.rank0.jsonl").write_text("\n".join(lines[:2]) + "\n")
    _, again = pseudo_label(teacher, folder, tmp_path / "cache", variants=1)
    assert again.keys() == labels.keys()
    for k in labels:
        np.testing.assert_allclose(
            again[k], labels[k], atol=1e-6
        )  # relabelled identically (deterministic audio)
    assert len(load_cache(tmp_path / "cache")) == 6


def test_pseudo_labelling_shards_across_torchrun_ranks(tiny_teacher, corpus, tmp_path) -> None:
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    done = subprocess.run(
        [
            torchrun,
            "--nproc_per_node=2",
            "--master_port=29577",
            "-m",
            "distill.pseudolabel",
            "--teacher",
            f"wav2vec2:{tiny_teacher}",
            "--audio",
            str(corpus),
            "--cache",
            str(tmp_path),
            "--variants",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Both ranks write to one merged stdout: their summaries can land on one line, so find each object.
    rows = [json.loads(obj) for obj in re.findall(r"\{[^{}]*\}", done.stdout)]
    assert sorted(r["rank"] for r in rows) == [0, 1] and all(r["world"] == 2 for r in rows)
    shards = {p.name: len(p.read_text().splitlines()) for p in tmp_path.glob("labels.rank*.jsonl")}
    assert shards == {
        "labels.rank0.jsonl": 12,
        "labels.rank1.jsonl": 12,
    }  # 12 files x 2 variants, split evenly
    one_process = pseudo_label(
        Wav2Vec2Teacher(tiny_teacher), corpus, tmp_path / "single", variants=1
    )[1]
    merged = load_cache(tmp_path)
    assert merged.keys() == one_process.keys()
    for key in merged:
        np.testing.assert_allclose(merged[key], one_process[key], atol=1e-6)


def test_distill_then_export_gives_a_verified_int8_bundle(
    tiny_teacher, corpus, tmp_path, capsys
) -> None:
    ckpt = tmp_path / "student.pt"
    assert (
        main(
            [
                "distill",
                "speech",
                "--teacher",
                f"wav2vec2:{tiny_teacher}",
                "--audio",
                str(corpus),
                "-o",
                str(ckpt),
                "--variants",
                "1",
                "--epochs",
                "3",
                "--steps-per-epoch",
                "4",
                "--val-speakers",
                "spk1",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == {
        "by": "speaker",
        "held_out": ["spk1"],
        "train_examples": 16,
        "val_utterances": 4,
    }
    assert report["cost"]["params"] <= 72_000
    assert set(report["student_vs_teacher_ccc"]) == {"arousal", "dominance", "valence"}
    bundle = tmp_path / "bundle"
    assert (
        main(["export", str(ckpt), "--calibration", str(corpus), "-o", str(bundle), "--json"]) == 0
    )
    capsys.readouterr()
    b = load_bundle(bundle)
    assert b.manifest.front_end.kind == "logmel" and b.manifest.front_end.n_mels == 40
    assert "wav2vec2" in b.manifest.provenance.teacher
    assert main(["models", "verify", str(bundle), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
