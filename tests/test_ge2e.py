"""The GE2E speaker encoder rebuilt from the resemblyzer wheel's weights: it tells speakers apart
(what it was trained for, so the weights are the real ones and used right), and its top layer
carries arousal across RAVDESS actors it was not fitted on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from distill.evaluate import cross_validated, figures, read_corpus
from edge.errors import ConfigError

pytest.importorskip("torch")
if importlib.util.find_spec("resemblyzer") is None:
    pytest.skip("the resemblyzer wheel (the weights) is not installed", allow_module_level=True)

from devices.audio import read_audio
from distill.teachers.ge2e import EMBEDDING, HIDDEN, Ge2eEncoder, weights_path


@pytest.fixture(scope="module")
def encoder() -> Ge2eEncoder:
    return Ge2eEncoder()


_CACHE: dict = {}


@pytest.fixture
def ravdess(shared_dir: Path, encoder: Ge2eEncoder):
    """Six actors' angry, happy, sad and calm utterances and their features (computed once)."""
    if "ravdess" not in _CACHE:
        corpus = read_corpus(shared_dir, "ravdess")
        keep = np.isin(corpus.speakers, ["01", "02", "03", "04", "05", "06"]) & np.isin(
            corpus.emotions, ["anger", "happiness", "sadness", "calm"]
        )
        corpus = corpus.subset(keep)
        feats = []
        for path in corpus.files:
            x, rate = read_audio(path)
            feats.append(encoder.features(x[0], rate))
        _CACHE["ravdess"] = corpus, np.stack(feats)
    return _CACHE["ravdess"]


def test_the_weights_come_from_the_wheel_and_bad_audio_is_refused(encoder) -> None:
    assert weights_path().name == "pretrained.pt" and weights_path().parent.name == "resemblyzer"
    x = np.random.default_rng(0).normal(0, 0.1, 24000).astype(np.float32)
    f = encoder.features(x, 16000)
    assert f.shape == (512,) and f.dtype == np.float32
    assert np.linalg.norm(f[EMBEDDING]) <= 1.0 + 1e-5  # the mean of unit embeddings
    np.testing.assert_array_equal(encoder.features(x, 16000), f)  # deterministic
    with pytest.raises(ConfigError, match="at least one 10 ms frame"):
        encoder.features(np.zeros(0, np.float32), 16000)


def test_it_tells_speakers_apart(ravdess) -> None:
    corpus, feats = ravdess
    e = feats[:, EMBEDDING] / np.linalg.norm(feats[:, EMBEDDING], axis=1, keepdims=True)
    sim = e @ e.T
    speakers = np.array(corpus.speakers)
    same = speakers[:, None] == speakers[None, :]
    off = ~np.eye(len(e), dtype=bool)
    # Each utterance's nearest other utterance is by the same actor, nearly always.
    nearest = np.where(off, sim, -np.inf).argmax(axis=1)
    assert (speakers[nearest] == speakers).mean() > 0.9
    assert sim[same & off].mean() > sim[~same].mean() + 0.1


def test_its_top_layer_ranks_arousal_for_actors_it_was_not_fitted_on(ravdess) -> None:
    corpus, feats = ravdess
    pred, arousal, _ = cross_validated(corpus, feats[:, HIDDEN], "logreg")
    assert figures(corpus, pred, arousal)["arousal_auc"] > 0.85


def test_a_ridge_head_on_the_backbone_is_a_teacher(tmp_path, ravdess) -> None:
    from distill.audio import load_16k
    from distill.teachers import from_spec
    from distill.teachers.ge2e import apply_head, fit_head

    corpus, feats = ravdess
    train = np.isin(corpus.speakers, ["01", "02", "03", "04"])
    head = fit_head(feats[train][:, HIDDEN], corpus.targets[train], alpha=100.0)
    path = tmp_path / "head.npz"
    np.savez(path, **head, note=np.array("test head"))
    teacher = from_spec(f"ge2e:{path}")
    test = corpus.subset(~train)
    got = teacher.predict([load_16k(p) for p in test.files[:4]])
    assert got.shape == (4, 3) and np.all((got >= 0) & (got <= 1))
    np.testing.assert_allclose(
        got, apply_head(head, feats[~train][:4, HIDDEN]), atol=0.05
    )  # the same head on the features of the same files (resampled by another route)
    assert teacher.name.startswith("GE2E backbone") and "non-commercial" in teacher.licence
    with pytest.raises(ConfigError, match="GE2E teacher head not found"):
        from_spec(f"ge2e:{tmp_path / 'missing.npz'}")
