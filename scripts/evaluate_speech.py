"""Write the speech evaluation table (bench/results/speech_eval.{md,json}) for the README.

Usage: python scripts/evaluate_speech.py [--shared ../shared] [--previous DIR] [--candidate DIR]
(bundles' utterance predictions are cached by their model files' hashes, so a rerun streams only
bundles it has not judged before)
Judges the anchors, the backbone probes and the shipped speech bundle on EmoDB, RAVDESS and nEMO
(distill/evaluate.py says how; features cached in build/cache/speech-eval); the README
quotes the table between <!-- bench:speech_eval --> markers (scripts/readme_tables.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "onnxruntime")

from bench import report  # noqa: E402
from bench.timing import machine  # noqa: E402
from distill.evaluate import HELD_OUT, all_but, evaluate  # noqa: E402
from edge.runtime import load_bundle  # noqa: E402
from edge.runtime.registry import default_bundle  # noqa: E402


def seen_by(bundle, shared: Path) -> dict[str, tuple[str, ...]]:
    """The speakers a bundle learned from, as its manifest records them: every speaker but the
    held-out ones (two-corpus bundles); the first bundle learned from EmoDB 08, 09, 10 only."""
    held = bundle.manifest.measured.get("evaluation", {}).get("held_out_speakers")
    if held is None:
        return {"emodb": ("08", "09", "10")}
    return all_but(shared, held)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument(
        "--candidate",
        type=Path,
        help="also judge this bundle, trained on every speaker but the held-out ones (its rows: those)",
    )
    parser.add_argument(
        "--previous",
        type=Path,
        help="also judge this earlier default bundle (its manifest says what it learned from)",
    )
    args = parser.parse_args()
    bundle = load_bundle(default_bundle("speech"))
    label = f"{bundle.manifest.name} v{bundle.manifest.version} (shipped, int8)"
    bundles = {label: (bundle, seen_by(bundle, args.shared))}
    if args.previous:
        previous = load_bundle(args.previous)
        name = f"{previous.manifest.name} v{previous.manifest.version} (previous, int8)"
        bundles[name] = (previous, seen_by(previous, args.shared))
    if args.candidate:
        candidate = load_bundle(args.candidate)
        # As --help says: a candidate learned from every speaker but the held-out ones.
        bundles[f"candidate {candidate.manifest.name} from {args.candidate} (int8)"] = (
            candidate,
            all_but(args.shared, HELD_OUT),
        )
    result = evaluate(args.shared, bundles, cache=ROOT / "build" / "cache" / "speech-eval")
    loco = ROOT / "bench" / "results" / "speech_loco_students.json"
    if loco.is_file():  # scripts/speech_loco_students.py: the shipped recipe without each corpus
        result["rows"] += json.loads(loco.read_text())["rows"]
    rows = [
        [
            r["model"],
            r["corpus"],
            r["protocol"],
            f"{r['n']} ({r['speakers']} spk)",
            *(f"{r['ccc'][k]:.3f}" for k in ("arousal", "dominance", "valence")),
            f"{r['arousal_auc']:.3f}",
            f"{r['valence_auc']:.3f}",
        ]
        for r in result["rows"]
    ]
    held = ", ".join(f"{k} {'+'.join(v)}" for k, v in HELD_OUT.items())
    notes = [
        "Leave speakers out: EmoDB and nEMO one speaker per fold, RAVDESS one male-female actor "
        "pair per fold; anchors and probes are refit on each fold's training speakers. Leave corpus "
        "out: fit on the other two corpora's speakers (each corpus weighing the same), scored on "
        "the third; held-out speakers on neither side.",
        f"Held-out speakers ({held}) are reported apart and no choice is made on them.",
        "nEMO: all 4,481 utterances (nine actors, six states), read as Opus with soundfile.",
        "Arousal AUC: anger, happiness, fear, surprise against sadness, neutral, calm, boredom. "
        "Valence AUC: happiness against anger, sadness, fear, disgust. CCC: against the emotions' "
        "circumplex coordinates (distill/circumplex.py).",
        "Probes: the second anchor's logistic and ridge regressions on a pretrained backbone's "
        "utterance features (GE2E top layer; Whisper-base encoder layer 2 or 3, mean and std of "
        "its frames, utterances packed into 30 s windows).",
        f"The shipped student (version {bundle.manifest.version}) learned from every speaker but "
        "the held-out ones of the corpora its manifest names: its rows are the speakers it never "
        "heard, scored on the device path (int8).",
        "Student rows 'leave corpus out' (scripts/speech_loco_students.py, its JSON in "
        "bench/results): the shipped recipe with the teacher's head and the student both refitted "
        "without the corpus scored, int8 on the device path.",
        "Targets (issue 24): the int8 student's arousal AUC at least 0.03 above both anchors on "
        "each corpus and each leave-corpus-out row; valence AUC at least 0.75 on each corpus.",
    ]
    path = report.write_table(
        "speech_eval",
        "Speech evaluation across speakers and corpora",
        "python scripts/evaluate_speech.py"
        + (f" --previous {args.previous}" if args.previous else "")
        + (f" --candidate {args.candidate}" if args.candidate else ""),
        machine(),
        "Utterance level; bundles run on the device path (int8).",
        [
            "model",
            "corpus",
            "protocol",
            "utterances",
            "CCC A",
            "CCC D",
            "CCC V",
            "arousal AUC",
            "valence AUC",
        ],
        rows,
        result,
        notes,
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
