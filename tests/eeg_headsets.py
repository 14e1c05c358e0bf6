"""Realistic synthetic headset recordings with known artefacts, for the EEG quality flags.

`headset("emotiv" | "muse")` gives a calm recording in µV (channels, samples) over the
headset's DC offsets, with what real consumer recordings hold and where:

- background EEG: 1/f noise (about 10 µV RMS) and alpha at the back of the head;
- eye blinks every 7-9 s, 150-250 µV at the forehead (Fp/AF), 80% at F, 30% at FC/C, 10%
  further back (a blink is a frontal artefact: it fades with distance from the eyes);
- steady muscle tone at rest on one electrode (Muse AF8 under the headband, Emotiv T8),
  15-20 µV RMS above 20 Hz for the whole recording: the electrode's normal, not an artefact;
- steady slow drift on a few electrodes (Emotiv T7, P7, O1: saline sensors drying), 60-90 µV
  peak to peak in 0.5-4 Hz for the whole recording;
- two jaw clenches, 2 s each, 40-60 µV RMS above 20 Hz on the temporal electrodes.

The truth comes with it: each blink's time, each clench's span, the steady electrodes.
"""

from __future__ import annotations

import numpy as np

HEADSETS = {
    "emotiv": {
        "rate": 128,
        "channels": (
            "AF3",
            "F7",
            "F3",
            "FC5",
            "T7",
            "P7",
            "O1",
            "O2",
            "P8",
            "T8",
            "FC6",
            "F4",
            "F8",
            "AF4",
        ),
        "offset": 4200.0,
        "steady_muscle": ("T8",),
        "drift": ("T7", "P7", "O1"),
        "clench": ("T7", "T8", "FC5", "FC6", "F7", "F8"),
    },
    "muse": {
        "rate": 256,
        "channels": ("TP9", "AF7", "AF8", "TP10"),
        "offset": 800.0,
        "steady_muscle": ("AF8",),
        "drift": (),
        "clench": ("TP9", "TP10", "AF7", "AF8"),
    },
}


def blink_gain(name: str) -> float:
    letters = name.rstrip("0123456789zZ").upper()
    return {"FP": 1.0, "AF": 1.0, "F": 0.8, "FC": 0.3, "FT": 0.3, "C": 0.3}.get(letters, 0.1)


def _band_noise(rng, n: int, rate: int, lo: float, hi: float, rms: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    spec[(f < lo) | (f > hi)] = 0.0
    x = np.fft.irfft(spec, n)
    return x * (rms / (x.std() + 1e-12))


def headset(kind: str, seconds: float = 60.0, seed: int = 0) -> dict:
    h = HEADSETS[kind]
    rate, names = h["rate"], h["channels"]
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.empty((len(names), n))
    for i, name in enumerate(names):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1.0 / rate)
        spec /= np.sqrt(np.maximum(f, 1.0))  # 1/f power
        pink = np.fft.irfft(spec, n)
        x[i] = 10.0 * pink / pink.std()
        if name[0] in "OP" or name.startswith("TP"):
            x[i] += 8.0 * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 6))  # alpha
        x[i] += _band_noise(rng, n, rate, 20.0, 45.0, 3.0)  # a little background EMG
        if name in h["steady_muscle"]:
            x[i] += _band_noise(rng, n, rate, 20.0, 60.0, rng.uniform(15.0, 20.0))
        if name in h["drift"]:
            x[i] += _band_noise(rng, n, rate, 0.5, 3.0, rng.uniform(17.0, 22.0))
    # Blinks after the calibration's first seconds too: they are part of a calm recording.
    blinks, s = [], rng.uniform(3.0, 6.0)
    while s < seconds - 1.0:
        blinks.append(s)
        s += rng.uniform(7.0, 9.0)
    width = int(0.3 * rate)
    for b in blinks:
        a = rng.uniform(150.0, 250.0)
        i0 = int(b * rate)
        for i, name in enumerate(names):
            x[i, i0 : i0 + width] += a * blink_gain(name) * np.hanning(width)[: n - i0]
    clenches = [(0.55 * seconds, 0.55 * seconds + 2.0), (0.8 * seconds, 0.8 * seconds + 2.0)]
    for a, b in clenches:
        sl = slice(int(a * rate), int(b * rate))
        for i, name in enumerate(names):
            if name in h["clench"]:
                x[i, sl] += _band_noise(
                    rng, sl.stop - sl.start, rate, 20.0, 60.0, rng.uniform(40, 60)
                )
    return {
        "x": x + h["offset"] + rng.normal(0, 50, (len(names), 1)),
        "rate": rate,
        "channels": names,
        "blinks": blinks,
        "clenches": clenches,
        "steady_muscle": h["steady_muscle"],
        "drift": h["drift"],
    }
