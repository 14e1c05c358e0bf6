"""evaluate-face's arithmetic against scikit-learn, its command line (which must not import the
evaluation module until it runs), the independence rule for students trained by train_face, and
the shipped face student's budget and held-out figures, rescored."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
metrics = pytest.importorskip("sklearn.metrics")

from distill.face_eval import HARD, auc, balanced_accuracy, confusion, targets_met  # noqa: E402
from distill.teachers.face import EXPRESSIONS  # noqa: E402


def test_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    positive = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * positive, 1)  # rounded: many ties
    assert auc(scores, positive) == pytest.approx(
        metrics.roc_auc_score(positive, scores), abs=1e-12
    )
    assert np.isnan(auc(scores, np.ones(500)))


def test_confusion_and_balanced_accuracy_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, 400)
    predicted = np.where(rng.random(400) < 0.6, labels, rng.integers(0, 7, 400))
    expected = metrics.confusion_matrix(labels, predicted, labels=range(7))
    assert np.array_equal(confusion(labels, predicted), expected)
    assert balanced_accuracy(labels, predicted) == pytest.approx(
        metrics.balanced_accuracy_score(labels, predicted)
    )


def test_targets_need_every_hard_class() -> None:
    recall = dict.fromkeys(EXPRESSIONS, 0.9) | dict.fromkeys(HARD, 0.41)
    row = {
        "fer2013_test_accuracy": 0.7,
        "fer2013_test_recall": recall,
        "genki_test_smile_auc": 0.96,
    }
    assert all(targets_met(row).values())
    row["fer2013_test_recall"] = recall | {"disgust": 0.39}
    assert targets_met(row)["hard_recall>=0.40"] is False


def test_distill_parser_does_not_import_face_eval() -> None:
    code = (
        "import argparse, sys; import distill.cli as c; p = argparse.ArgumentParser(); "
        "c.add_arguments(p); a = p.parse_args(['evaluate-face', '--shared', 'x', '--bundle', 'a=b']); "
        "assert a.bundle == ['a=b'], a; print('distill.face_eval' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_shipped_student_keeps_its_budget_and_the_figures_its_manifest_gives(shared_dir):
    """Issue 25's budget (60 K parameters, 80 KB for each int8 file) and its held-out figures,
    rescored here through the device path (LiteRT int8, one crop a call): every GENKI-4K test
    crop, and every fourth FER2013 test crop (1,248; the manifest's figure is on all 4,990)."""
    from distill.face_eval import bundle_probs, load_eval_sets
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    path = find_bundle("face-expr")
    bundle = load_bundle(path)
    manifest = bundle.manifest
    assert manifest.params <= 60_000
    for model in manifest.models:
        if model.precision == "int8":
            assert (path / model.file).stat().st_size <= 80_000, model.file
    row = next(
        r for r in manifest.measured["evaluation"]["rows"] if r["model"] == "face-expr int8 tflite"
    )
    sets = load_eval_sets(shared_dir)
    happy = bundle_probs(bundle, sets.genki, "tflite")[:, EXPRESSIONS.index("happy")]
    smile = auc(happy, sets.smile)
    assert smile >= 0.95
    assert abs(smile - row["genki_test_smile_auc"]) < 0.002
    top = bundle_probs(bundle, sets.fer.images[::4], "tflite").argmax(1)
    accuracy = float(np.mean(top == sets.fer.labels[::4]))
    # 3 standard errors of a proportion near 0.6 over 1,248 crops: 0.041.
    assert abs(accuracy - row["fer2013_test_accuracy"]) < 0.041
