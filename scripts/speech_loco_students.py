"""Leave-one-corpus-out students: for each of EmoDB, RAVDESS and nEMO, a Whisper-teacher student
that never heard that corpus, scored on it (issue 24, item 1: every student gets these rows).

For each corpus left out:
1. the teacher's ridge head (Whisper-base encoder layer and ridge strength of
   build/teachers/whisper-head.npz's report) refitted on the other two corpora's clean utterances
   (held-out speakers excluded, every corpus weighing the same): the teacher never heard it either;
2. scripts/build_speech_student.py with `--corpora` the other two and that head, with the
   shipped recipe's options (below; `--window-norm`, `--epochs` change them);
3. the int8 student on the device path over the left-out corpus's speakers that are not held out
   (the anchors' leave-corpus-out rows score the same utterances).
Writes build/speech-loco-CORPUS/ and bench/results/speech_loco_students.json, and prints a table.
About 8 minutes a corpus on one free core (the student inputs and Whisper features cached).
Usage: python scripts/speech_loco_students.py [--shared ../shared] [--corpora emodb,ravdess,nemo]
       [--export-only]
(any python: one without the project's modules runs it again under .venv/bin/python)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "torch")
import numpy as np  # noqa: E402

from scripts.build_speech_student import student_command  # noqa: E402

NAMES = ("emodb", "ravdess", "nemo")
STUDENT = ["--variants", "6", "--steps-per-epoch", "150", "--threads", "1"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--corpora", default=",".join(NAMES), help="the corpora to leave out")
    parser.add_argument("--window-norm", choices=("mean", "loudest"), default="loudest")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="export each build/speech-loco-CORPUS/student.pt again (no training), then score",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "speech_loco_students.json"
    )
    args = parser.parse_args()
    left_out = args.corpora.split(",")
    if unknown := sorted(set(left_out) - set(NAMES)):
        parser.error(f"--corpora: {unknown} not among {list(NAMES)}")

    from distill.evaluate import HELD_OUT, bundle_predictions, corpus_weights, figures, read_corpus
    from distill.teachers import whisper
    from edge.runtime import load_bundle

    report = json.loads((ROOT / "build" / "teachers" / "whisper_report.json").read_text())
    alpha = float(report["chosen"]["alpha"])
    with np.load(ROOT / "build" / "teachers" / "whisper-head.npz") as f:
        layer = int(f["layer"])
    corpora = {n: read_corpus(args.shared, n) for n in NAMES}
    rows = []
    for test in left_out:
        t0 = time.time()
        train = [n for n in NAMES if n != test]
        keep = {n: ~np.isin(corpora[n].speakers, HELD_OUT[n]) for n in train}
        x = np.concatenate(
            [whisper.cached_features(corpora[n].files)[layer][keep[n]] for n in train]
        )
        y = np.concatenate([corpora[n].targets[keep[n]] for n in train])
        of = np.concatenate([[n] * int(keep[n].sum()) for n in train])
        head = whisper.fit_head(x, y, alpha, corpus_weights(of))
        teacher = ROOT / "build" / "teachers" / f"whisper-head-without-{test}.npz"
        np.savez(teacher, **head, layer=np.array(layer))
        out = ROOT / "build" / f"speech-loco-{test}"
        subprocess.run(
            student_command(
                args.shared,
                teacher,
                out,
                "--corpora",
                ",".join(train),
                "--window-norm",
                args.window_norm,
                "--epochs",
                str(args.epochs),
                "--patience",
                str(args.epochs),
                *STUDENT,
                *(["--export-only"] if args.export_only else []),
            ),
            check=True,
        )
        corpus = corpora[test]
        sub = corpus.subset(~np.isin(corpus.speakers, HELD_OUT[test]))
        pred = bundle_predictions(load_bundle(out / "bundle"), sub)
        rows.append(
            {
                "model": f"student, Whisper teacher, window_norm {args.window_norm} (int8)",
                "corpus": test,
                "protocol": f"leave corpus out: trained on {' + '.join(train)}",
                **figures(sub, pred),
                "seconds": round(time.time() - t0),
            }
        )
        print(json.dumps(rows[-1], default=float), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"alpha": alpha, "layer": layer, "rows": rows}, indent=1) + "\n")
    print("| corpus | protocol | utterances | CCC A / D / V | arousal AUC | valence AUC |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    for r in rows:
        c = r["ccc"]
        print(
            f"| {r['corpus']} | {r['protocol']} | {r['n']} ({r['speakers']} spk) | "
            f"{c['arousal']:.3f} / {c['dominance']:.3f} / {c['valence']:.3f} | "
            f"{r['arousal_auc']:.3f} | {r['valence_auc']:.3f} |"
        )


if __name__ == "__main__":
    main()
