"""Train the two-corpus speech teacher and judge it leaving speakers out.

The teacher is the log-mel CNN of distill/teachers/emodb.py (about 150 K parameters), trained on
both corpora's labels (emotions on the circumplex) with what a device meets added to every
utterance (distill.audio.augment_device: gain, reverberation, noise at 0-30 dB SNR, cheap
microphones' band limits). It is judged on five speaker-disjoint folds over both corpora at once
(fold i leaves out EmoDB speaker i, if any, and RAVDESS actors 2i+1 and 2i+2); the held-out
speakers of distill/evaluate.py (EmoDB 10, RAVDESS 11 and 12) are in no fold and no training set:
the final teacher, trained on every other speaker, is scored on them once, for the record.

Writes build/teachers/speech-cnn.pt and build/teachers/speech_report.json.
Usage: python scripts/train_speech_teacher.py [--shared ../shared] [--variants 4] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "teachers")
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps-per-epoch", type=int, default=40)
    args = parser.parse_args()

    import torch

    from distill.audio import augment_device, load_16k
    from distill.evaluate import pooled
    from distill.features import file_features, speech_features
    from distill.teachers.emodb import CROP_FRAMES, examples, save_teacher, train_teacher
    from distill.train import FitConfig, predict_utterances

    torch.set_num_threads(2)
    data = pooled(args.shared)
    files, speakers = data.files, data.speakers
    held, targets, folds = data.held, data.targets, data.folds

    t0 = time.time()
    feats = []
    for i, path in enumerate(files):
        wave = load_16k(path)
        row = [file_features(path)]
        row += [
            speech_features(augment_device(wave, path.name, v)) for v in range(1, args.variants + 1)
        ]
        feats.append(row)
        if i % 200 == 0:
            print(f"features {i}/{len(files)} {time.time() - t0:.0f} s", flush=True)
    print(
        f"features of {len(files)} files x {args.variants + 1} in {time.time() - t0:.0f} s",
        flush=True,
    )

    config = FitConfig(
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        crop_frames=CROP_FRAMES,
        lr=2e-3,
        patience=args.epochs,
    )
    predictions = np.full((len(files), 3), np.nan)
    for k, group in enumerate(folds):
        test = np.isin(speakers, group)
        train = ~test & ~held
        t1 = time.time()
        net, _ = train_teacher(feats, targets, np.flatnonzero(train), None, config)
        predictions[test] = predict_utterances(
            net, examples(feats, targets, np.flatnonzero(test), True), CROP_FRAMES
        )
        print(f"fold {k} {group}: {time.time() - t1:.0f} s", flush=True)

    report = {"folds": folds, "variants": args.variants, "config": str(config)}
    rows = data.rows(predictions, ~held, "leave speakers out")
    net, _ = train_teacher(feats, targets, np.flatnonzero(~held), None, config)
    predictions[held] = predict_utterances(
        net, examples(feats, targets, np.flatnonzero(held), True), CROP_FRAMES
    )
    rows += data.rows(predictions, held, "held-out speakers")
    report["rows"] = rows
    args.out.mkdir(parents=True, exist_ok=True)
    # The teacher file records one CCC triple: the RAVDESS leave-speakers-out one here.
    ravdess = next(
        r for r in rows if r["corpus"] == "ravdess" and r["protocol"] == "leave speakers out"
    )
    save_teacher(
        net,
        args.out / "speech-cnn.pt",
        {"ccc": [ravdess["ccc"][k] for k in ("arousal", "dominance", "valence")]},
    )
    (args.out / "speech_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for r in rows:
        ccc_text = {k: round(v, 3) for k, v in r["ccc"].items()}
        aucs = f"A-AUC {r['arousal_auc']:.3f} V-AUC {r['valence_auc']:.3f}"
        print(r["corpus"], r["protocol"], ccc_text, aucs, flush=True)
    print(f"total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
