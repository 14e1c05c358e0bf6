"""Recordings in the formats EEG people use (EDF+, BDF, BrainVision, EEGLAB, FIF), written here
with MNE's own writers, give through `affect-edge run eeg` the events the same signal gives from a
CSV; `MneRawSource` keeps the file's channel types, units, names, bad channels and annotations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

mne = pytest.importorskip("mne")

from devices.eeg import EdfSource, MneRawSource, open_eeg_file  # noqa: E402
from edge.cli.main import main  # noqa: E402

EMOTIV = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")
RATE, SECONDS = 128, 16


def signal() -> np.ndarray:
    """(14, 16 s at 128 Hz) µV: noise and a 10 Hz rhythm, as the Emotiv layout records it."""
    t = np.arange(RATE * SECONDS) / RATE
    noise = np.random.default_rng(3).normal(0.0, 12.0, (len(EMOTIV), len(t)))
    return noise + 20.0 * np.sin(2 * np.pi * 10.0 * t)


def raw_of(x: np.ndarray, labels: list[str]):
    info = mne.create_info(labels, RATE, "eeg")
    return mne.io.RawArray(x * 1e-6, info, verbose="error")


def write(path: Path, x: np.ndarray, labels: list[str]) -> Path:
    raw = raw_of(x, labels)
    if path.name.endswith(".fif"):
        raw.save(path, verbose="error")
    else:
        mne.export.export_raw(path, raw, verbose="error")
    return path


def run_eeg(path: Path, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["run", "eeg", str(path), "--json", "--calibration-s", "2"]) == 0
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("modality") == "eeg"]


@pytest.fixture(scope="module")
def csv_recording(tmp_path_factory) -> Path:
    """The signal as a CSV with electrode-named columns and a time column, 4 decimals of µV."""
    x = signal()
    path = tmp_path_factory.mktemp("csv") / "rec.csv"
    rows = ["time," + ",".join(EMOTIV)]
    rows += [f"{i / RATE:.6f}," + ",".join(f"{v:.4f}" for v in x[:, i]) for i in range(x.shape[1])]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    "name, labels",
    [
        # EDF+ and BDF (edfio) with the labels clinical systems write; read by pyedflib.
        ("rec.edf", [f"EEG {e.upper()}-REF" for e in EMOTIV]),
        ("rec.bdf", [f"EEG {e}-REF" for e in EMOTIV]),
        # BrainVision (pybv), EEGLAB (eeglabio) and FIF (MNE itself): read by MNE.
        ("rec.vhdr", list(EMOTIV)),
        ("rec.set", list(EMOTIV)),
        ("rec_raw.fif", [f"EEG {e}" for e in EMOTIV]),
    ],
)
def test_every_format_gives_the_events_of_the_same_signal_from_csv(
    tmp_path, capsys, csv_recording, name, labels
):
    reference = run_eeg(csv_recording, capsys)
    assert len(reference) == 12  # a window a second after 2 s settling and 2 s calibration
    events = run_eeg(write(tmp_path / name, signal(), labels), capsys)
    assert len(events) == len(reference)
    for got, want in zip(events, reference, strict=True):
        assert (got["start_s"], got["end_s"]) == (want["start_s"], want["end_s"])
        assert got["updated"] == want["updated"] and got["quality"] == want["quality"]
        for k, v in want["values"].items():
            # EDF stores 16 bits over the signal's range (0.001 µV here), BrainVision 0.1 µV
            # steps in float32, the CSV 4 decimals.
            assert got["values"][k] == pytest.approx(v, abs=2e-3), (name, k)


def test_the_reader_is_chosen_by_suffix(tmp_path):
    x = signal()[:, : RATE * 2]
    edf = write(tmp_path / "a.edf", x, list(EMOTIV))
    assert isinstance(open_eeg_file(edf), EdfSource)
    for name in ("a.vhdr", "a.set", "a_raw.fif"):
        assert isinstance(open_eeg_file(write(tmp_path / name, x, list(EMOTIV))), MneRawSource)


def test_mne_source_keeps_types_units_names_bads_and_annotations(tmp_path):
    x = signal()
    labels = [f"EEG {e.upper()}-REF" for e in EMOTIV] + ["EOG left", "STI 014"]
    info = mne.create_info(labels, RATE, ["eeg"] * len(EMOTIV) + ["eog", "stim"])
    data = np.vstack([x * 1e-6, x[:1] * 1e-6, np.zeros((1, x.shape[1]))])
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.info["bads"] = ["EEG T7-REF"]
    raw.set_annotations(
        mne.Annotations(
            onset=[3.0, 5.0, 8.0],
            duration=[1.0, 0.5, 0.0],
            description=["BAD_blink", "bad_muscle", "stimulus/1"],
            ch_names=[[], ["EEG O1-REF"], []],
        )
    )
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    for read_s in (0.1, 10.0):  # the disk chunk does not change what comes out
        with MneRawSource(path, read_s=read_s) as src:
            got = np.concatenate([f.data for f in src], axis=1)
            assert src.channels == EMOTIV and src.rate_hz == RATE
            meta = src.metadata
        assert meta["labels"]["AF3"] == "EEG AF3-REF" and meta["types"]["EOG left"] == "eog"
        assert meta["bads"] == ["EEG T7-REF"]
        assert [a["description"] for a in meta["annotations"]] == [
            "BAD_blink",
            "bad_muscle",
            "stimulus/1",
        ]
        assert meta["annotations"][1]["channels"] == ["EEG O1-REF"]
        assert meta["annotations"][0]["onset_s"] == pytest.approx(3.0)
        nan = ~np.isfinite(got)
        t7, o1 = EMOTIV.index("T7"), EMOTIV.index("O1")
        assert nan[t7].all()  # a bad channel
        assert nan[:, 3 * RATE : 4 * RATE].all() and not nan[0, 4 * RATE]  # BAD_blink, all
        assert nan[o1, 5 * RATE : int(5.5 * RATE)].all() and not nan[0, 5 * RATE]  # one channel
        assert nan.sum() == got.shape[1] + (len(EMOTIV) - 1) * RATE + RATE // 2
        assert np.allclose(got[~nan], x[~nan], atol=1e-4)  # volts to µV
    # Only the named channels, renamed with NAME=CHANNEL.
    with MneRawSource(path, ["front=EEG AF3-REF", "O2"]) as src:
        assert src.channels == ("front", "O2")
        assert np.allclose(next(iter(src)).data, x[[0, 7], :13], atol=1e-4)


def test_edf_bad_annotations_blank_their_span(tmp_path):
    x = signal()
    raw = raw_of(x, list(EMOTIV))
    raw.set_annotations(mne.Annotations([2.0, 6.0], [1.0, 0.0], ["BAD_movement", "start"]))
    path = tmp_path / "rec.edf"
    mne.export.export_raw(path, raw, verbose="error")
    with EdfSource(path) as src:
        got = np.concatenate([f.data for f in src], axis=1)
        notes = src.metadata["annotations"]
    assert [a["description"] for a in notes] == ["BAD_movement", "start"]
    nan = ~np.isfinite(got)
    assert nan[:, 2 * RATE : 3 * RATE].all() and nan.sum() == len(EMOTIV) * RATE
    assert np.allclose(got[:, ~nan[0]], x[:, ~nan[0]], atol=2e-3)


def test_speech_and_face_paths_do_not_import_mne():
    code = (
        "import sys, devices.eeg, edge.pipelines.speech, edge.pipelines.face, edge.cli.main; "
        "print('mne' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_file_mne_cannot_parse_is_one_line(tmp_path, capsys):
    fake = tmp_path / "fake.vhdr"
    fake.write_text("not a BrainVision header\n")
    assert main(["run", "eeg", str(fake)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a recording MNE can read" in err[0]


def test_run_eeg_says_what_the_file_marks_bad(tmp_path, capsys):
    raw = raw_of(signal(), [f"EEG {e}-REF" for e in EMOTIV])
    raw.info["bads"] = ["EEG T7-REF"]
    raw.set_annotations(mne.Annotations([6.0, 9.0], [1.0, 0.5], ["BAD_blink", "bad_ACQ_SKIP"]))
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    capsys.readouterr()
    events = run_eeg(path, capsys)
    spans = {e["start_s"]: e["quality"]["disconnected"] for e in events}
    assert spans[6.0] == spans[9.0] == list(EMOTIV)  # the BAD spans, on every electrode
    assert all(v == ["T7"] for k, v in spans.items() if k not in (6.0, 9.0))  # the bad channel
    assert not any(e["updated"] for e in events)  # the model needs T7: every window held
    capsys.readouterr()
    assert main(["run", "eeg", str(path), "--calibration-s", "2"]) == 0
    shown = capsys.readouterr()
    assert (
        "the file marks bad channel(s) EEG T7-REF and 2 BAD span(s) (1.5 s): read as NaN"
        in shown.out + shown.err
    )


def test_without_mne_installed_the_formats_it_reads_name_the_extra(tmp_path):
    path = write(tmp_path / "rec.vhdr", signal()[:, : 4 * RATE], list(EMOTIV))
    csv = tmp_path / "rec.csv"
    csv.write_text("time,AF3\n0,1\n")
    root = Path(__file__).resolve().parent.parent
    for argv in (["run", "eeg", str(path)], ["run", "eeg", str(csv), "--annotate", "x.fif"]):
        done = subprocess.run(
            [sys.executable, "-m", "tests.without_extras", "mne", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'affect-edge[eeg]'" in lines[0], lines
