"""The EEG quality flags on realistic recordings (issue 26): blinks only on frontal electrodes,
other large slow deflections as `movement`, muscle and slow limits relative to each electrode's
calibration (with absolute floors and ceilings), the NumPy specification and the compiled
kernel giving the same flags, and at least 60% of a calm recording's windows scored."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.frontends.eeg import FLAGS, QUALITY, EegFrontEnd, QualityThresholds, is_frontal
from edge.runtime import load_bundle
from edge.runtime.registry import find_bundle
from tests.eeg_headsets import headset

pytestmark = pytest.mark.device

BUNDLES = {"emotiv": "eeg-valence", "muse": "eeg-valence-muse4"}


def windows(fe: EegFrontEnd, x: np.ndarray, rate: int) -> list[tuple[float, dict]]:
    out = []
    for s in range(0, x.shape[1], rate // 10):
        for end, _, q in fe.feed(x[:, s : s + rate // 10]):
            out.append((end / fe.spec.rate_hz - fe.delay_s, q))
    return out


@pytest.mark.parametrize("kind", sorted(BUNDLES))
def test_flags_on_a_calm_synthetic_headset(kind):
    h = headset(kind, 60.0, seed=3)
    spec = load_bundle(find_bundle(BUNDLES[kind])).manifest.front_end
    compiled = windows(EegFrontEnd(spec, h["rate"], h["channels"]), h["x"], h["rate"])
    spec_path = EegFrontEnd(spec, h["rate"], h["channels"], compiled=False)
    numpy = windows(spec_path, h["x"], h["rate"])
    assert [q for _, q in compiled] == [q for _, q in numpy]  # the kernel is the specification
    # The steady muscle tone and drift were calibrated: their electrodes' limits rose.
    for name in h["steady_muscle"]:
        assert spec_path.fast_limit[h["channels"].index(name)] > 30.0
    for name in h["drift"]:
        assert spec_path.slow_limit[h["channels"].index(name)] > 120.0
    frontal = {c for c in h["channels"] if is_frontal(c)}
    start = compiled[0][0] - 1.0  # the first window's start (after settling and calibration)
    for end, q in compiled:
        span = (end - 1.0, end)
        blinked = any(span[0] - 0.3 <= b <= span[1] for b in h["blinks"])
        clenched = any(a < span[1] and b > span[0] for a, b in h["clenches"])
        assert set(q["blink"]) <= frontal, (span, q)
        assert not q["movement"], (span, q)
        if q["muscle"]:
            assert clenched, (span, q)
        if q["blink"]:
            assert blinked, (span, q)
    for b in h["blinks"]:
        if b > start:
            assert any(q["blink"] for end, q in compiled if end - 1.3 <= b <= end), b
    for a, b in h["clenches"]:
        assert any(q["muscle"] for end, q in compiled if a < end - 0.5 and end < b + 0.5), a
    scored = sum(q["ok"] for _, q in compiled) / len(compiled)
    assert scored >= 0.6, scored


def test_a_slow_deflection_off_the_forehead_is_movement(tmp_path):
    h = headset("emotiv", 30.0, seed=4)
    x = h["x"].copy()
    rate = h["rate"]
    i0 = int(20.2 * rate)
    for name in ("O1", "O2", "P8"):
        x[h["channels"].index(name), i0 : i0 + rate // 2] += 300.0 * np.hanning(rate // 2)
    spec = load_bundle(find_bundle("eeg-valence")).manifest.front_end
    flagged = windows(EegFrontEnd(spec, rate, h["channels"]), x, rate)
    moved = [q for end, q in flagged if end - 1.0 <= 20.4 <= end]
    assert moved and {"O1", "O2", "P8"} <= set(moved[0]["movement"])
    assert not set(moved[0]["blink"]) & {"O1", "O2", "P8"}
    assert "movement" in FLAGS


def test_the_openbci_recording_blinks_stay_frontal(shared_dir):
    from devices.eeg import open_eeg_file

    path = shared_dir / "data" / "eeg-openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    spec = load_bundle(find_bundle("eeg-valence-cyton8")).manifest.front_end
    src = open_eeg_file(path, channels=tuple(spec.channels))
    out = []
    with src:
        fe = EegFrontEnd(spec, src.rate_hz, src.channels)
        for frame in src:
            out += [q for _, _, q in fe.feed(frame.data)]
    blinks = [q for q in out if q["blink"]]
    muscle = [q for q in out if q["muscle"]]
    assert len(blinks) >= 4 and all(set(q["blink"]) <= {"Fp1", "Fp2"} for q in blinks)
    assert len(muscle) >= 4
    assert sum(q["ok"] for q in out) / len(out) >= 0.6


def test_one_thresholds_object_decides_both_paths():
    # The same stricter thresholds reach the NumPy specification and the compiled kernel alike:
    # a slow limit of 20-40 µV and a muscle limit of 2-4 µV flag windows the defaults pass.
    h = headset("emotiv", 30.0, seed=5)
    spec = load_bundle(find_bundle("eeg-valence")).manifest.front_end
    strict = QualityThresholds(slow_uv=(20.0, 40.0), muscle_uv=(2.0, 4.0), line_share=0.01)
    runs = {}
    for thresholds in (QUALITY, strict):
        for compiled in (True, False):
            fe = EegFrontEnd(
                spec, h["rate"], h["channels"], compiled=compiled, thresholds=thresholds
            )
            assert (fe._kernel is not None) == compiled
            runs[thresholds, compiled] = [q for _, q in windows(fe, h["x"], h["rate"])]
    assert runs[QUALITY, True] == runs[QUALITY, False]
    assert runs[strict, True] == runs[strict, False]
    count = {t: sum(not q["ok"] for q in runs[t, True]) for t in (QUALITY, strict)}
    assert count[strict] > count[QUALITY]
    assert count[strict] == len(runs[strict, True])  # every window fails the strict limits
    with pytest.raises(dataclasses.FrozenInstanceError):
        QUALITY.gap_share = 0.5  # frozen: one owner, no edits in place
