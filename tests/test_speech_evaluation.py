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
    for name in ("emodb", "ravdess"):
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
