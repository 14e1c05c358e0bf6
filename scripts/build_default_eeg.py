"""Rebuild a default EEG bundle (edge/models/eeg-valence, eeg-valence-cyton8) from scratch.

No EEG emotion data can be had here, so by default the bundle is trained on SYNTHETIC
DREAMER-structured EEG (`distill/dreamer.py`: rating-dependent rhythms over a 1/f background,
with blinks, muscle, mains, flat and railed channels) for a device's montage: it demonstrates
the runtime end to end, it is not an emotion model, and its manifest says so. With a real
DREAMER.mat (`--dreamer`, Emotiv 14 channels) the same steps build a real one.

1. Data: `--dreamer FILE`, or `--subjects` synthetic subjects for `--montage` (a device profile:
   emotiv-14, openbci-cyton, muse-2) written to build/eeg/. Clips go through the device's own
   filters (1-45 Hz band-pass, 50 Hz notch) as the pipeline runs them.
2. Teacher (a wider HiSTN) and the HiSTN student (Gaussian ordinal smoothing + KD), trained on
   blocks 0-8 of every clip, block 9 validating.
3. Held out: `--held-out` more synthetic subjects (another seed) that no choice saw; teacher and
   student F1 on every 1 s window of theirs.
4. `affect-edge export` to int8 ONNX and full-integer TFLite, calibrated on training windows.
5. A held-out subject's raw recording (baseline then clip, DC offsets and all) streamed through
   the shipped EEG pipeline on both engines; for the Cyton montage also the real OpenBCI
   recording in ../shared, with its blink and muscle flags counted. Into `measured.checks`.
Usage: python scripts/build_default_eeg.py [--montage emotiv-14] [--target valence] [--output DIR]
(any python: one without the project's modules runs it again under .venv/bin/python)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "torch")
import numpy as np  # noqa: E402

BUILD = ROOT / "build" / "eeg"
CLI = [sys.executable, "-m", "edge.cli.main"]
OPENBCI = "data/eeg-openbci/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
NAMES = {
    "emotiv-14": "eeg-{target}",
    "openbci-cyton": "eeg-{target}-cyton8",
    "muse-2": "eeg-{target}-muse4",
}


def montage(name: str) -> tuple[str, ...]:
    from devices.profile import load_profile

    return tuple(load_profile(name).sensor("eeg").channels)


def held_out_scores(student, teacher, trials, target: str) -> dict:
    from distill.eeg import _windows, metrics, predict

    x = np.stack([t.eeg for t in trials])
    y = np.array([t.ratings[target] - 1 for t in trials])
    w, wy = _windows(x, y)
    return {
        "subjects": len({t.subject for t in trials}),
        "windows": len(wy),
        "teacher": metrics(wy, predict(teacher, w)),
        "student": metrics(wy, predict(student, w)),
    }


def stream_check(bundle: Path, mat: Path, openbci: Path | None) -> dict:
    """The shipped pipeline on a held-out subject's raw recording (and the OpenBCI file)."""
    import scipy.io

    from devices.eeg import open_eeg_file
    from devices.frame import Frame
    from edge.pipelines.eeg import EegPipeline
    from edge.runtime import load_bundle
    from edge.stream import EventList, run

    b = load_bundle(bundle)
    channels = tuple(b.manifest.front_end.channels)
    root = scipy.io.loadmat(str(mat), squeeze_me=True, struct_as_record=False)["DREAMER"]
    subject = np.atleast_1d(root.Data)[0]
    raw = np.concatenate([subject.EEG.baseline[0][-12 * 128 :], subject.EEG.stimuli[0]]).T
    out: dict = {}
    for engine in ("onnx", "tflite"):
        with EegPipeline(b, 128, channels, engine=engine) as pipe:
            events = []
            for i in range(0, raw.shape[1], 32):
                events += pipe.push(Frame(raw[:, i : i + 32], i / 128, 128, channels, "eeg", "s"))
            events += pipe.flush()
        scored = [e for e in events if e.updated]
        out[f"synthetic_recording_{engine}"] = {
            "rating": int(np.atleast_1d(subject.ScoreValence)[0]),
            "windows": len(events),
            "scored": len(scored),
            "mean_level": round(float(np.mean([e.values["level"] for e in scored])), 3)
            if scored
            else None,
            "model_ms_median": round(float(np.median([e.latency_ms["model"] for e in scored])), 4)
            if scored
            else None,
        }
    if openbci is not None and openbci.is_file() and len(channels) == 8:
        src = open_eeg_file(openbci, channels=channels)
        with src, EegPipeline(b, src.rate_hz, src.channels, mains_hz=60) as pipe:
            seen = EventList()
            run(src, pipe, (seen,), signals=False)
            events = seen.events
        flags = {
            k: sum(1 for e in events if k in e.quality)
            for k in ("blink", "muscle", "line_noise", "flat", "railed", "disconnected")
        }
        out["openbci_recording"] = {
            "file": openbci.name,
            "windows": len(events),
            "scored": sum(e.updated for e in events),
            "windows_flagged": flags,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--montage", default="emotiv-14", help="device profile of the headset")
    parser.add_argument("--target", choices=["valence", "arousal"], default="valence")
    parser.add_argument("--dreamer", type=Path, help="a real DREAMER.mat (default: synthetic)")
    parser.add_argument("--subjects", type=int, default=12, help="synthetic training subjects")
    parser.add_argument("--held-out", type=int, default=3, help="synthetic held-out subjects")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps-per-epoch", type=int, default=20)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--name", help="bundle name (default by montage: eeg-valence, ...)")
    parser.add_argument(
        "--output",
        type=Path,
        help="bundle folder to write (default edge/models/NAME, the shipped bundle, replaced)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --output (only a bundle affect-edge wrote)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="export the checkpoint already in build/eeg/"
    )
    args = parser.parse_args()
    if args.output is not None:
        from distill.outputs import bundle_problem, check_output
        from edge.errors import ConfigError

        # Before the training: never over a user's folder, never without --force.
        try:
            check_output(args.output, args.force, bundle_problem, "bundle", option="--output")
        except ConfigError as exc:
            parser.error(str(exc))

    import torch

    from distill.dreamer import load_dreamer, write_synthetic
    from distill.eeg import EegFitConfig, _windows, eeg_checkpoint, train_final

    torch.set_num_threads(2)
    BUILD.mkdir(parents=True, exist_ok=True)
    channels = montage(args.montage)
    name = args.name or NAMES.get(args.montage, "eeg-{target}-" + args.montage).format(
        target=args.target
    )
    filters, mains = ("bandpass_1_45",), 50
    held = BUILD / f"synthetic-{args.montage}-held-out.mat"
    if args.dreamer:
        mat = args.dreamer
    else:
        mat = BUILD / f"synthetic-{args.montage}.mat"
        if not (args.reuse and mat.is_file()):
            write_synthetic(mat, subjects=args.subjects, seed=0, channels=channels)
    if not (args.reuse and held.is_file()):
        write_synthetic(held, subjects=args.held_out, seed=12345, channels=channels)
    trials = load_dreamer(mat, None, filters, mains)
    ckpt_path = BUILD / f"{name}.pt"
    if args.reuse and ckpt_path.is_file():
        from distill.checkpoint import Checkpoint

        report = Checkpoint.load(ckpt_path).report
    else:
        cfg = EegFitConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, seed=0)
        print(f"training on {len(trials)} clips of {mat.name} ({len(channels)} electrodes)")
        student, teacher, report = train_final(trials, args.target, cfg)
        report["held_out"] = held_out_scores(
            student, teacher, load_dreamer(held, None, filters, mains), args.target
        )
        ns = SimpleNamespace(
            target=args.target, dreamer=mat, name=name, filters=filters, mains=mains
        )
        eeg_checkpoint(student, teacher, report, ns, trials).save(ckpt_path)
    x = np.stack([t.eeg for t in trials])
    y = np.array([t.ratings[args.target] - 1 for t in trials])
    windows, _ = _windows(x, y)
    pick = np.random.default_rng(0).choice(len(windows), min(600, len(windows)), replace=False)
    calib = BUILD / f"{name}-calibration.npy"
    np.save(calib, windows[pick])
    staging = BUILD / f"{name}-bundle"
    subprocess.run(
        [
            *CLI,
            "export",
            str(ckpt_path),
            "--calibration",
            str(calib),
            "-o",
            str(staging),
            "--force",
            "--name",
            name,
        ],
        check=True,
    )
    manifest = json.loads((staging / "manifest.json").read_text())
    # Version 2: exported in HiSTN's export form (HiSTN.for_export), the same function in fewer
    # operations.
    manifest["version"] = "2"
    manifest["measured"]["checks"] = stream_check(staging, held, args.shared / OPENBCI)
    from edge.runtime.bundle import load_bundle, write_bundle

    out = args.output or ROOT / "edge" / "models" / name
    files = {p.name: p.read_bytes() for p in staging.iterdir() if p.name != "manifest.json"}
    write_bundle(out, manifest, files, overwrite=True)
    load_bundle(out)
    print(json.dumps({"held_out": report["held_out"], **manifest["measured"]["checks"]}, indent=1))
    print(f"wrote {out}")
    shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    main()
