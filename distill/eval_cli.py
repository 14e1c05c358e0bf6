"""`affect-edge eval eeg`: the EEG protocols with per-subject tables (offline; needs torch).

Contributed through the `affect_edge.commands` entry point, like `distill` and `export`.
"""

from __future__ import annotations

import argparse

from distill.cli import add_eeg_data, subjects_arg
from edge.console import render
from edge.console.render import progress_bars
from edge.errors import ConfigError

HELP = "cross-validate models on labelled data: eval eeg (offline; needs torch)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="modality", metavar="MODALITY", required=True)
    e = sub.add_parser(
        "eeg",
        help="HiSTN's protocols on DREAMER-structured data: a per-subject table and the means",
        description="Subject-dependent: per subject, 10 blocks of 6 s per clip; fold i tests on "
        "block i, validates on block i-1, trains on the rest (teacher, KD student, and the "
        "student without KD). Subject-independent: leave one subject out, with optional "
        "calibration on the first seconds of the held-out subject's clips. Metrics: weighted "
        "F1, Top-2, Tri-P, Seq2HR.",
    )
    add_eeg_data(e)
    e.add_argument(
        "--protocol",
        choices=["subject-dependent", "subject-independent"],
        default="subject-dependent",
    )
    e.add_argument("--folds", help="subject-dependent folds to run, 0-9 (default all ten)")
    e.add_argument(
        "--calibration-s",
        type=float,
        default=0.0,
        help="subject-independent: seconds of each held-out clip used to fine-tune (default 0)",
    )


def run(args: argparse.Namespace) -> int:
    from distill.dreamer import load_dreamer
    from distill.eeg import EegFitConfig, subject_dependent, subject_independent

    trials = load_dreamer(args.dreamer, subjects_arg(args.subjects), args.filters, args.mains)
    cfg = EegFitConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, seed=args.seed)
    n_subjects = len({t.subject for t in trials})
    try:
        folds = [int(f) for f in args.folds.split(",")] if args.folds else None
    except ValueError as exc:
        raise ConfigError(
            f"--folds must be numbers 0-9 separated by commas, got {args.folds!r}"
        ) from exc
    with progress_bars(not args.json) as bars:
        if args.protocol == "subject-dependent":
            total = n_subjects * (len(folds) if folds else 10)
            tick = bars(f"{args.target}: subjects x folds", total) if bars else None
            result = subject_dependent(trials, args.target, cfg, folds, tick=tick)
        else:
            tick = bars(f"{args.target}: subjects left out", n_subjects) if bars else None
            result = subject_independent(trials, args.target, cfg, args.calibration_s, tick=tick)
    if trials[0].synthetic:
        result["data"] = (
            "SYNTHETIC DREAMER-structured EEG: the figures test the code, not emotion recognition"
        )
    if args.json:
        render.emit_json(result)
        return 0
    models = [k for k in result["mean"]]
    rows = [
        [
            str(r["subject"]),
            *(f"{r[m]['f1']:.3f}" for m in models),
            *(f"{r[models[1]][k]:.3f}" for k in ("top2", "tri_p", "seq2hr")),
        ]
        for r in result["subjects"]
    ]
    rows.append(
        [
            "mean",
            *(f"{result['mean'][m]['f1']:.3f}" for m in models),
            *(f"{result['mean'][models[1]][k]:.3f}" for k in ("top2", "tri_p", "seq2hr")),
        ]
    )
    render.table(
        f"EEG {args.target}, {result['protocol']}: weighted F1 per model; Top-2, Tri-P, Seq2HR of the student",
        ["subject", *(f"F1 {m}" for m in models), "top-2", "Tri-P", "Seq2HR"],
        rows,
    )
    if "data" in result:
        render.line(result["data"])
    return 0
