"""The offline EEG half: the HiSTN student for any headset's graph, ordinal smoothing and metrics,
DREAMER-structured files (written synthetic, read by the real loader), the protocols at a reduced
size, and a trained student exported to int8 ONNX and TFLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

from distill.cost import count_params  # noqa: E402
from distill.dreamer import EMOTIV_14, load_dreamer, preprocess, write_synthetic  # noqa: E402
from distill.eeg import (  # noqa: E402
    EegFitConfig,
    metrics,
    ordinal_targets,
    subject_dependent,
    subject_independent,
)
from distill.students import create  # noqa: E402
from edge.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_dreamer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dreamer") / "DREAMER.mat"
    return write_synthetic(path, subjects=3, clips=10, stimulus_s=62, baseline_s=20, seed=1)


def test_histn_builds_for_every_headset_graph():
    dreamer = create("histn")
    assert 1000 <= count_params(dreamer) <= 1300  # the paper: about 1.2 K
    assert dreamer(torch.randn(2, 1, 128, 14)).shape == (2, 5)
    muse = create(
        "histn", channels=["TP9", "AF7", "AF8", "TP10"], regions=[["TP9", "AF7"], ["AF8", "TP10"]]
    )
    assert muse(torch.randn(1, 1, 256, 4)).shape == (1, 5)
    cyton = ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]
    regions8 = [["Fp1", "C3"], ["P7", "O1"], ["O2", "P8"], ["C4", "Fp2"]]
    assert create("histn", channels=cyton, regions=regions8)(torch.randn(1, 1, 125, 8)).shape == (
        1,
        5,
    )
    daisy = [*cyton, "F7", "F8", "F3", "F4", "T7", "T8", "P3", "P4"]
    regions16 = [
        ["Fp1", "F7", "F3", "C3"],
        ["T7", "P7", "P3", "O1"],
        ["O2", "P4", "P8", "T8"],
        ["C4", "F4", "F8", "Fp2"],
    ]
    net16 = create(
        "histn",
        channels=daisy,
        regions=regions16,
        edges=[["Fp1", "F7"], ["F7", "F3"], ["F3", "C3"]],
    )
    assert net16(torch.randn(1, 1, 125, 16)).shape == (1, 5)
    assert count_params(net16) > count_params(muse)
    with pytest.raises(ConfigError, match="exactly once"):
        create("histn", channels=["A", "B", "C"], regions=[["A", "B"]])


def test_listing_a_region_backwards_changes_nothing():
    """A chain listed backwards is the same graph; with the (uniform) initial pooling weights the
    network's output must not change, so each electrode's features reach the head at its own
    input position whatever the order inside its region."""
    from distill.students.histn import DREAMER_REGIONS

    torch.manual_seed(0)
    net = create("histn").eval()
    backwards = create("histn", regions=[tuple(reversed(r)) for r in DREAMER_REGIONS]).eval()
    backwards.load_state_dict(net.state_dict())
    x = torch.randn(2, 1, 128, 14)
    np.testing.assert_allclose(backwards(x).detach(), net(x).detach(), atol=1e-5)


@pytest.mark.parametrize(
    "channels, regions, samples",
    [
        (None, None, 128),  # DREAMER
        (["TP9", "AF7", "AF8", "TP10"], [["TP9", "AF7"], ["AF8", "TP10"]], 256),
        (
            ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"],
            [["Fp1", "C3"], ["P7", "O1"], ["O2", "P8"], ["C4", "Fp2"]],
            125,  # an odd window: the pooling drops a sample
        ),
    ],
)
def test_the_exported_form_computes_the_same_function(channels, regions, samples):
    """`for_export` folds the temporal conv, the map mix and both BNs, and turns the linear
    hierarchy into one matrix: outputs must match the trained network's, and the exported form
    must have far fewer operations to run."""
    torch.manual_seed(0)
    config = {} if channels is None else {"channels": channels, "regions": regions}
    net = create("histn", **config)
    with torch.no_grad():
        for p in net.parameters():  # trained-looking weights, not the initial ones
            p.add_(0.2 * torch.randn_like(p))
        for _ in range(3):
            net.train()(torch.randn(16, 1, samples, len(net.channels)))
    net.eval()
    x = torch.randn(8, 1, samples, len(net.channels))
    deployed = net.for_export(x[:1]).eval()
    with torch.no_grad():
        want, got = net(x), deployed(x)
    assert float(want.abs().max()) > 0.1
    np.testing.assert_allclose(got, want, atol=1e-5 * float(want.abs().max()))
    modules = [m for m in deployed.modules() if not list(m.children())]
    assert len(modules) == 3  # temporal conv, depthwise conv, one linear layer


def test_ordinal_smoothing_matches_the_paper():
    np.testing.assert_allclose(
        ordinal_targets(np.array([2]))[0], [0.0003, 0.1065, 0.7866, 0.1065, 0.0003], atol=1e-4
    )
    assert ordinal_targets(np.array([0]))[0].argmax() == 0


def test_metrics_on_known_cases():
    y = np.array([0, 1, 2, 3, 4])
    perfect = np.eye(5)[y] + 0.1 * np.eye(5)[np.clip(y + 1, 0, 4)]
    m = metrics(y, perfect)
    assert m["f1"] == 1.0 and m["top2"] == 1.0 and m["tri_p"] == 1.0
    assert m["seq2hr"] == pytest.approx(0.8)  # the last row's second choice is not adjacent
    off_by_one = np.eye(5)[np.clip(y + 1, 0, 4)] + 0.5 * np.eye(5)[y]
    m = metrics(y, off_by_one)
    assert m["f1"] < 0.3 and m["top2"] == 1.0 and m["tri_p"] == 1.0


def test_synthetic_files_read_back_through_the_real_loader(small_dreamer, tmp_path):
    import scipy.io

    raw = scipy.io.loadmat(small_dreamer, squeeze_me=True, struct_as_record=False)["DREAMER"]
    assert raw.Data[0].EEG.baseline[0].shape == (20 * 128, 14)
    assert raw.Data[0].EEG.stimuli[3].shape == (62 * 128, 14)
    assert raw.Data[0].EEG.stimuli[0].mean() > 3000  # Emotiv-like DC offsets
    trials = load_dreamer(small_dreamer)
    assert len(trials) == 30 and all(t.synthetic for t in trials)
    t = trials[0]
    assert t.eeg.shape == (60 * 128, 14) and np.abs(t.eeg).max() == pytest.approx(1.0)
    assert set(t.ratings) == {"valence", "arousal", "dominance"}
    assert {tr.ratings["valence"] for tr in trials if tr.subject == 0} == {1, 2, 3, 4, 5}
    assert len(load_dreamer(small_dreamer, subjects=[1])) == 10
    # Truncated, foreign and short files get one clear error each.
    truncated = tmp_path / "cut.mat"
    truncated.write_bytes(small_dreamer.read_bytes()[:5000])
    with pytest.raises(ConfigError, match=r"not a readable MATLAB file|DREAMER"):
        load_dreamer(truncated)
    foreign = tmp_path / "other.mat"
    scipy.io.savemat(foreign, {"x": np.zeros(3)})
    with pytest.raises(ConfigError, match="no DREAMER struct"):
        load_dreamer(foreign)
    with pytest.raises(ConfigError, match="not found"):
        load_dreamer(tmp_path / "none.mat")
    with pytest.raises(ConfigError, match="needs 60 s"):
        preprocess(np.zeros((128 * 30, 14)), np.ones((128 * 20, 14)))


@pytest.mark.slow  # about 60 s of training on a quiet 2-core host: `make soak`
def test_protocols_run_end_to_end_at_a_reduced_size(small_dreamer):
    trials = load_dreamer(small_dreamer)
    cfg = EegFitConfig(epochs=10, steps_per_epoch=8)
    dep = subject_dependent(trials, "valence", cfg, folds=[4], tick=None)
    assert [r["subject"] for r in dep["subjects"]] == [1, 2, 3]
    mean = dep["mean"]
    assert set(mean) == {"teacher", "student", "student_no_kd"}
    assert 0.0 <= mean["student"]["f1"] <= 1.0 and mean["teacher"]["tri_p"] >= mean["teacher"]["f1"]
    # Each clip has its own signature and the test blocks come from the same clips as training:
    # this protocol is easy on synthetic data (as on DREAMER, whence its 96% figures).
    assert mean["teacher"]["f1"] > 0.3  # chance is about 0.2
    assert mean["student"]["f1"] >= mean["teacher"]["f1"] - 0.3
    ind = subject_independent(
        trials, "arousal", EegFitConfig(epochs=2, steps_per_epoch=3), calibration_s=6, subjects=[0]
    )
    row = ind["subjects"][0]
    assert set(row) == {"subject", "teacher", "student", "student_calibrated"}
    assert ind["protocol"] == "subject-independent, 6 s calibration"


def test_distill_eeg_then_export_gives_an_int8_bundle_for_both_engines(tmp_path):
    mat = tmp_path / "syn.mat"
    ckpt = tmp_path / "eeg.pt"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )

    out = cli(
        "distill",
        "eeg",
        "--dreamer",
        str(mat),
        "--write-synthetic",
        "2",
        "--epochs",
        "3",
        "--steps-per-epoch",
        "4",
        "-o",
        str(ckpt),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["params"]["student"] < report["params"]["teacher"]
    from distill.dreamer import load_dreamer as load

    windows = np.concatenate([t.eeg.reshape(60, 128, 14)[::6] for t in load(mat)])[:, None]
    np.save(tmp_path / "calib.npy", windows.astype(np.float32))
    out = cli(
        "export",
        str(ckpt),
        "--calibration",
        str(tmp_path / "calib.npy"),
        "-o",
        str(tmp_path / "bundle"),
        "--json",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    from edge.runtime import load_bundle

    bundle = load_bundle(tmp_path / "bundle")
    m = bundle.manifest
    assert m.modality == "eeg" and m.task.kind == "ordinal" and m.task.levels == 5
    assert m.front_end.channels == EMOTIV_14 and m.front_end.rate_hz == 128
    assert {(x.format, x.precision) for x in m.models} >= {("onnx", "int8"), ("tflite", "int8")}
    assert "SYNTHETIC" in m.provenance.data
    for f, figures in m.measured["verification"].items():
        if "int8" in f:
            assert figures["top1_agreement"] >= 0.9, (f, figures)


def test_regions_come_from_10_20_names_and_synthetic_files_keep_their_montage(tmp_path):
    from distill.students.histn import DREAMER_REGIONS, regions_for

    assert regions_for(EMOTIV_14) == DREAMER_REGIONS
    cyton = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
    assert regions_for(cyton) == (("Fp1",), ("C3", "P7", "O1"), ("C4", "P8", "O2"), ("Fp2",))
    assert regions_for(("TP9", "AF7", "AF8", "TP10")) == (("AF7",), ("TP9",), ("TP10",), ("AF8",))
    board = ("Fz", "C3", "Cz", "C4", "Pz", "F7", "F8")
    regions = regions_for(board)
    assert sorted(c for r in regions for c in r) == sorted(board)
    assert create("histn", channels=board)(torch.randn(1, 1, 128, 7)).shape == (1, 5)
    path = write_synthetic(
        tmp_path / "c.mat", subjects=1, clips=2, stimulus_s=61, baseline_s=12, channels=cyton
    )
    trials = load_dreamer(path, filters=("bandpass_1_45",), mains_hz=50)
    assert trials[0].channels == cyton and trials[0].eeg.shape == (60 * 128, 8)
    assert np.all(np.isfinite(trials[0].eeg)) and np.abs(trials[0].eeg).max() == pytest.approx(1.0)
