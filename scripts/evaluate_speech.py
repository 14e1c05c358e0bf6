"""Write the speech evaluation table (bench/results/speech_eval.{md,json}) for the README.

Usage: python scripts/evaluate_speech.py [--shared ../shared]
Judges the anchors and the shipped speech bundle (distill/evaluate.py says how); the README
quotes the table between <!-- bench:speech_eval --> markers (scripts/readme_tables.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
    args = parser.parse_args()
    bundle = load_bundle(default_bundle("speech"))
    label = f"{bundle.manifest.name} v{bundle.manifest.version} (shipped, int8)"
    bundles = {label: (bundle, seen_by(bundle, args.shared))}
    if args.candidate:
        candidate = load_bundle(args.candidate)
        # As --help says: a candidate learned from every speaker but the held-out ones.
        bundles[f"candidate {candidate.manifest.name} from {args.candidate} (int8)"] = (
            candidate,
            all_but(args.shared, HELD_OUT),
        )
    result = evaluate(args.shared, bundles)
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
        "Leave speakers out: EmoDB one speaker per fold, RAVDESS one male-female actor pair per fold; "
        "anchors are refit on each fold's training speakers. Cross-corpus: fit on all of one corpus, "
        "scored on all of the other.",
        f"Held-out speakers ({held}) are reported apart and no choice is made on them.",
        "Arousal AUC: anger, happiness, fear, surprise against sadness, neutral, calm, boredom. "
        "Valence AUC: happiness against anger, sadness, fear, disgust. CCC: against the emotions' "
        "circumplex coordinates (distill/circumplex.py).",
        f"The shipped student (version {bundle.manifest.version}) learned from every speaker but "
        "the held-out ones: its rows are those speakers alone, scored on the device path.",
        "Targets (speech-model issue): arousal AUC >= 0.95 and valence AUC >= 0.80 on each corpus, "
        "above both anchors on every row.",
    ]
    path = report.write_table(
        "speech_eval",
        "Speech evaluation across speakers and corpora",
        "python scripts/evaluate_speech.py",
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
