"""int8 against float on inputs the device's own front end makes, for `affect-edge models verify`.

A bundle's reference examples come from its calibration data. If that data was not what the
device feeds (face crops in 0-255 when the front end maps pixels to [-1, 1]), the int8 input
scale fits the wrong range and the reference check still passes, because the references share the
mistake. This check makes fresh inputs through the front end the device runs, from the samples
shipped with the package (the speech clip through `edge.frontends.speech`; crops of the sample
photograph through `edge.frontends.face.crop.to_input`; synthetic EEG through `EegFrontEnd`), and
compares every int8 model with a float model of the bundle on them: top-1 agreement for class
scores (the float top class among the int8 model's tied top classes), and for regressions the
largest difference against the manifest's int8 tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.runtime.bundle import Bundle
from edge.runtime.specs import EegSpec, ImageSpec, LogMelSpec

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
#: Least top-1 agreement of int8 with float on device inputs (a bundle calibrated on the wrong
#: range scored 0.447 in issue 31; right, 0.99).
MIN_TOP1 = 0.9
EXAMPLES = 64


def speech_inputs(spec: LogMelSpec, n: int) -> np.ndarray:
    import soundfile as sf

    from edge.frontends.speech import features, windows

    x, rate = sf.read(SAMPLES / "speech_en.wav", dtype="float32", always_2d=True)
    frames = features(x.mean(axis=1), rate, spec)
    w = windows(frames, spec, max(1, spec.window_frames // 8))
    return w[np.linspace(0, len(w) - 1, min(n, len(w))).round().astype(int)]


def face_inputs(spec: ImageSpec, n: int, seed: int = 0) -> np.ndarray:
    import cv2

    from edge.frontends.face.crop import to_input

    flag = cv2.IMREAD_GRAYSCALE if spec.n_channels == 1 else cv2.IMREAD_COLOR
    img = cv2.imread(str(SAMPLES / "face_astronaut.jpg"), flag)
    if spec.n_channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    crops = []
    for _ in range(n):
        s = int(rng.integers(min(h, w) // 4, min(h, w)))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        crops.append(
            cv2.resize(
                img[y : y + s, x : x + s], (spec.width, spec.height), interpolation=cv2.INTER_AREA
            )
        )
    return to_input(np.stack(crops), spec)


def eeg_inputs(spec: EegSpec, n: int, seed: int = 0) -> np.ndarray:
    """Windows of synthetic EEG (1/f noise plus an alpha rhythm, in µV) after the baseline."""
    from edge.frontends.eeg import EegFrontEnd

    rate, channels = spec.rate_hz, len(spec.channels)
    hop = spec.window_s / 4
    seconds = spec.baseline_s + spec.window_s + n * hop + 3.0
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    spectrum = np.fft.rfft(rng.standard_normal((channels, t.size)), axis=1)
    f = np.fft.rfftfreq(t.size, 1 / rate)
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(f, 1.0)), t.size, axis=1)
    alpha = np.sin(2 * np.pi * 10 * t + rng.uniform(0, 2 * np.pi, (channels, 1)))
    x = 20 * pink / pink.std() + 8 * alpha
    front = EegFrontEnd(spec, rate, spec.channels, hop_s=hop)
    out = [w for _, w, _ in front.feed(x)] + [w for _, w, _ in front.finish()]
    return np.concatenate(out)[:n].reshape(-1, *spec.input_shape()).astype(np.float32)


def device_inputs(bundle: Bundle, n: int = EXAMPLES) -> tuple[np.ndarray, str] | None:
    """(inputs, what made them) for the bundle's front end, or None where there is no front end."""
    spec = bundle.manifest.front_end
    if isinstance(spec, LogMelSpec):
        return speech_inputs(spec, n), "windows of the sample speech clip (speech_en.wav)"
    if isinstance(spec, ImageSpec):
        return face_inputs(spec, n), "crops of the sample photograph (face_astronaut.jpg)"
    if isinstance(spec, EegSpec):
        return eeg_inputs(spec, n), "windows of synthetic EEG after the baseline"
    return None


def int8_against_float(bundle: Bundle) -> dict[str, Any] | None:
    """Each int8 model against the bundle's float model (same format first) on device inputs.

    A model whose format's runtime is not installed here (a TFLite model without LiteRT) is not
    built: it is listed under ``skipped`` with the reason, and the others are judged."""
    from edge.runtime.verify import missing_runtime, run_each

    made = device_inputs(bundle)
    missing = {m.format: missing_runtime(m.format) for m in bundle.manifest.models}
    skipped = [
        {"file": m.file, "reason": missing[m.format]}
        for m in bundle.manifest.models
        if missing[m.format] is not None
    ]
    models = [m for m in bundle.manifest.models if missing[m.format] is None]
    floats = [m for m in models if m.precision == "fp32"]
    if made is None or not floats:
        return None
    inputs, source = made
    task = bundle.manifest.task
    classes = task.kind in ("classification", "ordinal")
    tolerance = bundle.manifest.tolerance.get("int8")
    reference: dict[str, np.ndarray] = {}
    rows = []
    for m in models:
        if m.precision != "int8":
            continue
        ref = next((f for f in floats if f.format == m.format), floats[0])
        if ref.file not in reference:
            reference[ref.file] = run_each(bundle, ref, inputs).astype(np.float64)
        want = reference[ref.file]
        got = run_each(bundle, m, inputs).astype(np.float64)
        row: dict[str, Any] = {
            "file": m.file,
            "against": ref.file,
            "max_abs": float(np.max(np.abs(got - want))),
        }
        if classes:
            top = got.max(axis=1, keepdims=True)
            among = got[np.arange(len(got)), want.argmax(axis=1)] >= top[:, 0] - 1e-12
            row["top1_agreement"] = float(np.mean(among))
            row["ok"] = row["top1_agreement"] >= MIN_TOP1
            row["limit"] = f"top-1 >= {MIN_TOP1}"
        else:
            row["ok"] = tolerance is None or row["max_abs"] <= tolerance
            row["limit"] = f"max |diff| <= {tolerance:.3g}" if tolerance is not None else "none"
        rows.append(row)
    return {
        "examples": len(inputs),
        "source": source,
        "models": rows,
        "skipped": skipped,
        "ok": all(r["ok"] for r in rows),
    }
