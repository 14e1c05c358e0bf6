"""Where a speech student falls short of its Whisper teacher: on the speakers it trained on, on its
validation speakers, or on the held-out speakers.

For every corpus and each group of speakers (training, validation, held-out; as
scripts/build_speech_student.py split them), on the clean utterances: the student's CCC against
the teacher's A/D/V (the student's own training target), and the arousal and valence AUC of the
teacher and of the student against the labels (distill/evaluate.py's definitions). The student
runs in float on the device's log-mel (window mean removed, 1 s windows every 0.5 s, averaged),
the teacher on its cached Whisper features. A student that matches its teacher on the training
speakers and not on the others is short of speakers, not of capacity or steps.

Then the sample clip under white noise at 10 dB SNR (bench/noise.py's noise, seed 0): the
student's mean arousal over every 1 s window (float) clean, noisy, and noisy with each window's
mean taken from the clean window instead of its own. If the last moves as much as the noisy one,
the shift comes from the spectrum's shape under noise, not from the window-mean normalisation;
and the bundle's int8 device path (OUT/bundle beside the checkpoint), clean and noisy.

Usage: python scripts/speech_student_gap.py --student build/speech-v4/student.pt
       [--teacher build/teachers/whisper-head.npz] [--shared ../shared] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "torch")
import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--student", type=Path, required=True, help="a student.pt checkpoint")
    parser.add_argument(
        "--teacher", type=Path, default=ROOT / "build" / "teachers" / "whisper-head.npz"
    )
    parser.add_argument("--corpora", default="emodb,ravdess,nemo")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    import torch

    from distill.checkpoint import Checkpoint
    from distill.evaluate import HELD_OUT, auc, masks, read_corpus
    from distill.features import file_features
    from distill.metrics import ccc
    from distill.teachers import whisper
    from distill.teachers.ge2e import apply_head
    from distill.train import Examples, predict_utterances
    from scripts.build_speech_student import VALIDATION

    torch.set_num_threads(1)
    ckpt = Checkpoint.load(args.student)
    model = ckpt.build()
    with np.load(args.teacher) as f:
        head = {k: f[k] for k in ("mean", "std", "coef", "bias")}
        layer = int(f["layer"])
    rows = []
    for name in args.corpora.split(","):
        corpus = read_corpus(args.shared, name)
        teacher = apply_head(head, whisper.cached_features(corpus.files)[layer])
        maps = [file_features(p) for p in corpus.files]
        student = predict_utterances(
            model, Examples(maps, teacher), 100, window_norm=ckpt.front_end.get("window_norm")
        )
        speakers = np.array(corpus.speakers)
        held = np.isin(speakers, HELD_OUT[name])
        val = np.isin(speakers, VALIDATION[name])
        for group, keep in (
            ("training speakers", ~held & ~val),
            ("validation speakers", val),
            ("held-out speakers", held),
        ):
            sub = corpus.subset(keep)
            m = masks(sub.emotions)
            rows.append(
                {
                    "corpus": name,
                    "group": group,
                    "n": int(keep.sum()),
                    "student_vs_teacher_ccc": [
                        round(float(v), 3) for v in ccc(teacher[keep], student[keep])
                    ],
                    "teacher_auc": [
                        round(auc(teacher[keep][:, 0], *m["arousal"]), 3),
                        round(auc(teacher[keep][:, 2], *m["valence"]), 3),
                    ],
                    "student_auc": [
                        round(auc(student[keep][:, 0], *m["arousal"]), 3),
                        round(auc(student[keep][:, 2], *m["valence"]), 3),
                    ],
                }
            )
            r = rows[-1]
            print(
                f"{name:8s} {group:20s} n {r['n']:5d}  student~teacher CCC A/D/V "
                f"{'/'.join(f'{v:.3f}' for v in r['student_vs_teacher_ccc'])}  "
                f"teacher A/V AUC {r['teacher_auc'][0]:.3f}/{r['teacher_auc'][1]:.3f}  "
                f"student {r['student_auc'][0]:.3f}/{r['student_auc'][1]:.3f}",
                flush=True,
            )
    noise = clip_under_noise(model, args.student.parent / "bundle")
    print(json.dumps(noise), flush=True)
    if args.json:
        args.json.write_text(
            json.dumps({"student": str(args.student), "rows": rows, "noise": noise}, indent=2)
        )


def clip_under_noise(model, bundle_dir: Path, snr_db: float = 10.0) -> dict:
    """Mean arousal on the sample clip clean and under white noise (see the module docstring)."""
    import torch

    from bench.noise import run, with_noise
    from devices.audio import read_audio
    from distill.audio import load_16k
    from distill.features import speech_features
    from distill.train import windows
    from edge.cli.demo import sample_clip
    from edge.runtime import load_bundle

    wave = load_16k(sample_clip())
    clean = windows(speech_features(wave), 100, 50)
    noisy = windows(speech_features(with_noise(wave, snr_db)), 100, 50)

    def arousal(w: np.ndarray) -> float:
        with torch.no_grad():
            return float(model(torch.from_numpy(w[:, None]).float())[:, 0].mean())

    own = noisy - noisy.mean(axis=(1, 2), keepdims=True)
    borrowed = noisy - clean.mean(axis=(1, 2), keepdims=True)
    out = {
        "float_all_windows": {
            "clean": arousal(clean - clean.mean(axis=(1, 2), keepdims=True)),
            f"{snr_db:g} dB": arousal(own),
            f"{snr_db:g} dB, clean window means": arousal(borrowed),
        }
    }
    if (bundle_dir / "manifest.json").is_file():
        bundle = load_bundle(bundle_dir)
        x, rate = read_audio(sample_clip())
        out["int8_device_path_updated_windows"] = {
            label: float(np.mean([e.values["arousal"] for e in events if e.updated]))
            for label, events in (
                ("clean", run(bundle, x[0], rate)),
                (f"{snr_db:g} dB", run(bundle, with_noise(x[0], snr_db), rate)),
            )
        }
    return {k: {a: round(b, 4) for a, b in v.items()} for k, v in out.items()}


if __name__ == "__main__":
    main()
