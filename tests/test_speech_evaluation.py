"""The speech evaluation: speaker-disjoint folds, AUCs that match scikit-learn's, anchors on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distill.evaluate import (
    HELD_OUT,
    Corpus,
    auc,
    cross_validated,
    figures,
    read_corpus,
    speaker_folds,
    utterance_features,
)


def test_auc_matches_scikit_learn_with_ties(rng) -> None:
    from sklearn.metrics import roc_auc_score

    scores = np.round(rng.uniform(size=200), 1)  # many ties
    labels = rng.uniform(size=200) > 0.4
    assert auc(scores, labels, ~labels) == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(auc(scores, np.zeros(200, bool), labels))


def test_folds_never_split_a_speaker(shared_dir: Path) -> None:
    for name in ("emodb", "ravdess", "nemo"):
        corpus = read_corpus(shared_dir, name)
        folds = speaker_folds(corpus)
        flat = [s for group in folds for s in group]
        assert sorted(flat) == sorted(set(corpus.speakers)) and len(flat) == len(set(flat))
        assert set(HELD_OUT[name]) <= set(flat)
    ravdess = speaker_folds(read_corpus(shared_dir, "ravdess"))
    assert all(int(a) % 2 == 1 and int(b) == int(a) + 1 for a, b in ravdess)  # male-female pairs


def test_circumplex_figures_of_a_perfect_and_a_useless_predictor(shared_dir: Path) -> None:
    corpus = read_corpus(shared_dir, "ravdess")
    perfect = figures(corpus, corpus.targets)
    assert perfect["ccc"]["arousal"] == pytest.approx(1.0) and perfect["arousal_auc"] > 0.99
    constant = figures(corpus, np.full((len(corpus.files), 3), 0.5))
    assert constant["arousal_auc"] == 0.5 and constant["ccc"]["valence"] == pytest.approx(0.0)


def test_the_logistic_anchor_learns_arousal_across_speakers(shared_dir: Path) -> None:
    full = read_corpus(shared_dir, "emodb")
    keep = np.isin(full.emotions, ["anger", "happiness", "sadness", "boredom"])
    corpus = full.subset(keep)
    x = np.stack([utterance_features(p)["vector"] for p in corpus.files])
    assert x.shape[1] == 40 * 2 + 3
    pred, arousal, _ = cross_validated(corpus, x, "logreg")
    result = figures(corpus, pred, arousal)
    assert result["arousal_auc"] > 0.9  # each speaker scored by a model fit on the others


def test_subset_keeps_labels_aligned() -> None:
    c = Corpus("x", (Path("a"), Path("b"), Path("c")), ("1", "2", "1"), ("anger", "calm", "fear"))
    s = c.subset(np.array([True, False, True]))
    assert s.files == (Path("a"), Path("c")) and s.emotions == ("anger", "fear")


def test_the_pooled_folds_cover_every_speaker_but_the_held_out_once(shared_dir: Path) -> None:
    from distill.evaluate import pooled

    data = pooled(shared_dir)
    flat = [s for fold in data.folds for s in fold]
    assert len(flat) == len(set(flat)) == len(set(data.speakers[~data.held]))
    assert not set(flat) & set(data.speakers[data.held])
    assert data.folds[0] == ("emodb/03", "ravdess/01", "ravdess/02")
    assert len(data.files) == len(data.targets) == len(data.corpus_of)
    # Rows per corpus over a mask: the circumplex targets themselves score CCC 1 on each corpus.
    rows = data.rows(data.targets, data.held, "held-out speakers")
    assert [(r["corpus"], r["protocol"], r["n"]) for r in rows] == [
        ("emodb", "held-out speakers", int((data.held & (data.corpus_of == "emodb")).sum())),
        ("ravdess", "held-out speakers", int((data.held & (data.corpus_of == "ravdess")).sum())),
    ]
    assert all(v == pytest.approx(1.0) for r in rows for v in r["ccc"].values())


def test_nemo_is_read_with_its_states_on_the_circumplex(shared_dir: Path) -> None:
    nemo = read_corpus(shared_dir, "nemo")
    full = read_corpus(shared_dir, "nemo", full=True)
    # every utterance: the Whisper backbone is cheap enough for all of nEMO (STRIDE is empty)
    assert len(full.files) == len(nemo.files) == 4481
    assert set(nemo.speakers) == set(full.speakers) and len(set(nemo.speakers)) == 9
    # "surprised" is read as the circumplex's "surprise", which counts as high arousal
    assert set(nemo.emotions) == {"anger", "fear", "happiness", "sadness", "surprise", "neutral"}
    assert set(HELD_OUT["nemo"]) <= set(nemo.speakers)
    assert nemo.files[0].suffix == ".ogg" and nemo.files[0].is_file()


def _synthetic(name: str, speakers: int, rng, shift: float) -> tuple[Corpus, np.ndarray]:
    emotions = ("anger", "happiness", "sadness", "neutral", "fear")
    n = speakers * 20
    e = tuple(emotions[i % len(emotions)] for i in range(n))
    spk = tuple(f"{i // 20:02d}" for i in range(n))
    corpus = Corpus(name, tuple(Path(f"{name}/{i}.wav") for i in range(n)), spk, e)
    a = corpus.targets[:, 0]
    x = np.stack([a + rng.normal(0, 0.05, n) + shift, rng.normal(0, 1, n)], axis=1)
    return corpus, x


def test_leave_one_corpus_out_rows_weigh_corpora_equally(rng, monkeypatch) -> None:
    from distill import evaluate

    monkeypatch.setattr(
        evaluate, "HELD_OUT", {"emodb": ("00",), "ravdess": ("00",), "nemo": ("00",)}
    )
    corpora, feats = {}, {}
    for name, k, shift in (("emodb", 3, 0.0), ("ravdess", 4, 0.3), ("nemo", 6, -0.2)):
        corpora[name], feats[name] = _synthetic(name, k, rng, shift)
    rows = evaluate.probe_rows("probe", corpora, feats)
    loco = [r for r in rows if r["protocol"].startswith("leave corpus out")]
    assert [r["corpus"] for r in loco] == ["emodb", "ravdess", "nemo"]
    assert loco[0]["protocol"] == "leave corpus out: trained on ravdess + nemo"
    assert all(r["arousal_auc"] > 0.95 for r in rows)  # the first feature is arousal plus noise
    held = [r for r in rows if r["protocol"] == "held-out speakers"]
    assert [r["n"] for r in held] == [20, 20, 20]
    assert all(r["n"] == len(corpora[r["corpus"]].files) - 20 for r in loco)
    w = evaluate.corpus_weights(np.array(["a"] * 10 + ["b"] * 40))
    assert w[:10].sum() == pytest.approx(w[10:].sum())
