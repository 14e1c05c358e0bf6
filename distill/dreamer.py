"""DREAMER: the real `DREAMER.mat` loader, the paper's preprocessing, and a synthetic stand-in.

DREAMER (Katsigiannis & Ramzan 2018): 23 subjects x 18 film clips, 14 Emotiv channels at 128 Hz,
self-ratings 1-5. In the file: `DREAMER.Data{s}.EEG.baseline{c}` (7808 x 14, the pre-clip rest),
`DREAMER.Data{s}.EEG.stimuli{c}` (N x 14) and `DREAMER.Data{s}.ScoreValence` / `ScoreArousal` /
`ScoreDominance` (18 ratings). Read with scipy.io (MATLAB v5 files; a v7.3 file is refused with
a message saying so).

Preprocessing as HiSTN describes it: the last 60 s of each clip; each channel z-scored with the
mean and standard deviation of the middle 10 s of that clip's baseline; then the whole trial
divided by its largest absolute value. No band-pass. With `filters` (stored designs, as a
bundle's front end names them) and `mains_hz`, the clip and its baseline first go through the
device's own filters (`edge.frontends.eeg.filter_trial`), so training sees what a headset's
pipeline computes; the defaults are the paper's.

`write_synthetic` writes files of the same structure with synthetic EEG, so the real loader and
the whole protocol run end to end here, where no emotion EEG can be had: a 1/f background per
channel with DC offsets of thousands of microvolts (as Emotiv delivers), rating-dependent band
power (valence: frontal alpha asymmetry; arousal: beta and gamma up, alpha down), per-subject
gains, eye blinks on the frontal channels, muscle bursts on the temporal ones, 50 Hz line noise,
and in some trials a flat or a railed channel. It is a test fixture, not a model of emotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.profile import electrodes
from edge.errors import ConfigError

RATE_HZ = 128
EMOTIV_14 = electrodes("emotiv-14")
TARGETS = {"valence": "ScoreValence", "arousal": "ScoreArousal", "dominance": "ScoreDominance"}
TRIAL_S = 60
BASELINE_MIDDLE_S = 10


@dataclass
class Trial:
    """One subject's one clip after preprocessing: (samples, electrodes) float32, its ratings."""

    subject: int
    clip: int
    eeg: np.ndarray
    ratings: dict[str, int]
    synthetic: bool = False  # from a file `write_synthetic` made (its Disclaimer says so)
    channels: tuple[str, ...] = EMOTIV_14


def preprocess(
    stimulus: np.ndarray,
    baseline: np.ndarray,
    rate_hz: int = RATE_HZ,
    filters: tuple[str, ...] = (),
    mains_hz: int | None = None,
) -> np.ndarray:
    """The paper's steps on one trial: last 60 s, baseline z-score (middle 10 s), max-abs scale
    (after the device's filters, when given)."""
    n = TRIAL_S * rate_hz
    if len(stimulus) < n:
        raise ConfigError(
            f"a clip holds {len(stimulus) / rate_hz:.1f} s; the protocol needs {TRIAL_S} s"
        )
    if filters or mains_hz:
        from edge.frontends.eeg import filter_trial

        stimulus = filter_trial(stimulus, filters, rate_hz, mains_hz)
        baseline = filter_trial(baseline, filters, rate_hz, mains_hz)
    x = np.asarray(stimulus[-n:], dtype=np.float64)
    mid, half = len(baseline) // 2, BASELINE_MIDDLE_S * rate_hz // 2
    ref = np.asarray(baseline[mid - half : mid + half], dtype=np.float64)
    std = ref.std(axis=0)
    x = (x - ref.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)
    peak = np.abs(x).max()
    return (x / peak if peak > 0 else x).astype(np.float32)


def _field(obj, name: str, where: str):
    try:
        return getattr(obj, name)
    except AttributeError:
        raise ConfigError(f"{where} has no field {name!r}: not a DREAMER file") from None


def load_dreamer(
    path: str | Path,
    subjects: list[int] | None = None,
    filters: tuple[str, ...] = (),
    mains_hz: int | None = None,
) -> list[Trial]:
    """Every trial of a DREAMER-structured .mat, preprocessed; subjects count from 0. The
    electrodes are the file's `EEG_Electrodes` (DREAMER's 14 when it has none)."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"DREAMER file not found: {path}")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except NotImplementedError as exc:
        raise ConfigError(f"{path} is a MATLAB v7.3 (HDF5) file; save it as v7 or earlier") from exc
    except Exception as exc:  # scipy raises many types for files that are not MATLAB's
        size = path.stat().st_size
        why = (
            f"{size} bytes: shorter than a MATLAB file's 128-byte header"
            if size < 128
            else f"{type(exc).__name__}: {exc}"
        )
        raise ConfigError(
            f"{path} is not a readable MATLAB file ({why}); give DREAMER.mat or a file "
            "`--write-synthetic` made"
        ) from None
    if "DREAMER" not in mat:
        raise ConfigError(
            f"{path} holds no DREAMER struct (variables: {sorted(k for k in mat if not k.startswith('__'))})"
        )
    root = mat["DREAMER"]
    data = np.atleast_1d(_field(root, "Data", "DREAMER"))
    rate = int(getattr(root, "EEG_SamplingRate", RATE_HZ))
    synthetic = "SYNTHETIC" in str(getattr(root, "Disclaimer", ""))
    names = getattr(root, "EEG_Electrodes", None)
    channels = EMOTIV_14 if names is None else tuple(str(c).strip() for c in np.atleast_1d(names))
    trials = []
    for s, subject in enumerate(data):
        if subjects is not None and s not in subjects:
            continue
        where = f"DREAMER.Data{{{s + 1}}}"
        eeg = _field(subject, "EEG", where)
        baselines = np.atleast_1d(_field(eeg, "baseline", where + ".EEG"))
        stimuli = np.atleast_1d(_field(eeg, "stimuli", where + ".EEG"))
        scores = {k: np.atleast_1d(_field(subject, f, where)) for k, f in TARGETS.items()}
        if len(baselines) != len(stimuli) or any(len(v) != len(stimuli) for v in scores.values()):
            raise ConfigError(
                f"{where}: baseline, stimuli and score counts differ: truncated file?"
            )
        for c, (base, stim) in enumerate(zip(baselines, stimuli, strict=True)):
            stim, base = np.asarray(stim), np.asarray(base)
            if stim.ndim != 2 or stim.shape[1] != len(channels) or base.shape[1:] != stim.shape[1:]:
                raise ConfigError(
                    f"{where}.EEG.stimuli{{{c + 1}}} has shape {stim.shape}; expected "
                    f"(samples, {len(channels)}) as the file's electrodes"
                )
            ratings = {k: int(v[c]) for k, v in scores.items()}
            if not all(1 <= r <= 5 for r in ratings.values()):
                raise ConfigError(f"{where}: ratings must be 1-5, got {ratings}")
            x = preprocess(stim, base, rate, filters, mains_hz)
            trials.append(Trial(s, c, x, ratings, synthetic, channels))
    if not trials:
        raise ConfigError(f"{path}: no trials for subjects {subjects}")
    return trials


def _pink(rng: np.random.Generator, n: int, channels: int) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal((channels, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / RATE_HZ)
    spectrum /= np.sqrt(np.maximum(f, 0.5))
    x = np.fft.irfft(spectrum, n=n, axis=1)
    return (x / x.std(axis=1, keepdims=True)).T


def _band(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE_HZ)
    spectrum[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spectrum, n=n)
    return x / max(x.std(), 1e-12)


def _site(name: str) -> tuple[str, int | None]:
    """A 10-20 name's letters and number ("AF3" -> ("AF", 3); "Cz" -> ("C", None))."""
    letters = name.rstrip("0123456789zZ").upper()
    digits = name[len(letters) :]
    return letters, int(digits) if digits.isdigit() else None


def synthetic_trial(
    rng: np.random.Generator,
    seconds: float,
    valence: int,
    arousal: int,
    gain: np.ndarray,
    artefacts: bool,
    channels: tuple[str, ...] = EMOTIV_14,
) -> np.ndarray:
    """(samples, electrodes) microvolts with DC offsets: background plus rating-dependent
    rhythms, placed by each electrode's 10-20 site (frontal, lateral, posterior, left/right)."""
    n = int(seconds * RATE_HZ)
    x = 12.0 * _pink(rng, n, len(channels)) * gain
    v, a = (valence - 3) / 2.0, (arousal - 3) / 2.0  # -1 .. 1
    # Trial-to-trial variation of each rhythm that carries no rating (as attention, fatigue and
    # electrode contact vary), so that the ratings are learnable but not trivially.
    jitter = rng.lognormal(0.0, 0.25, 3)
    alpha = _band(rng, n, 8, 13) * jitter[0]
    beta = _band(rng, n, 14, 30) * jitter[1]
    gamma = _band(rng, n, 31, 45) * jitter[2]
    blink_gain, muscle = np.zeros(len(channels)), np.zeros(len(channels), dtype=bool)
    for i, name in enumerate(channels):
        letters, number = _site(name)
        frontal = letters in ("FP", "AF", "F", "FC")
        left = number is not None and number % 2 == 1
        right = number is not None and number % 2 == 0
        lateral = number is not None and number >= 5
        alpha_amp = 8.0 * (1 - 0.2 * a) * (1.4 if letters in ("O", "PO", "P") else 1.0)
        if frontal and left:
            alpha_amp *= 1 + 0.15 * v  # frontal asymmetry: more left alpha with higher valence
        if frontal and right:
            alpha_amp *= 1 - 0.15 * v
        x[:, i] += alpha_amp * alpha * gain[i]
        x[:, i] += 4.0 * (1 + 0.25 * a) * beta * gain[i]
        x[:, i] += 2.0 * (1 + 0.3 * a) * gamma * gain[i]
        blink_gain[i] = (
            1.0 if letters in ("FP", "AF") else 0.6 if letters == "F" and lateral else 0.0
        )
        muscle[i] = letters in ("T", "TP", "FT") or (lateral and letters in ("FC", "P"))
    t = np.arange(n) / RATE_HZ
    x += 3.0 * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6.3))[:, None]
    if artefacts:
        for _ in range(rng.poisson(seconds / 6)):  # blinks: frontal, 100-200 uV, 0.3 s
            s = rng.integers(0, max(1, n - 40))
            bump = np.hanning(40) * rng.uniform(100, 200)
            x[s : s + 40] += bump[: n - s, None] * blink_gain[None, :]
        for _ in range(rng.poisson(seconds / 15)):  # jaw/muscle bursts on lateral channels
            s = rng.integers(0, max(1, n - 128))
            burst = 40.0 * _band(rng, 128, 20, 60)[: n - s]
            x[s : s + 128, muscle] += burst[:, None]
        fault = rng.random()
        if fault < 0.1:
            x[:, rng.integers(0, len(channels))] = 0.0  # a flat (disconnected) channel
        elif fault < 0.2:
            x[rng.integers(0, n // 2) :, rng.integers(0, len(channels))] = 8191.0  # railed
    return x + rng.uniform(3800, 4600, len(channels))  # headset-like DC offsets


def write_synthetic(
    path: str | Path,
    subjects: int = 23,
    clips: int = 18,
    stimulus_s: float = 65.0,
    baseline_s: float = 61.0,
    seed: int = 0,
    channels: tuple[str, ...] = EMOTIV_14,
) -> Path:
    """A DREAMER-structured .mat of synthetic EEG (MATLAB v5, single precision)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    data = np.empty((1, subjects), dtype=object)
    for s in range(subjects):
        gain = rng.uniform(0.7, 1.3, len(channels))
        valence = rng.permutation(np.resize(np.arange(1, 6), clips))
        arousal = rng.permutation(np.resize(np.arange(1, 6), clips))
        dominance = rng.integers(1, 6, clips)
        baseline = np.empty((clips, 1), dtype=object)
        stimuli = np.empty((clips, 1), dtype=object)
        for c in range(clips):
            baseline[c, 0] = synthetic_trial(rng, baseline_s, 3, 3, gain, False, channels).astype(
                np.float32
            )
            stimuli[c, 0] = synthetic_trial(
                rng, stimulus_s, int(valence[c]), int(arousal[c]), gain, True, channels
            ).astype(np.float32)
        data[0, s] = {
            "Age": float(rng.integers(22, 33)),
            "Gender": "male" if s % 2 else "female",
            "EEG": {"baseline": baseline, "stimuli": stimuli},
            "ScoreValence": valence.astype(float)[:, None],
            "ScoreArousal": arousal.astype(float)[:, None],
            "ScoreDominance": dominance.astype(float)[:, None],
        }
    electrodes = np.empty((1, len(channels)), dtype=object)
    electrodes[0, :] = channels
    root = {
        "Data": data,
        "EEG_SamplingRate": float(RATE_HZ),
        "EEG_Electrodes": electrodes,
        "noOfSubjects": float(subjects),
        "noOfVideoSequences": float(clips),
        "Disclaimer": "SYNTHETIC EEG written by affect-edge (distill/dreamer.py): not DREAMER data",
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        scipy.io.savemat(f, {"DREAMER": root}, do_compression=True)
    tmp.replace(path)
    return path
