"""EEG sources: BrainFlow's synthetic board (life cycle, renaming, a lost session reconnected),
BrainFlow files, EDF/BDF through pyedflib, CSV exports and the OpenBCI GUI's text format, with
the malformed files the issue lists."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from devices.eeg import (
    BoardSource,
    BrainFlowFileSource,
    CsvEegSource,
    EdfSource,
    OpenBCITextSource,
    board_id,
    open_eeg_file,
)
from devices.errors import ConfigError, SourceError

pytest.importorskip("brainflow")


def test_board_names_resolve_as_brainflow_names_them():
    assert board_id("synthetic") == board_id("SYNTHETIC_BOARD") == -1
    assert board_id("muse-2") == board_id("MUSE_2_BOARD")
    assert board_id("0") == 0  # Cyton
    with pytest.raises(ConfigError, match="unknown BrainFlow board 'musee'"):
        board_id("musee")
    with pytest.raises(ConfigError, match="needs master_board"):
        BoardSource("playback_file", file="x.csv")


def test_the_synthetic_board_streams_stamped_frames_and_survives_a_lost_session():
    names = tuple(f"E{i}" for i in range(16))
    src = BoardSource("synthetic", channels=names, block_s=0.05, backoff_s=0.05)
    with src:
        assert src.rate_hz == 250 and src.channels == names
        frames = []
        while sum(f.n_samples for f in frames) < 250:
            frame = src.read(timeout_s=2.0)
            assert frame is not None
            frames.append(frame)
        # The board disappears (its session is released under us): the source reconnects.
        src._shim.release_session()
        more = src.read(timeout_s=5.0)
        assert more is not None and src.reconnects == 1
    assert src.state == "closed" and src.stats()["reconnects"] == 1
    f = frames[-1]
    assert f.kind == "eeg" and f.data.shape[0] == 16 and f.rate_hz == 250
    assert np.all(np.isfinite(f.data)) and f.data.std() > 1  # µV, a real signal
    starts = [fr.start_s for fr in frames]
    assert starts[0] == 0.0 and all(b > a for a, b in itertools.pairwise(starts))
    with pytest.raises(ConfigError, match="16 EEG channels"):
        BoardSource("synthetic", channels=("a", "b"))


def test_a_brainflow_file_reads_back_what_the_board_recorded(tmp_path):
    from brainflow.board_shim import BoardShim, BrainFlowInputParams
    from brainflow.data_filter import DataFilter

    shim = BoardShim(-1, BrainFlowInputParams())
    shim.prepare_session()
    shim.start_stream()
    import time

    time.sleep(1.0)
    data = shim.get_board_data()
    shim.stop_stream()
    shim.release_session()
    path = tmp_path / "rec.csv"
    DataFilter.write_file(data, str(path), "w")
    src = open_eeg_file(path)
    assert isinstance(src, BrainFlowFileSource)
    with src:
        frames = list(src)
    got = np.concatenate([f.data for f in frames], axis=1)
    assert np.allclose(got, data[1:17], atol=1e-3)
    bad = tmp_path / "bad.csv"
    bad.write_text("1\t2\t3\n4\t5\t6\n")
    with pytest.raises(SourceError, match="columns; a BrainFlow file of board"), open_eeg_file(bad):
        pass


def test_edf_and_bdf_signals_come_back_in_microvolts(tmp_path):
    pyedflib = pytest.importorskip("pyedflib")
    rate, n = 128, 128 * 4
    x = np.random.default_rng(0).normal(0, 20, (3, n))
    for suffix, filetype in (
        (".edf", pyedflib.FILETYPE_EDFPLUS),
        (".bdf", pyedflib.FILETYPE_BDFPLUS),
    ):
        path = tmp_path / f"rec{suffix}"
        w = pyedflib.EdfWriter(str(path), 3, file_type=filetype)
        headers = []
        for name, dim, scale in (("AF3", "uV", 1), ("AF4", "uV", 1), ("T7", "mV", 1e-3)):
            headers.append(
                {
                    "label": name,
                    "dimension": dim,
                    "sample_frequency": rate,
                    "physical_max": 500 * scale,
                    "physical_min": -500 * scale,
                    "digital_max": 32767 if suffix == ".edf" else 8388607,
                    "digital_min": -32768 if suffix == ".edf" else -8388608,
                }
            )
        w.setSignalHeaders(headers)
        w.writeSamples([x[0], x[1], x[2] * 1e-3])
        w.close()
        src = open_eeg_file(path)
        assert isinstance(src, EdfSource)
        with src:
            got = np.concatenate([f.data for f in src], axis=1)
            assert src.channels == ("AF3", "AF4", "T7") and src.rate_hz == 128
        assert np.allclose(got, x, atol=0.05)
    with pytest.raises(SourceError, match="no signal"), EdfSource(path, ["O1"]):
        pass
    broken = tmp_path / "broken.edf"
    broken.write_bytes((tmp_path / "rec.edf").read_bytes()[:300])
    with pytest.raises(SourceError, match="not a readable EDF"), EdfSource(broken):
        pass


def test_a_consumer_csv_with_iso_times_markers_and_gaps(tmp_path):
    path = tmp_path / "mindmonitor.csv"
    rows = ["TimeStamp,RAW_TP9,RAW_AF7,RAW_AF8,RAW_TP10,HSI_TP9,Elements"]
    t0 = 1_700_000_000.0
    for i in range(512):
        t = t0 + i / 256
        stamp = __import__("datetime").datetime.fromtimestamp(t).isoformat(sep=" ")
        rows.append(f"{stamp},{800 + i % 7},{810.5},{-3},{i},1,")
        if i == 100:
            rows.append(f"{stamp},,,,,,/muse/elements/blink")  # an event row: skipped
    rows[300] = rows[300].replace(",810.5,", ",,")  # one value missing: NaN
    path.write_text("\n".join(rows) + "\n")
    cols = ["TP9=RAW_TP9", "AF7=RAW_AF7", "AF8=RAW_AF8", "TP10=RAW_TP10"]
    src = open_eeg_file(path, csv_columns=cols, csv_time="TimeStamp")
    assert isinstance(src, CsvEegSource)
    with src:
        frames = list(src)
        assert src.rate_hz == pytest.approx(256, rel=1e-3) and src.channels == (
            "TP9",
            "AF7",
            "AF8",
            "TP10",
        )
    x = np.concatenate([f.data for f in frames], axis=1)
    assert x.shape == (4, 512) and np.isnan(x).sum() == 1 and x[3, 511] == 511
    # Millivolts are converted; a rate stands in for a missing time column.
    with CsvEegSource(path, cols, unit="mV", rate_hz=256) as src:
        assert next(iter(src)).data[0, 0] == 800_000
    with (
        pytest.raises(SourceError, match=r"no column.*RAW_O1"),
        CsvEegSource(path, ["RAW_O1"], rate_hz=256),
    ):
        pass
    # Mind Monitor's header is recognised: no columns to name.
    with open_eeg_file(path) as src:
        assert src.channels == ("TP9", "AF7", "AF8", "TP10") and src.rate_hz == 256
        assert np.array_equal(np.concatenate([f.data for f in src], axis=1), x, equal_nan=True)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("when,a,b\n0,1,2\n")
    with pytest.raises(ConfigError, match="--csv-columns"):
        open_eeg_file(unknown)
    with pytest.raises(ConfigError, match="rate"), CsvEegSource(path, cols):
        pass
    # Time that jumps back: frames carry the file's times, so the consumer sees the jump.
    back = tmp_path / "back.csv"
    back.write_text(
        "t,a\n" + "".join(f"{(i if i < 300 else i - 200) / 100},{i}\n" for i in range(600))
    )
    with CsvEegSource(back, ["a"], time_column="t", block_s=0.5) as src:
        starts = [f.start_s for f in src]
    assert any(b < a for a, b in itertools.pairwise(starts))
    bad = tmp_path / "bad.csv"
    bad.write_text("t,a\n0,1\n0.01,x\n")
    with (
        pytest.raises(SourceError, match=r"bad.csv:3: not a number"),
        CsvEegSource(bad, ["a"], time_column="t") as src,
    ):
        list(src)


def test_the_openbci_gui_text_format(tmp_path, shared_dir):
    shared = shared_dir
    path = shared / "data" / "eeg-openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    src = open_eeg_file(path)
    assert isinstance(src, OpenBCITextSource)
    with src:
        frames = list(src)
        assert src.rate_hz == 250 and src.channels[0] == "EXG Channel 0"
    x = np.concatenate([f.data for f in frames], axis=1)
    assert x.shape[0] == 8 and 22_000 < x.shape[1] < 23_000
    assert abs(x[0].mean()) > 10_000  # the raw DC offsets, in µV
    assert 85 < frames[-1].end_s < 95
    truncated = tmp_path / "cut.txt"
    lines = path.read_text().splitlines()
    truncated.write_text("\n".join([*lines[:200], lines[200][:30]]) + "\n")
    with (
        pytest.raises(SourceError, match=r"cut.txt:201: .*truncated"),
        OpenBCITextSource(truncated) as src,
    ):
        list(src)
    with (
        pytest.raises(ConfigError, match="8 EXG channels; 3 names"),
        OpenBCITextSource(path, channels=("a", "b", "c")),
    ):
        pass


def _emotiv_export(path, x, rate, first_line=True):
    """An EmotivPRO CSV export as its documentation describes it: a line of key:value pairs, then
    the column header (Timestamp, counters, EEG.<electrode> in µV, quality and marker columns),
    with a motion row between EEG rows whose EEG cells are empty."""
    names = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")
    meta = (
        "title:rec, start timestamp:1623658701.49, stop timestamp:1623658723.79, headset type:"
        f"EPOCX, headset serial:X, headset firmware:625, channels:40, sampling rate:{rate}, "
        f"samples:{x.shape[1]}, version:2.1,"
    )
    header = ["Timestamp", "EEG.Counter", "EEG.Interpolated"] + [f"EEG.{n}" for n in names]
    header += ["EEG.RawCq", "EEG.Battery", "EEG.BatteryPercent", "MarkerIndex", "MOT.Q0"]
    header += [f"CQ.{n}" for n in names]
    rows = [meta] if first_line else []
    rows.append(",".join(header))
    for i in range(x.shape[1]):
        t = 1623658701.491566 + i / rate
        eeg = ",".join(f"{v:.6f}" for v in x[:, i])
        rows.append(f"{t:.6f},{i % rate},0,{eeg},0,4,80,,," + ",".join(["4"] * len(names)))
        if i % 8 == 3:  # a motion sample: the EEG cells are empty
            rows.append(
                f"{t:.6f},,," + "," * len(names) + ",,,,0.71," + ",".join([""] * len(names))
            )
    path.write_text("\n".join(rows) + "\n")
    return names


def test_consumer_exports_are_recognised_by_their_headers(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(4200.0, 20.0, (14, 640))
    # EmotivPRO: the first line's rate, EEG.<electrode> columns, motion rows skipped.
    path = tmp_path / "emotiv.csv"
    names = _emotiv_export(path, x, 128)
    with open_eeg_file(path) as src:
        assert isinstance(src, CsvEegSource) and src.channels == names and src.rate_hz == 128
        frames = list(src)
    assert np.allclose(np.concatenate([f.data for f in frames], axis=1), x, atol=1e-6)
    assert np.allclose([f.start_s for f in frames], np.arange(len(frames)) * 13 / 128)
    # Named columns work on it too (the metadata line is skipped), and --channels renames.
    with CsvEegSource(path, ["EEG.O1", "EEG.O2"]) as src:
        assert src.rate_hz == 128 and next(iter(src)).data.shape == (2, 13)
    with open_eeg_file(path, channels=tuple(f"c{i}" for i in range(14))) as src:
        assert src.channels[0] == "c0"
    with pytest.raises(ConfigError, match=r"--channels names 2 channels.*14 EEG columns"):
        open_eeg_file(path, channels=("a", "b"))
    # Without the first line, the Timestamp column gives the rate.
    bare = tmp_path / "bare.csv"
    _emotiv_export(bare, x, 128, first_line=False)
    with open_eeg_file(bare) as src:
        assert src.rate_hz == 128
    # An app that stamps each Bluetooth packet (12 samples on a Muse) with its arrival time, rounded to the millisecond: the rate
    # is still 256 (the median step between distinct stamps would say 21 Hz).
    muse = tmp_path / "muse.csv"
    stamps = [round(1.7e9 + (i // 12) * 12 / 256, 3) for i in range(2560)]
    muse.write_text(
        "timestamps,TP9,AF7,AF8,TP10,Right AUX\n"
        + "".join(f"{t:.3f},{i},1,2,3,0\n" for i, t in enumerate(stamps))
    )
    with open_eeg_file(muse) as src:
        assert src.channels == ("TP9", "AF7", "AF8", "TP10") and src.rate_hz == 256
        frames = list(src)
    assert np.concatenate([f.data for f in frames], axis=1)[0, -1] == 2559
    starts = np.array([f.start_s for f in frames])
    assert np.allclose(np.diff(starts), 26 / 256)  # packet stamps are jitter, not gaps
    # Times in milliseconds read as seconds give an implausible rate: the error says what to do.
    ms = tmp_path / "ms.csv"
    ms.write_text("time,Fp1\n" + "".join(f"{i * 4},{i}\n" for i in range(100)))
    with pytest.raises(SourceError, match="--csv-time-unit ms"), open_eeg_file(ms):
        pass
    with CsvEegSource(ms, ["Fp1"], time_column="time", time_unit="ms") as src:
        assert src.rate_hz == 250


def test_the_rate_of_a_time_column_survives_jitter_a_gap_and_a_jump_back():
    from devices.eeg.files import estimate_rate

    rng = np.random.default_rng(3)
    t = np.arange(2000) / 128 + rng.uniform(-0.002, 0.002, 2000)
    t[1200:] += 2.0  # two seconds lost
    t[1500:] -= 5.0  # and a clock set back
    assert estimate_rate(t) == 128
    assert estimate_rate(np.round(np.arange(500) / 250, 3)) == 250
    assert estimate_rate(np.arange(500) / 12.3) == pytest.approx(12.3)
    assert estimate_rate(np.zeros(10)) is None and estimate_rate(np.ones(1)) is None


def test_a_board_library_that_does_not_load_is_a_one_line_source_error(monkeypatch) -> None:
    # On arm64 BrainFlow's wheel installs, but its libraries are x86-64 builds: the first board
    # call raised a bare OSError from ctypes (make arm64-check runs the real case).
    from brainflow import board_shim

    def no_library(cls):
        raise OSError("libBoardController.so: cannot open shared object file")

    monkeypatch.setattr(board_shim.BoardControllerDLL, "get_instance", classmethod(no_library))
    with pytest.raises(SourceError, match=r"x86-64 libraries only.*run eeg FILE"):
        board_id("synthetic")
