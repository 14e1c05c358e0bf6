"""The EEG input defects a new user met (issue 26), each through the real `affect-edge run eeg`
in a subprocess: impossible rates, a rate the time column contradicts, EDF/BDF labels with
prefixes and references, the bundle chosen after --channels renames, header-only and headerless
CSVs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devices.eeg.files import EdfSource, electrode_label

BIN = Path(sys.executable).parent / "affect-edge"
EMOTIV = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")


def cli(*argv: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *argv], capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def write_csv(path: Path, seconds: float, rate: int = 128, time_column: bool = True) -> Path:
    x = np.random.default_rng(0).normal(4200.0, 10.0, (int(seconds * rate), len(EMOTIV)))
    head = (["time"] if time_column else []) + list(EMOTIV)
    rows = [",".join(head)]
    for i, row in enumerate(x):
        cells = ([f"{i / rate:.6f}"] if time_column else []) + [f"{v:.2f}" for v in row]
        rows.append(",".join(cells))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("rate", ["1e9", "1", "20000"])
def test_a_rate_no_eeg_has_is_refused_in_one_line_at_once(tmp_path, rate):
    path = write_csv(tmp_path / "rec.csv", 2.0, time_column=False)
    done = cli("run", "eeg", str(path), "--rate", rate, timeout=60)  # was 106 s and 16 GB
    line = one_line_error(done)
    assert "outside the 32-16,384 Hz" in line and "--rate" in line


def test_a_rate_the_time_column_contradicts_is_refused_with_both(tmp_path):
    path = write_csv(tmp_path / "rec.csv", 3.0)
    line = one_line_error(cli("run", "eeg", str(path), "--rate", "256"))
    assert "256 Hz" in line and "128 Hz" in line
    # Within 5% the rate given is taken.
    done = cli("run", "eeg", str(path), "--rate", "130", "--calibration-s", "0.5", "--json")
    assert done.returncode == 0, done.stderr


def test_a_header_only_csv_and_a_headerless_one_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("time," + ",".join(EMOTIV) + "\n")
    assert "no rows of data" in one_line_error(cli("run", "eeg", str(empty)))
    bare = tmp_path / "bare.csv"
    lines = write_csv(tmp_path / "x.csv", 1.0, time_column=False).read_text().splitlines()[1:]
    bare.write_text("\n".join(lines) + "\n")
    line = one_line_error(cli("run", "eeg", str(bare)))
    assert "no header row" in line and "14 numbers" in line


def test_edf_labels_are_read_as_electrodes_and_keep_their_names(tmp_path):
    pyedflib = pytest.importorskip("pyedflib")
    rate, seconds = 128, 16
    x = np.random.default_rng(1).normal(0, 15, (len(EMOTIV), rate * seconds))
    styles = ("EEG {}-REF", "{}-LE", "EEG {}", "{}-A1")
    labels = [
        styles[i % len(styles)].format(e.upper() if i % 2 else e) for i, e in enumerate(EMOTIV)
    ]
    path = tmp_path / "rec.edf"
    w = pyedflib.EdfWriter(str(path), len(EMOTIV), file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders(
        [
            {
                "label": label,
                "dimension": "uV",
                "sample_frequency": rate,
                "physical_max": 500,
                "physical_min": -500,
                "digital_max": 32767,
                "digital_min": -32768,
            }
            for label in labels
        ]
    )
    w.writeSamples(list(x))
    w.close()
    with EdfSource(path) as src:
        assert src.channels == EMOTIV
        assert src.metadata["labels"]["AF3"] == "EEG AF3-REF"
        assert src.metadata["labels"]["F7"] == "F7-LE".upper()
    for extra in ((), ("--channels", ",".join(EMOTIV)), ("--channels", ",".join(labels))):
        done = cli("run", "eeg", str(path), "--calibration-s", "2", "--json", *extra)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count('"modality":"eeg"') >= 10  # one event a second after 4 s
    shown = cli("run", "eeg", str(path), "--calibration-s", "2")
    assert "EEG AF3-REF -> AF3" in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    "label, name",
    [
        ("EEG Fp1-REF", "Fp1"),
        ("FP1-LE", "Fp1"),
        ("EEG FP1", "Fp1"),
        ("Fp1-A1", "Fp1"),
        ("EEG CZ-M2", "Cz"),
        ("eeg af3", "AF3"),
        ("ECG", "ECG"),
        ("EEG Fp1-F3", "EEG Fp1-F3"),  # a bipolar derivation is not one electrode
    ],
)
def test_electrode_label(label, name):
    assert electrode_label(label) == name


def write_openbci(path: Path, seconds: float, rate: int = 250) -> Path:
    """The OpenBCI GUI v6 text layout (8 EXG channels in µV, a Timestamp column in ms)."""
    n = int(seconds * rate)
    x = np.random.default_rng(2).normal(-20000.0, 10.0, (n, 8))
    lines = [
        "%OpenBCI Raw EXG Data",
        "%Number of channels = 8",
        f"%Sample Rate = {rate} Hz",
        "%Board = OpenBCI_GUI$BoardCytonSerial",
        "Sample Index, "
        + ", ".join(f"EXG Channel {i}" for i in range(8))
        + ", Accel Channel 0, Accel Channel 1, Accel Channel 2, Timestamp",
    ]
    for i, row in enumerate(x):
        cells = [str(i % 256), *(f"{v:.3f}" for v in row), "0.0", "0.0", "0.0"]
        lines.append(", ".join(cells) + f", {1.7e12 + 1000.0 * i / rate:.1f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_helps_openbci_example_chooses_the_bundle_after_the_renames(tmp_path):
    path = write_openbci(tmp_path / "OpenBCI-RAW.txt", 14.0)
    channels = "Fp1,Fp2,C3,C4,P7,P8,O1,O2"
    assert channels in cli("run", "eeg", "--help").stdout
    done = cli("run", "eeg", str(path), "--channels", channels, "--calibration-s", "2")
    assert done.returncode == 0, done.stderr
    assert "using eeg-valence-cyton8" in done.stdout + done.stderr


def test_the_synthetic_board_gives_scored_windows_by_default():
    pytest.importorskip("brainflow")
    done = cli("run", "eeg", "--board", "synthetic", "--seconds", "6", "--calibration-s", "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "synthetic board: its first 4 channels" in out and "eeg-valence-muse4" in out
    summary = next(ln for ln in out.splitlines() if " windows, " in ln)
    windows, scored = (int(w) for w in summary.replace(",", "").split()[0:3:2])
    assert windows >= 2 and scored == windows, summary
