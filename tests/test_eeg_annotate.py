"""`affect-edge run eeg FILE --annotate OUT`: the flagged windows come back as MNE annotations
(``BAD_blink``, ``BAD_muscle`` on the flagged channels, under the file's own labels) and the
levels as ``level x.xx`` annotations, read back here with MNE itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

mne = pytest.importorskip("mne")

from edge.cli.main import main  # noqa: E402
from edge.events import AffectEvent  # noqa: E402
from edge.sinks.annotations import level_spans, merged_flags  # noqa: E402

EMOTIV = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")
RATE = 128
LABELS = [f"EEG {e}-REF" for e in EMOTIV]


def artefacts() -> np.ndarray:
    """20 s of µV: noise and alpha, a blink at 8.2 s on the frontal electrodes and muscle noise
    on T7 from 12 to 14 s."""
    t = np.arange(RATE * 20) / RATE
    x = np.random.default_rng(3).normal(0, 12, (len(EMOTIV), len(t)))
    x += 20 * np.sin(2 * np.pi * 10 * t)
    blink = 300 * np.exp(-0.5 * ((t - 8.2) / 0.08) ** 2)
    for name, gain in (("AF3", 1.0), ("AF4", 1.0), ("F7", 0.6), ("F8", 0.6)):
        x[EMOTIV.index(name)] += gain * blink
    x[EMOTIV.index("T7"), 12 * RATE : 14 * RATE] += np.random.default_rng(4).normal(0, 60, 2 * RATE)
    return x


def raw_of(x: np.ndarray, labels) -> mne.io.RawArray:
    raw = mne.io.RawArray(x * 1e-6, mne.create_info(list(labels), RATE, "eeg"), verbose="error")
    raw.set_meas_date(1_700_000_000)
    return raw


def run(path, out, capsys) -> list[dict]:
    capsys.readouterr()
    code = main(["run", "eeg", str(path), "--calibration-s", "2", "--json", "--annotate", str(out)])
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    return [e for e in lines if e.get("modality") == "eeg"]


def check(annotations, events: list[dict], labels: dict[str, str], first_s: float) -> None:
    bad = [
        (round(a["onset"] - first_s, 3), a["duration"], a["description"], tuple(a["ch_names"]))
        for a in annotations
        if a["description"].startswith("BAD_")
    ]
    frontal = tuple(labels[e] for e in ("AF3", "F7", "F8", "AF4"))
    assert bad == [(8.0, 1.0, "BAD_blink", frontal), (12.0, 2.0, "BAD_muscle", (labels["T7"],))]
    levels = [a for a in annotations if a["description"].startswith("level ")]
    scored = [e for e in events if e["updated"]]
    assert len(levels) == len(scored) == 13
    for a, e in zip(levels, scored, strict=True):
        assert a["onset"] - first_s == pytest.approx(e["start_s"], abs=1e-6)
        assert a["description"] == f"level {e['values']['level']:.2f}"
        assert a["ch_names"] == ()


def test_an_edf_comes_back_as_fif_with_its_flags_and_levels(tmp_path, capsys):
    source = tmp_path / "rec.edf"
    mne.export.export_raw(source, raw_of(artefacts(), LABELS), verbose="error")
    out = tmp_path / "out_raw.fif"
    events = run(source, out, capsys)
    raw = mne.io.read_raw_fif(out, verbose="error")
    assert raw.ch_names == LABELS and raw.n_times == 20 * RATE
    check(raw.annotations, events, dict(zip(EMOTIV, LABELS, strict=True)), raw.first_time)
    # What MNE's reject_by_annotation drops is exactly the flagged spans.
    kept = raw.get_data(reject_by_annotation="omit").shape[1]
    assert kept == raw.n_times - 3 * RATE


def test_a_cropped_fif_gives_an_annot_txt_with_onsets_from_its_first_sample(tmp_path, capsys):
    raw = raw_of(np.hstack([np.zeros((len(EMOTIV), 5 * RATE)), artefacts()]), EMOTIV)
    raw.crop(tmin=5.0)  # first_samp 640: onsets must still count from the recording's start
    source = tmp_path / "rec_raw.fif"
    raw.save(source, verbose="error")
    out = tmp_path / "rec-annot.txt"
    events = run(source, out, capsys)
    annotations = mne.read_annotations(out)
    check(annotations, events, {e: e for e in EMOTIV}, 0.0)


def test_a_csv_recording_is_written_as_fif_from_its_own_samples(tmp_path, capsys):
    x = artefacts()
    source = tmp_path / "rec.csv"
    rows = ["time," + ",".join(EMOTIV)]
    rows += [f"{i / RATE:.6f}," + ",".join(f"{v:.4f}" for v in x[:, i]) for i in range(x.shape[1])]
    source.write_text("\n".join(rows) + "\n")
    out = tmp_path / "csv_raw.fif"
    events = run(source, out, capsys)
    raw = mne.io.read_raw_fif(out, preload=True, verbose="error")
    assert raw.ch_names == list(EMOTIV)
    assert np.allclose(raw.get_data(units="uV"), x, atol=1e-3)
    check(raw.annotations, events, {e: e for e in EMOTIV}, raw.first_time)


def test_annotate_refuses_a_board_and_the_recording_itself_before_any_work(tmp_path, capsys):
    source = tmp_path / "rec.edf"
    mne.export.export_raw(source, raw_of(artefacts()[:, : 4 * RATE], LABELS), verbose="error")
    assert main(["run", "eeg", "--board", "synthetic", "--annotate", str(tmp_path / "b.fif")]) == 2
    assert "give one, not --board" in capsys.readouterr().err
    same = tmp_path / "rec.fif"
    mne.io.read_raw(source, verbose="error").save(same, verbose="error")
    assert main(["run", "eeg", str(same), "--annotate", str(same)]) == 2
    assert "is the recording itself" in capsys.readouterr().err


def event(start: float, level: float | None, **flags) -> AffectEvent:
    return AffectEvent(
        "eeg",
        "x",
        "m",
        "1",
        start,
        start + 1.0,
        {"level": level} if level is not None else {},
        level is not None,
        {k: list(v) for k, v in flags.items()},
    )


def test_flags_merge_while_the_same_electrodes_show_them_and_levels_tile():
    events = [
        event(0.0, 3.0),
        event(0.5, None, blink=["AF3"]),
        event(1.0, None, blink=["AF3"], muscle=["T7"]),
        event(1.5, None, blink=["AF3", "AF4"]),
        event(3.0, None, blink=["AF3"]),
        event(3.5, 2.5),
    ]
    assert merged_flags(events, ("blink", "muscle")) == [
        (0.5, 2.0, "blink", ("AF3",)),
        (1.0, 2.0, "muscle", ("T7",)),
        (1.5, 2.5, "blink", ("AF3", "AF4")),
        (3.0, 4.0, "blink", ("AF3",)),
    ]
    assert level_spans(events) == [(0.0, 0.5, 3.0), (3.5, 4.5, 2.5)]
