"""Train a speech teacher on the Whisper-base backbone, choosing backbone and head by the
leave-one-corpus-out rows over EmoDB, RAVDESS and nEMO.

Backbones tried, each frozen with a ridge head from its pooled features to the emotions' circumplex
coordinates (distill/circumplex.py): Whisper-base encoder layer 2 and layer 3 (mean and std of the
layer's frames, distill/teachers/whisper.py), and GE2E's top layer (the version-3 teacher's
backbone; clean utterances only). Whisper heads learn from every utterance clean and in
`--variants` device-augmented copies (distill.audio.augment_device: gain, reverberation, white or
pink noise at 0-30 dB SNR, cheap microphones' bands). Every corpus weighs the same in each fit.

Choice: backbone and ridge strength by the mean of arousal AUC and valence AUC over the three
leave-one-corpus-out rows (train on two corpora's non-held-out speakers, test on the third's).
Reported too: leave speakers out within each corpus (the head trained on every other
non-held-out speaker of all three corpora), and the held-out speakers of distill/evaluate.py
(EmoDB 10, RAVDESS 11-12, nEMO MK0 and WR0), scored once by the chosen head trained on every
non-held-out speaker. No choice is made on them.

Writes build/teachers/whisper-head.npz and build/teachers/whisper_report.json.
Usage: python scripts/train_whisper_teacher.py [--shared ../shared] [--variants 1]
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

ALPHAS = (300.0, 1000.0, 3000.0, 10000.0, 30000.0)
NAMES = ("emodb", "ravdess", "nemo")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "teachers")
    parser.add_argument("--variants", type=int, default=1)
    args = parser.parse_args()

    import torch

    from distill.evaluate import (
        HELD_OUT,
        backbone_available,
        backbone_features,
        cached,
        corpus_weights,
        figures,
        read_corpus,
        speaker_folds,
    )
    from distill.teachers import whisper
    from distill.teachers.ge2e import apply_head

    torch.set_num_threads(1)
    t0 = time.time()
    corpora = [read_corpus(args.shared, n) for n in NAMES]
    corpus_of = np.concatenate([[c.name] * len(c.files) for c in corpora])
    speakers = np.concatenate([[f"{c.name}/{s}" for s in c.speakers] for c in corpora])
    held = np.concatenate([np.isin(c.speakers, HELD_OUT[c.name]) for c in corpora])
    targets = np.concatenate([c.targets for c in corpora])
    weight = corpus_weights(corpus_of)

    backbones: dict[str, np.ndarray] = {}  # name -> (files, variants, dim)
    for variant in range(args.variants + 1):
        per = [whisper.cached_features(c.files, variant) for c in corpora]
        for layer in (2, whisper.LAYER):
            x = np.concatenate([p[layer] for p in per])
            backbones.setdefault(f"whisper-base layer {layer}", []).append(x)
        print(f"whisper features, variant {variant}: {time.time() - t0:.0f} s", flush=True)
    backbones = {k: np.stack(v, axis=1) for k, v in backbones.items()}
    if backbone_available():
        cache = ROOT / "build" / "cache" / "speech-eval"
        ge2e = np.concatenate(
            [cached("ge2e-top", c, lambda c=c: backbone_features(c), cache) for c in corpora]
        )
        backbones["GE2E top layer (clean only)"] = ge2e[:, None, :]

    def fit(x: np.ndarray, index: np.ndarray, alpha: float) -> dict:
        n_var = x.shape[1]
        return whisper.fit_head(
            x[index].reshape(-1, x.shape[2]),
            np.repeat(targets[index], n_var, axis=0),
            alpha,
            np.repeat(weight[index], n_var),
        )

    def rows(pred: np.ndarray, mask: np.ndarray, protocol) -> list[dict]:
        out = []
        for c in corpora:
            m = mask & (corpus_of == c.name)
            sub = c.subset(m[corpus_of == c.name])
            p = protocol(c.name) if callable(protocol) else protocol
            out.append({"corpus": c.name, "protocol": p, **figures(sub, pred[m])})
        return out

    within = [
        np.isin(speakers, [f"{c.name}/{s}" for s in group])
        for c in corpora
        for group in speaker_folds(c)
        if not set(group) & set(HELD_OUT[c.name])
    ]
    results = {}
    for name, x in backbones.items():
        for alpha in ALPHAS:
            loco = np.full((len(targets), 3), np.nan)
            for c in corpora:
                test = corpus_of == c.name
                head = fit(x, np.flatnonzero(~test & ~held), alpha)
                loco[test & ~held] = apply_head(head, x[test & ~held, 0])
            lso = np.full((len(targets), 3), np.nan)
            for test in within:
                head = fit(x, np.flatnonzero(~test & ~held), alpha)
                lso[test] = apply_head(head, x[test, 0])
            others = {c: " + ".join(n for n in NAMES if n != c) for c in NAMES}
            loco_rows = rows(
                loco, ~held, lambda c, o=others: f"leave corpus out: trained on {o[c]}"
            )
            score = float(np.mean([(r["arousal_auc"] + r["valence_auc"]) / 2 for r in loco_rows]))
            shift = None
            if x.shape[1] > 1:
                noisy = apply_head(
                    fit(x, np.flatnonzero(~held), alpha), x[:, 1:].reshape(-1, x.shape[2])
                )
                clean = apply_head(fit(x, np.flatnonzero(~held), alpha), x[:, 0])
                shift = float(np.mean(noisy.reshape(len(x), -1, 3)[:, :, 0] - clean[:, None, 0]))
            results[(name, alpha)] = {
                "score": score,
                "rows": loco_rows + rows(lso, ~held, "leave speakers out"),
                "arousal_shift_augmented_minus_clean": shift,
            }
            print(f"{name} alpha {alpha:g}: mean LOCO AUC {score:.3f}", flush=True)
    chosen_name, alpha = max(results, key=lambda k: results[k]["score"])
    x = backbones[chosen_name]
    head = fit(x, np.flatnonzero(~held), alpha)
    final = apply_head(head, x[:, 0])
    chosen = results[(chosen_name, alpha)]
    report = {
        "chosen": {"backbone": chosen_name, "alpha": alpha},
        "how": "ridge heads on frozen backbones to circumplex A/D/V, corpora weighted equally; "
        "backbone and alpha chosen by the mean of arousal and valence AUC over the three "
        "leave-one-corpus-out rows; held-out speakers scored once by the chosen head",
        "variants": args.variants,
        "provenance": whisper.provenance(),
        "held_out": {k: list(v) for k, v in HELD_OUT.items()},
        "tried": [
            {
                "backbone": n,
                "alpha": a,
                "mean_loco_auc": round(r["score"], 4),
                "arousal_shift_augmented_minus_clean": r["arousal_shift_augmented_minus_clean"],
                "rows": r["rows"],
            }
            for (n, a), r in results.items()
        ],
        "rows": chosen["rows"] + rows(final, held, "held-out speakers"),
        "seconds": round(time.time() - t0),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    note = f"{chosen_name}, ridge alpha {alpha:g}; " + "; ".join(
        f"{r['corpus']} LOCO A-AUC {r['arousal_auc']:.2f} V-AUC {r['valence_auc']:.2f}"
        for r in chosen["rows"][:3]
    )
    layer = int(chosen_name.split()[-1]) if chosen_name.startswith("whisper") else -1
    np.savez(args.out / "whisper-head.npz", **head, layer=np.array(layer), note=np.array(note))
    (args.out / "whisper_report.json").write_text(
        json.dumps(report, indent=2, default=float) + "\n"
    )
    for r in report["rows"]:
        ccc = "/".join(f"{v:.3f}" for v in r["ccc"].values())
        print(
            f"{r['corpus']:8s} {r['protocol']:45s} CCC A/D/V {ccc}  "
            f"A-AUC {r['arousal_auc']:.3f} V-AUC {r['valence_auc']:.3f}",
            flush=True,
        )
    print(f"chosen {chosen_name} alpha {alpha:g}; total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
