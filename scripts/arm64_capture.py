"""The three sample runs of `make arm64-check`, with what each model was fed and gave.

Runs `affect-edge run speech` on the sample clip, `run face` on the sample image and `run eeg` on
the shared OpenBCI recording (the CLI's own `main`, in this process), writing each run's events
(`-o MODALITY.jsonl`) and, beside them, every model call's inputs (the front end's features, before
int8 quantisation) and outputs (dequantised) as `MODALITY.npz`, plus `platform.json`. The same
script runs on x86 and inside the arm64 root; `scripts/arm64_compare.py` compares the two folders.

    python scripts/arm64_capture.py OUT_DIR --eeg-recording PATH
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from edge.cli.main import main as affect_edge
from edge.runtime.engines.base import Engine

SAMPLES = Path(__file__).resolve().parents[1] / "edge" / "data" / "samples"
#: Versions that decide the numbers; recorded so that a mismatch can be traced to one.
PACKAGES = ("numpy", "onnxruntime", "ai-edge-litert", "opencv-python-headless", "soundfile")


class Recorder:
    """Wraps `Engine.run` to keep every call's feeds and outputs, per model file."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[list[np.ndarray], dict[str, np.ndarray]]]] = defaultdict(
            list
        )
        self._original = Engine.run

    def __enter__(self) -> Recorder:
        original = self._original
        calls = self.calls

        def run(engine: Engine, feeds):  # type: ignore[no-untyped-def]
            # Copied before the call: pipelines reuse their feature buffers frame after frame.
            if isinstance(feeds, dict):
                kept = [np.array(feeds[k]) for k in sorted(feeds)]
            elif isinstance(feeds, list | tuple):
                kept = [np.array(f) for f in feeds]
            else:
                kept = [np.array(feeds)]
            out = original(engine, feeds)
            key = f"{Path(engine.bundle.path).name}:{engine.model.file}"
            calls[key].append((kept, {k: np.array(v) for k, v in out.items()}))
            return out

        Engine.run = run  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Engine.run = self._original  # type: ignore[method-assign]

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        for model, calls in self.calls.items():
            for i, (feeds, outputs) in enumerate(calls):
                for j, f in enumerate(feeds):
                    arrays[f"{model}/in{j}/{i:05d}"] = f
                for name, o in outputs.items():
                    arrays[f"{model}/out:{name}/{i:05d}"] = o
        np.savez(path, **arrays)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def capture(out: Path, eeg_recording: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    runs = {
        "speech": ["run", "speech", str(SAMPLES / "speech_en.wav")],
        "face": ["run", "face", str(SAMPLES / "face_astronaut.jpg")],
        # The GUI does not record electrode positions: the Cyton bundle's montage, in order.
        "eeg": [
            "run",
            "eeg",
            str(eeg_recording),
            "--bundle",
            "eeg-valence-cyton8",
            "--channels",
            "Fp1,Fp2,C3,C4,P7,P8,O1,O2",
        ],
    }
    failed = 0
    for modality, argv in runs.items():
        with Recorder() as recorder:
            code = affect_edge([*argv, "--json", "-o", str(out / f"{modality}.jsonl")])
        recorder.save(out / f"{modality}.npz")
        print(f"{modality}: affect-edge {' '.join(argv)} -> exit {code}", file=sys.stderr)
        failed += code != 0
    (out / "platform.json").write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "python": platform.python_version(),
                "libc": " ".join(platform.libc_ver()),
                **{p: _version(p) for p in PACKAGES},
            },
            indent=1,
        )
        + "\n"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the events, model calls and platform")
    parser.add_argument("--eeg-recording", type=Path, required=True, help="OpenBCI GUI .txt file")
    args = parser.parse_args()
    sys.exit(capture(args.out, args.eeg_recording))
