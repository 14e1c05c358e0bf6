"""The EEG pipeline on the shipped default bundles: calibration, windows, levels, quality flags,
units, baselines, chunking, and the bad inputs the issue lists; the real OpenBCI recording."""

from __future__ import annotations

import numpy as np
import pytest

from devices.frame import Frame
from distill.dreamer import EMOTIV_14, synthetic_trial
from edge.errors import ConfigError, InputError
from edge.frontends.eeg import Baseline, EegFrontEnd, match_channels, window_inputs
from edge.pipelines.eeg import EegPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import find_bundle
from tests.streams import eeg_frames, run_stream

RATE = 128
CYTON = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(find_bundle("eeg-valence"))


def recording(seconds: float, seed: int = 0, channels=EMOTIV_14) -> np.ndarray:
    """(channels, samples) µV of clean synthetic EEG with headset-like DC offsets."""
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.8, 1.2, len(channels))
    return synthetic_trial(rng, seconds, 3, 3, gain, False, channels).T


def stream(pipe: EegPipeline, x: np.ndarray, block: int = 32, rate: float = RATE):
    return run_stream(pipe, eeg_frames(x, rate, block, pipe.input_channels))


def test_channels_are_matched_by_name_and_missing_ones_are_named():
    assert match_channels(("x", "fp2", "FP1"), ("Fp1", "Fp2")) == [2, 1]
    with pytest.raises(InputError, match=r"needs electrode\(s\) O2.*--channels"):
        match_channels(("Fp1", "Fp2", "O1"), ("Fp1", "O2"))


def test_window_inputs_centre_and_scale_each_window():
    x = np.random.default_rng(0).normal(5.0, 3.0, (4, 128, 14))
    w = window_inputs(x)
    assert np.allclose(w.mean(axis=1), 0, atol=1e-6)
    assert np.allclose(np.abs(w).max(axis=(1, 2)), 1.0)
    # A per-trial scale before it cancels: the device needs no trial statistics.
    assert np.allclose(window_inputs(7.0 * x), w, atol=1e-6)


def test_calibration_then_one_event_per_second_with_levels(bundle):
    x = recording(20)
    with EegPipeline(bundle, RATE, EMOTIV_14) as pipe:
        events = stream(pipe, x)
        assert not pipe.calibrating and pipe.baseline is not None
    # 2 s of filter settling and 10 s of calibration, then a window every second.
    assert 7 <= len(events) <= 9
    e = events[0]
    assert e.modality == "eeg" and e.updated and e.quality["ok"]
    probs = [e.values[f"level_{k}"] for k in range(1, 6)]
    assert abs(sum(probs) - 1) < 1e-3 and 1.0 <= e.values["level"] <= 5.0
    assert e.end_s - e.start_s == pytest.approx(1.0, abs=0.05)
    assert 12.5 <= e.end_s <= 14.5
    assert {"front_end", "queue", "model", "total"} <= set(e.latency_ms)
    ends = [e.end_s for e in events]
    assert np.allclose(np.diff(ends), 1.0, atol=0.02)


def test_block_size_does_not_change_the_events(bundle):
    x = recording(16, seed=3)
    out = []
    for block in (7, 64, 250):
        with EegPipeline(bundle, RATE, EMOTIV_14) as pipe:
            out.append(stream(pipe, x, block))
    assert len(out[0]) == len(out[1]) == len(out[2]) > 0
    for a, b in zip(out[0], out[2], strict=True):
        assert a.start_s == b.start_s
        for k in a.values:
            assert a.values[k] == pytest.approx(b.values[k], abs=2e-3)


def test_volts_resampling_and_a_stored_baseline(bundle, tmp_path):
    x = recording(16, seed=4)
    with EegPipeline(bundle, RATE, EMOTIV_14) as pipe:
        ref = stream(pipe, x)
        path = pipe.baseline.save(tmp_path / "me.json")
    with EegPipeline(bundle, RATE, EMOTIV_14, unit="V") as pipe:
        volts = stream(pipe, x * 1e-6)
    assert [e.values for e in volts] == [e.values for e in ref]
    # 256 Hz input is resampled to the model's 128 Hz: levels close to the 128 Hz run's.
    from edge.dsp import resample

    up = resample(x, 128, 256)
    with EegPipeline(bundle, 256, EMOTIV_14) as pipe:
        fast = stream(pipe, up, 64, rate=256)
    assert len(fast) == len(ref)
    assert (
        np.mean(
            [abs(a.values["level"] - b.values["level"]) for a, b in zip(fast, ref, strict=False)]
        )
        < 0.3
    )
    # A stored baseline skips calibration: windows come after the 2 s of settling.
    base = Baseline.load(path, EMOTIV_14)
    assert base.level.shape == (14,) and np.all(base.level > 3000)  # the DC offsets
    with EegPipeline(bundle, RATE, EMOTIV_14, baseline=base) as pipe:
        events = stream(pipe, x)
    assert events[0].end_s < 3.5 and len(events) >= 13
    with pytest.raises(ConfigError, match="calibrated for electrodes"):
        Baseline.load(path, CYTON)


def with_artefacts(x: np.ndarray) -> np.ndarray:
    """`x` (14 electrodes, samples at 128 Hz, at least 20 s) with one artefact per flag from 13 s:
    a dead electrode, a railed one, lost samples, a blink, a muscle burst and 50 Hz mains."""
    x = x.copy()
    t = np.arange(x.shape[1]) / RATE
    sl = slice(14 * RATE + 40, 14 * RATE + 80)
    x[EMOTIV_14.index("T7"), 13 * RATE :] = 4000.0  # flat (a dead electrode at its level)
    x[EMOTIV_14.index("O1"), 15 * RATE :] = 187_500.0  # railed at a Cyton's rail
    x[EMOTIV_14.index("P8"), 16 * RATE : 16 * RATE + 40] = np.nan  # samples lost
    x[EMOTIV_14.index("AF3"), sl] += 150 * np.hanning(40)  # a blink (0.3 s)
    burst = np.random.default_rng(1).normal(0, 1, RATE)
    burst = np.fft.irfft(np.where(np.fft.rfftfreq(RATE, 1 / RATE) > 25, np.fft.rfft(burst), 0))
    x[EMOTIV_14.index("FC6"), 18 * RATE : 19 * RATE] += 60 * burst / burst.std()  # muscle
    x[EMOTIV_14.index("F8")] += 400 * np.sin(2 * np.pi * 50 * t) * (t >= 17)  # mains, no notch
    return x


@pytest.mark.parametrize("mains_hz", [None, 50])
def test_the_compiled_window_matches_the_numpy_specification(bundle, mains_hz):
    x = with_artefacts(recording(22, seed=3))
    spec = bundle.manifest.front_end
    out = []
    for compiled in (True, False):
        fe = EegFrontEnd(spec, RATE, EMOTIV_14, hop_s=0.25, mains_hz=mains_hz, compiled=compiled)
        out.append([w for s in range(0, x.shape[1], 50) for w in fe.feed(x[:, s : s + 50])])
    fast, spec_path = out
    assert len(fast) == len(spec_path) > 30
    flagged = set()
    for (end_a, model_a, q_a), (end_b, model_b, q_b) in zip(fast, spec_path, strict=True):
        assert end_a == end_b and model_a.shape == model_b.shape == (1, 1, RATE, 14)
        assert model_a.dtype == np.float32
        assert np.abs(model_a - model_b).max() < 1e-5
        assert abs(q_a.pop("max_uv") - q_b.pop("max_uv")) <= 0.1
        assert abs(q_a.pop("mains_uv") - q_b.pop("mains_uv")) <= 0.1
        assert q_a == q_b
        flagged |= {name for name, chans in q_a.items() if name != "ok" and chans}
    # Every flag is raised somewhere (the notch leaves the mains's onset), so each is compared.
    assert flagged == {"flat", "railed", "disconnected", "blink", "muscle", "line_noise"}


def test_bad_channels_are_flagged_and_not_scored(bundle):
    x = with_artefacts(recording(22, seed=5))
    with EegPipeline(bundle, RATE, EMOTIV_14, mains_hz=None) as pipe:
        events = stream(pipe, x)
        assert pipe.stats()["nonfinite_samples"] == 40
    assert events[0].quality["ok"] and events[0].updated
    assert all(not e.quality["ok"] and not e.updated for e in events[1:])

    def flagged(name):
        return {ch for e in events for ch in e.quality.get(name, [])}

    assert "T7" in flagged("flat")
    assert "O1" in flagged("railed")
    assert "P8" in flagged("disconnected")
    assert "AF3" in flagged("blink")
    assert "FC6" in flagged("muscle")
    assert "F8" in flagged("line_noise")
    # Held windows repeat the last estimate rather than scoring garbage.
    assert events[-1].values == events[0].values
    assert max(e.quality["mains_uv"] for e in events) > 200
    with EegPipeline(bundle, RATE, EMOTIV_14, mains_hz=None, score_flagged=True) as pipe:
        scored = stream(pipe, x)
    assert all(e.updated for e in scored) and not scored[-1].quality["ok"]


def test_wrong_frames_are_refused_clearly(bundle):
    with EegPipeline(bundle, RATE, EMOTIV_14) as pipe:
        with pytest.raises(InputError, match="EEG frames, not audio"):
            pipe.push(Frame(np.zeros((1, 10)), 0.0, RATE, ("mono",), "audio", "test"))
        with pytest.raises(InputError, match="opened for 128 Hz"):
            pipe.push(Frame(np.zeros((14, 10)), 0.0, 256, EMOTIV_14, "eeg", "test"))
        with pytest.raises(InputError, match=r"channels=14"):
            pipe.push(Frame(np.zeros((13, 10)), 0.0, RATE, EMOTIV_14, "eeg", "test"))
    with pytest.raises(InputError, match="needs electrode"):
        EegPipeline(bundle, RATE, CYTON)
    with pytest.raises(ConfigError, match="mains must be 50 or 60"):
        EegPipeline(bundle, RATE, EMOTIV_14, mains_hz=55)


def test_a_jump_in_the_timestamps_is_marked(bundle):
    x = recording(20, seed=6)
    with EegPipeline(bundle, RATE, EMOTIV_14) as pipe:
        events = []
        for i in range(0, x.shape[1], 64):
            start = i / RATE + (5.0 if i >= 15 * RATE + 64 else 0.0)  # 5 s lost at 15.5 s
            events += pipe.push(Frame(x[:, i : i + 64], start, RATE, EMOTIV_14, "eeg", "t"))
        events += pipe.flush()
        assert pipe.stats()["gaps"] == 1
    assert any(e.quality.get("gap") for e in events)
    assert events[-1].end_s > 24.0


def test_the_openbci_recording_flags_its_blinks_and_jaw_clenches(shared_dir):
    shared = shared_dir
    from devices.eeg import open_eeg_file

    path = shared / "data" / "eeg-openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    bundle = load_bundle(find_bundle("eeg-valence-cyton8"))
    src = open_eeg_file(path, channels=CYTON)
    with src, EegPipeline(bundle, src.rate_hz, src.channels, mains_hz=60) as pipe:
        events = run_stream(pipe, src)
    assert src.rate_hz == 250 and len(events) > 70
    blinks = [e for e in events if e.quality.get("blink")]
    muscle = [e for e in events if e.quality.get("muscle")]
    # Blinks on the frontal pair; jaw clenches (EMG) near the start and end of the recording.
    assert len(blinks) >= 4 and all({"Fp1", "Fp2"} & set(e.quality["blink"]) for e in blinks[:3])
    assert any(e.end_s < 20 for e in muscle) and any(e.end_s > 80 for e in muscle)
    clean = [e for e in events if e.quality["ok"]]
    assert len(clean) > 40 and all(e.updated for e in clean)
    assert not any(e.quality.get(k) for e in events for k in ("flat", "railed", "disconnected"))


def test_a_transposed_block_gives_the_same_windows(bundle):
    """A block in Fortran order (a transposed array) goes the same way as a C-ordered one: the
    front end's fast path (the source's electrodes are the model's, in µV) copies nothing it
    need not and still hands its filters a C-ordered block."""
    spec = bundle.manifest.front_end
    x = recording(16.0, seed=5)  # (channels, samples)
    a, b = (EegFrontEnd(spec, RATE, spec.channels, mains_hz=50) for _ in range(2))
    got_c = a.feed(np.ascontiguousarray(x))
    got_f = b.feed(np.asfortranarray(x))
    assert len(got_c) == len(got_f) >= 3
    for (e0, w0, q0), (e1, w1, q1) in zip(got_c, got_f, strict=True):
        assert e0 == e1 and q0 == q1
        np.testing.assert_array_equal(w0, w1)


def test_take_block_is_the_numpy_steps_and_refuses_a_nan():
    from edge.dsp._eeg_window import take_block

    rng = np.random.default_rng(3)
    x = np.asfortranarray(4200.0 + 15.0 * rng.standard_normal((14, 77)))
    ped, buf, last = rng.uniform(4000, 4400, 14), np.empty((14, 77)), np.zeros(14)
    assert take_block(x, ped, buf, last)
    np.testing.assert_array_equal(buf, x - ped[:, None])
    np.testing.assert_array_equal(last, x[:, -1])
    x[3, 10] = np.nan
    assert not take_block(x, ped, buf, np.zeros(14)) and not take_block(x[:, :0], ped, buf, last)
