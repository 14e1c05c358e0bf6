"""The exported C99 front ends (affect-edge export-c) against the compiled Cython ones, per hop.

Speech: 30 s of the shipped clip (resampled to 16 kHz and looped), fed in 100 ms blocks of int16
to the C log-mel (gcc -O2, single precision as on a Cortex-M FPU, and double precision) and to
the device's Cython speech kernel (DC blocker, log-mel, voice gate) and bare log-mel kernel; the
cost of one 10 ms hop (one frame). Target (issue 14): the C hop within 2x of the Cython one.
EEG: 60 s of 14 electrodes at 128 Hz, one sample at a time into the C front end (filters,
calibration, windows and int8 quantisation), per 1 s hop; the Python front end (which also
computes the quality flags and resamples) for scale only.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import report
from bench.timing import machine

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "c" / "frontend_harness.c"
BLOCK = 1600


def speech_input(seconds: int) -> np.ndarray:
    import soundfile as sf

    from edge.dsp import Resampler

    x, rate = sf.read(ROOT / "edge" / "data" / "samples" / "speech_en.wav", dtype="float32")
    x = Resampler(rate, 16000).process(x[None] if x.ndim == 1 else x.T[:1])[0]
    x = np.resize(x, seconds * 16000)
    return np.round(x * 32767).astype(np.int16)


def eeg_input(channels: int, seconds: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = 4000 + np.cumsum(rng.normal(0, 1, (seconds * 128, channels)), axis=0)
    return x.astype(np.float32)


def c_times(out: Path, unit: str, args: list[str], repeats: int, *flags: str) -> list[float]:
    exe = out / f"harness{len(flags)}"
    sources = [out / "ae_dsp.c", out / unit, out / "ae_config.c", HARNESS]
    subprocess.run(
        ["gcc", "-std=c99", "-O2", *flags, f"-I{out}", *map(str, sources), "-o", str(exe), "-lm"],
        check=True,
    )
    run = subprocess.run(
        [str(exe), *args, str(repeats)], capture_output=True, text=True, check=True
    )
    return [float(v) for v in run.stdout.split()]


def cython_speech(x: np.ndarray, repeats: int) -> tuple[list[float], list[float]]:
    """ns per frame: the device speech kernel, and the bare log-mel kernel."""
    from edge.dsp.logmel import StreamingLogMel
    from edge.frontends.speech import SpeechFrontEnd
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    spec = load_bundle(find_bundle("speech-adv")).manifest.front_end
    blocks = [x[i : i + BLOCK] for i in range(0, len(x), BLOCK)]
    device, bare = [], []
    for _ in range(repeats):
        front = SpeechFrontEnd(spec, 16000, ring_frames=len(x) // spec.hop_length)
        t0 = time.perf_counter()
        for b in blocks:
            front.push(b)
        device.append((time.perf_counter() - t0) * 1e9 / front.total_frames)
        logmel = StreamingLogMel(spec.logmel())
        t0 = time.perf_counter()
        frames = sum(len(logmel.process(b)) for b in blocks)
        bare.append((time.perf_counter() - t0) * 1e9 / frames)
    return device, bare


def python_eeg(x: np.ndarray, repeats: int) -> list[float]:
    from edge.frontends.eeg import EegFrontEnd
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    spec = load_bundle(find_bundle("eeg-valence")).manifest.front_end
    out = []
    for _ in range(repeats):
        front = EegFrontEnd(spec, 128, spec.channels)
        t0 = time.perf_counter()
        for i in range(0, len(x), 32):  # blocks of 250 ms, as a board delivers them
            front.feed(x[i : i + 32].T)
        out.append((time.perf_counter() - t0) * 1e9 * 128 / len(x))
    return out


def main(quick: bool = False) -> None:
    if shutil.which("gcc") is None:
        print("cfront: gcc is not installed; nothing measured")
        return
    from edge.runtime.registry import find_bundle
    from firmware_bridge.export_c import export_c

    repeats = 5 if quick else 15
    med = lambda v: float(np.median(v))  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        sp, ee = Path(tmp) / "speech", Path(tmp) / "eeg"
        export_c(find_bundle("speech-adv"), sp)
        export_c(find_bundle("eeg-valence"), ee)
        x = speech_input(10 if quick else 30)
        x.tofile(sp / "in.i16")
        args = [str(sp / "in.i16"), str(BLOCK), str(sp / "unused")]
        c_float = c_times(sp, "ae_logmel.c", args, repeats)
        c_double = c_times(sp, "ae_logmel.c", args, repeats, "-DAE_REAL_DOUBLE")
        device, bare = cython_speech(x, repeats)
        e = eeg_input(14, 20 if quick else 60)
        e.tofile(ee / "in.f32")
        c_eeg = c_times(ee, "ae_eeg.c", [str(ee / "in.f32"), str(ee / "unused")], repeats)
        py_eeg = python_eeg(e, max(3, repeats // 3))
    cy = med(device)
    rows = [
        [
            "speech hop: C, float (gcc -O2)",
            f"{med(c_float) / 1e3:.2f} µs",
            f"{med(c_float) / cy:.2f}x",
            "<= 2x",
        ],
        [
            "speech hop: C, double (gcc -O2)",
            f"{med(c_double) / 1e3:.2f} µs",
            f"{med(c_double) / cy:.2f}x",
            "",
        ],
        [
            "speech hop: Cython device kernel (DC, log-mel, voice gate)",
            f"{cy / 1e3:.2f} µs",
            "1.00x",
            "",
        ],
        [
            "speech hop: Cython log-mel kernel alone",
            f"{med(bare) / 1e3:.2f} µs",
            f"{med(bare) / cy:.2f}x",
            "",
        ],
        ["EEG 1 s hop, 14 electrodes: C, float", f"{med(c_eeg) / 1e3:.2f} µs", "", ""],
        [
            "EEG 1 s hop: Python front end (with quality flags)",
            f"{med(py_eeg) / 1e3:.2f} µs",
            "",
            "",
        ],
    ]
    data = {
        "speech_ns_per_hop": {
            "c_float": c_float,
            "c_double": c_double,
            "cython_device": device,
            "cython_logmel": bare,
        },
        "eeg_ns_per_hop": {"c_float": c_eeg, "python": py_eeg},
        "c_float_over_cython": med(c_float) / cy,
    }
    report.write_table(
        "cfront",
        "Exported C99 front ends against the Cython ones (one core)",
        "python -m bench cfront",
        machine(),
        f"Medians over {repeats} passes; speech in {BLOCK}-sample int16 blocks, the same samples "
        "for every front end.",
        ["front end", "per hop", "vs Cython device kernel", "target"],
        rows,
        data,
        [
            "The C front end does in single precision what the Cython kernels do in double "
            "(tests/test_export_c.py states the tolerance); the Cython device kernel also runs "
            "the voice gate, which the C one leaves to the host.",
            "The EEG rows differ in what they do: the Python front end also resamples and computes "
            "the signal-quality flags (edge/dsp/_eeg_window.pyx); they are not a like-for-like ratio.",
        ],
    )


if __name__ == "__main__":
    main()
