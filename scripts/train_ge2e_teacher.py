"""Train a speech teacher on the pretrained GE2E backbone and judge it leaving speakers out.

The backbone is the GE2E speaker encoder of the resemblyzer wheel (distill/teachers/ge2e.py),
frozen; the teacher is a ridge regression from its top layer to the emotions' circumplex
coordinates, trained on both corpora with what a device meets added to every utterance
(distill.audio.augment_device: gain, reverberation, noise at 0-30 dB SNR, band limits; each
utterance clean and in `--variants` copies). Folds as scripts/train_speech_teacher.py: fold i
leaves out EmoDB speaker i, if any, and RAVDESS actors 2i+1 and 2i+2. The ridge strength is
chosen on those folds (mean CCC over both corpora); the held-out speakers of
distill/evaluate.py (EmoDB 10, RAVDESS 11 and 12) are in no fold and no training set, and are
scored once, for the record, by the final head trained on every other speaker.

Noise: every test utterance is also scored in its device-augmented copies; the report gives the
mean shift of arousal from the clean utterance (the old student read noise as arousal).

Writes build/teachers/ge2e-head.npz and build/teachers/ge2e_report.json.
Usage: python scripts/train_ge2e_teacher.py [--shared ../shared] [--variants 4]
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

ALPHAS = (10.0, 100.0, 1000.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "teachers")
    parser.add_argument("--variants", type=int, default=4)
    args = parser.parse_args()

    import torch

    from distill.audio import augment_device, load_16k
    from distill.evaluate import pooled
    from distill.teachers.ge2e import HIDDEN, Ge2eEncoder, apply_head, fit_head

    torch.set_num_threads(2)
    data = pooled(args.shared)
    files, speakers = data.files, data.speakers
    held, targets, folds = data.held, data.targets, data.folds

    encoder = Ge2eEncoder()
    t0 = time.time()
    n_var = args.variants + 1
    feats = np.zeros((len(files), n_var, 256), np.float32)
    for i, path in enumerate(files):
        wave = load_16k(path)
        for v in range(n_var):
            feats[i, v] = encoder.features(augment_device(wave, path.name, v), 16000)[HIDDEN]
        if i % 100 == 0:
            print(f"features {i}/{len(files)} {time.time() - t0:.0f} s", flush=True)

    def train_rows(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return feats[index].reshape(-1, 256), np.repeat(targets[index], n_var, axis=0)

    by_alpha = {}
    for alpha in ALPHAS:
        clean = np.full((len(files), 3), np.nan)
        noisy = np.full((len(files), n_var - 1, 3), np.nan)
        for group in folds:
            test = np.isin(speakers, group)
            head = fit_head(*train_rows(np.flatnonzero(~test & ~held)), alpha)
            clean[test] = apply_head(head, feats[test, 0])
            noisy[test] = apply_head(head, feats[test, 1:].reshape(-1, 256)).reshape(
                -1, n_var - 1, 3
            )
        rows = data.rows(clean, ~held, "leave speakers out")
        score = float(np.mean([np.mean(list(r["ccc"].values())) for r in rows]))
        shift = noisy[~held, :, 0] - clean[~held, None, 0]
        by_alpha[alpha] = {"rows": rows, "mean_ccc": score, "arousal_shift": shift}
        print(f"alpha {alpha:g}: mean LSO CCC {score:.3f}", flush=True)
    alpha = max(by_alpha, key=lambda a: by_alpha[a]["mean_ccc"])
    chosen = by_alpha[alpha]
    head = fit_head(*train_rows(np.flatnonzero(~held)), alpha)
    final = apply_head(head, feats[:, 0])
    rows = chosen["rows"] + data.rows(final, held, "held-out speakers")
    shift = chosen["arousal_shift"]
    report = {
        "backbone": "GE2E speaker encoder, resemblyzer 0.1.4 pretrained.pt, top LSTM layer",
        "head": f"ridge, alpha {alpha:g} (chosen of {list(ALPHAS)} by mean leave-speakers-out CCC)",
        "variants": args.variants,
        "folds": folds,
        "alphas": {str(a): round(v["mean_ccc"], 4) for a, v in by_alpha.items()},
        "arousal_shift_under_device_augmentation": {
            "mean": round(float(shift.mean()), 4),
            "mean_abs": round(float(np.abs(shift).mean()), 4),
        },
        "rows": rows,
        "seconds": round(time.time() - t0),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    note = f"ridge alpha {alpha:g}; " + "; ".join(
        f"{r['corpus']} LSO A-AUC {r['arousal_auc']:.2f} V-AUC {r['valence_auc']:.2f}"
        for r in chosen["rows"]
    )
    np.savez(args.out / "ge2e-head.npz", **head, note=np.array(note))
    (args.out / "ge2e_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for r in rows:
        ccc = "/".join(f"{v:.3f}" for v in r["ccc"].values())
        print(
            f"{r['corpus']:8s} {r['protocol']:19s} CCC A/D/V {ccc}  "
            f"A-AUC {r['arousal_auc']:.3f} V-AUC {r['valence_auc']:.3f}",
            flush=True,
        )
    print(f"arousal shift, augmented - clean: {report['arousal_shift_under_device_augmentation']}")
    print(f"total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
