"""Distil the speech_adv student from the two-corpus teacher, export it, and judge it.

Teacher: build/teachers/speech-cnn.pt (scripts/train_speech_teacher.py), or a GE2E-backbone
head given as an .npz (scripts/train_ge2e_teacher.py). Targets: the teacher's
A/D/V on the CLEAN audio of every utterance of both corpora; inputs: that clean audio and
`--variants` copies with what a device meets (distill.audio.augment_device), so the student
learns to give the clean answer through noise, reverberation, gain and band limits. The
held-out speakers of distill/evaluate.py are in no training or validation set; RAVDESS actors
09 and 10 and EmoDB speaker 09 validate: early stopping on CCC against the teacher's clean
answer, over their clean utterances and `--val-variants` device-augmented copies of each, so the
epoch kept is one that holds up through noise. A third of the augmented copies with 15 dB
SNR or more also pass a noise gate (`gate`: digital silence in the pauses, as phone headsets
and speech synthesisers give).
Export: ONNX and TFLite, fp32 and int8, calibrated on front-end windows of both corpora.
Writes OUT/{student.pt,calibration.npy,bundle/}; does not touch edge/models.
Usage: python scripts/build_speech_student.py [--shared ../shared] [--teacher PATH] [--out DIR]
       [--variants 6] [--val-variants 2] [--epochs 80] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = {"emodb": ("09",), "ravdess": ("09", "10")}
LICENCE = (
    "research / non-commercial: learned from EmoDB (free for research use) and RAVDESS "
    "(Livingstone & Russo 2018, CC BY-NC-SA 4.0, credited here; anything trained on it is "
    "non-commercial and shares alike)"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "speech-v2")
    parser.add_argument(
        "--teacher", type=Path, default=ROOT / "build" / "teachers" / "speech-cnn.pt"
    )
    parser.add_argument("--variants", type=int, default=6)
    parser.add_argument(
        "--val-variants",
        type=int,
        default=2,
        help="device-augmented copies of each validation utterance scored beside the clean one",
    )
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from distill.audio import augment_device, load_16k
    from distill.checkpoint import Checkpoint
    from distill.cost import count_macs, count_params
    from distill.evaluate import HELD_OUT, read_corpus
    from distill.features import SPEECH_SPEC, file_features, front_end_dict, speech_features
    from distill.metrics import ccc
    from distill.students import create
    from distill.teachers.emodb import CROP_FRAMES, EmoDbTeacherNet
    from distill.train import Examples, FitConfig, fit, predict_utterances
    from edge.frontends.speech import windows
    from quant.build import ExportOptions, build_bundle

    torch.set_num_threads(args.threads)
    t0 = time.time()
    if args.teacher.suffix == ".npz":
        from distill.teachers.ge2e import Ge2eTeacher

        ge2e = Ge2eTeacher(args.teacher)

        def teach(path: Path, clean: np.ndarray) -> np.ndarray:
            return ge2e.predict([load_16k(path)])[0]

        described = (
            "GE2E-backbone teacher (the pretrained speaker encoder of the resemblyzer 0.1.4 wheel, "
            f"Apache-2.0, frozen, with a ridge head: {args.teacher.name}, "
            "scripts/train_ge2e_teacher.py), trained on EmoDB and RAVDESS emotions placed on the "
            "circumplex, with device augmentation"
        )
    else:
        teacher = EmoDbTeacherNet()
        teacher.load_state_dict(
            torch.load(args.teacher, map_location="cpu", weights_only=True)["state_dict"]
        )
        teacher.eval()

        def teach(path: Path, clean: np.ndarray) -> np.ndarray:
            return predict_utterances(teacher, Examples([clean], np.zeros((1, 3))), CROP_FRAMES)[0]

        described = (
            "two-corpus log-mel CNN teacher (build/teachers/speech-cnn.pt, "
            "scripts/train_speech_teacher.py), trained on EmoDB and RAVDESS emotions placed on "
            "the circumplex, with device augmentation"
        )
    train_x, train_y, val_x, val_y, calib = [], [], [], [], []
    for name in ("emodb", "ravdess"):
        corpus = read_corpus(args.shared, name)
        for path, speaker in zip(corpus.files, corpus.speakers, strict=True):
            if speaker in HELD_OUT[name]:
                continue
            clean = file_features(path)
            target = teach(path, clean)
            wave = load_16k(path)
            variants = [clean] + [
                speech_features(augment_device(wave, path.name, v, gate=True))
                for v in range(1, args.variants + 1)
            ]
            if speaker in VALIDATION[name]:
                # validated clean and through the device too, so that the epoch kept is the one
                # that gives the clean answer through noise, not only on clean speech
                val_x += variants[: 1 + args.val_variants]
                val_y += [target] * (1 + args.val_variants)
            else:
                train_x += variants
                train_y += [target] * len(variants)
                calib.append(windows(clean, SPEECH_SPEC, 50))
    print(
        f"data: {len(train_x)} training maps, {len(val_x)} validation utterances, {time.time() - t0:.0f} s",
        flush=True,
    )
    torch.manual_seed(0)
    model = create("speech_adv")
    config = FitConfig(
        epochs=args.epochs, steps_per_epoch=40, crop_frames=100, patience=12, window_mean=True
    )
    report = fit(
        model,
        Examples(train_x, np.asarray(train_y)),
        Examples(val_x, np.asarray(val_y)),
        config,
        on_epoch=lambda e, loss, v: print(f"epoch {e} loss {loss:.4f} val CCC {v:.4f}", flush=True),
    )
    student = predict_utterances(model, Examples(val_x, np.asarray(val_y)), 100, window_mean=True)
    vs_teacher = dict(
        zip(
            ("arousal", "dominance", "valence"),
            map(float, ccc(np.asarray(val_y), student)),
            strict=True,
        )
    )
    macs = count_macs(model, torch.zeros(1, 1, 100, 40))
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpoint(
        "speech_adv",
        {},
        model.state_dict(),
        (1, 100, 40),
        {
            "kind": "regression",
            "outputs": ["arousal", "dominance", "valence"],
            "value_range": [0.0, 1.0],
        },
        front_end_dict(),
        {
            "teacher": described,
            "data": "EmoDB (German, speakers 03, 08, 09) and RAVDESS (English, actors 01-10) of ../shared/data, each "
            f"utterance clean and in {args.variants} device-augmented copies (a third of those at 15 dB SNR or more also noise-gated); EmoDB 10 and RAVDESS 11-12 held out of "
            "everything; EmoDB 09 and RAVDESS 09-10 validated",
            "date": "",
            "source_revision": "",
            "licence": LICENCE
            + (
                "; teacher backbone weights Apache-2.0 (resemblyzer)"
                if args.teacher.suffix == ".npz"
                else ""
            ),
        },
        name="speech-adv",
        modality="speech",
        report={
            "student_vs_teacher_ccc_validation": vs_teacher,
            "fit": {k: v for k, v in report.items() if k != "history"},
            "cost": {
                "params": count_params(model),
                "macs_per_window": macs,
                "macs_per_second_of_audio": round(macs / SPEECH_SPEC.update_s),
            },
        },
    )
    ckpt.save(args.out / "student.pt")
    np.save(args.out / "calibration.npy", np.concatenate(calib))
    staging = args.out / "bundle"
    if staging.exists():
        shutil.rmtree(staging)
    bundle, export = build_bundle(
        args.out / "student.pt",
        args.out / "calibration.npy",
        staging,
        ExportOptions(profile="hearing-aid-coprocessor", name="speech-adv"),
    )
    print(
        json.dumps(
            {
                "vs_teacher": vs_teacher,
                "bytes": {m.file: m.size_bytes for m in bundle.manifest.models},
                "tolerance": export["tolerance"],
            },
            indent=2,
        )
    )
    print(f"total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
