"""`affect-edge distill speech`: train a speech A/D/V student from a teacher (offline; needs torch).

Contributed to the `affect-edge` command through the `affect_edge.commands` entry point, so the
device CLI never imports the offline half. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path

from edge.console import render
from edge.console.argtypes import fraction, json_object, positive_int, positive_number
from edge.console.render import progress_bars
from edge.errors import ConfigError

HELP = "train a student from teachers: speech over unlabelled audio, face over face crops (offline; needs torch)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="modality", metavar="MODALITY", required=True)
    add_evaluate(sub)
    add_face(sub)
    add_face_labels(sub)
    add_evaluate_face(sub)
    add_eeg(sub)
    s = sub.add_parser(
        "speech",
        help="distil an arousal/dominance/valence student from a speech teacher",
        description="Pseudo-label a folder of unlabelled audio with a teacher (cached, resumable, "
        "sharded under torchrun), then train a student on the device's log-mel with the CCC loss.",
    )
    s.add_argument(
        "--teacher",
        required=True,
        help=f"teacher spec: KIND:PATH[*WEIGHT][+...], KIND in {', '.join(teacher_kinds())}",
    )
    s.add_argument(
        "--audio", type=Path, required=True, help="folder of wav/flac/ogg files (any rate)"
    )
    s.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write (.pt)")
    add_force(s)
    s.add_argument("--cache", type=Path, help="pseudo-label cache folder (default: OUTPUT.labels/)")
    s.add_argument(
        "--data-root",
        type=Path,
        help="folder the data is recorded relative to in the checkpoint (default: none, the "
        "audio folder's last two path parts)",
    )
    add_run_options(s)
    s.add_argument(
        "--relabel",
        action="store_true",
        help="label again when the cache was made by another teacher, data or settings "
        "(without it such a cache is refused)",
    )
    s.add_argument(
        "--architecture", default="speech_adv", help="student architecture (default speech_adv)"
    )
    s.add_argument(
        "--arch-config",
        type=json_object,
        default={},
        help="JSON keyword arguments for the architecture",
    )
    s.add_argument(
        "--segment-s",
        type=positive_number("seconds"),
        default=2.0,
        help="teacher segment length in seconds (default 2)",
    )
    s.add_argument(
        "--variants",
        type=non_negative_int,
        default=4,
        help="augmented copies per segment (default 4)",
    )
    s.add_argument(
        "--speaker-regex",
        type=regex_arg,
        help="regex whose first group is the speaker id in a file name "
        "(EmoDB: '^(\\d\\d)'); default: the file's folder",
    )
    s.add_argument(
        "--val-speakers", default="", help="comma-separated speakers held out for validation"
    )
    s.add_argument("--epochs", type=positive_int, default=40)
    s.add_argument("--steps-per-epoch", type=positive_int, default=30)
    s.add_argument("--batch-size", type=positive_int, default=32)
    s.add_argument("--lr", type=positive_float, default=3e-3)
    s.add_argument(
        "--patience",
        type=positive_int,
        default=8,
        help="epochs without validation gain before stopping",
    )
    s.add_argument(
        "--update-s",
        type=positive_number("seconds"),
        default=0.5,
        help="how often the device updates A/D/V (seconds)",
    )
    s.add_argument(
        "--name",
        default="speech-student",
        help="name recorded in the checkpoint and its bundles (default speech-student: not the "
        "shipped speech-adv, so a lookup by name never confuses the two)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="print the report as JSON")


def default_run(output: Path) -> Path:
    return output.with_suffix(".run")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """--run and --resume, as every trainer (speech, face, EEG) takes them."""
    p.add_argument(
        "--run",
        type=Path,
        help="run folder: config, metrics.csv, last.pt every epoch, best.pt (default OUTPUT.run/)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the unfinished run in the run folder from its last finished epoch",
    )


#: What a run folder holds that prepare_run may remove (EEG's stages carry a prefix).
RUN_FILES = (
    *(
        f"{stage}{name}"
        for stage in ("", "teacher-", "student-")
        for name in ("last.pt", "best.pt", "metrics.csv")
    ),
    "config.json",
    "data.json",
)


@contextlib.contextmanager
def resumable(run: Path, writer: bool = True):
    """On Ctrl-C, say how to go on from the run folder's last finished epoch (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        if writer and any(run.glob("*last.pt")):
            render.note(
                f"interrupted; every finished epoch is in {run}: rerun the same command "
                "with --resume to continue",
                True,
            )
        raise


class EpochLine:
    """'epoch 3/40  loss ..  METRIC ..  1.2 s/epoch, ETA 45 s' from the epochs seen so far."""

    def __init__(self, total: int, metric: str, start: float | None = None) -> None:
        import time

        self.total, self.metric, self.clock = total, metric, time.perf_counter
        self.start, self.first = (self.clock() if start is None else start), None
        self.last = self.start

    def timed(self, progress: Callable[[str, int], Callable[[], None]] | None) -> Callable:
        """`progress` (description, total) -> tick for a trainer, with this line's clock
        restarted when the first epoch's steps begin: loading and teacher labelling before them
        are not training time."""
        started = False

        def task(description: str, total: int) -> Callable[[], None]:
            nonlocal started
            if not started and description.startswith("epoch "):
                started = True
                self.start = self.clock()
            return progress(description, total) if progress else lambda: None

        return task

    def line(self, epoch: int, loss: float, value: float | None) -> str:
        if self.first is None:
            self.first = epoch
        done = epoch - self.first + 1
        self.last = self.clock()
        per = (self.last - self.start) / done
        left = per * (self.total - epoch - 1)
        shown = "-" if value is None else f"{value:.4f}"
        return (
            f"epoch {epoch + 1:3d}/{self.total}  loss {loss:.4f}  {self.metric} {shown}  "
            f"{per:.1f} s/epoch, ETA {left:.0f} s"
        )


def prepare_run(args: argparse.Namespace, command: str, settings: dict) -> Path:
    """The run folder (default OUTPUT.run/): config.json (every option, the training
    `settings`, the source revision), then per epoch last.pt, best.pt and metrics.csv (written by
    the training loop), and for speech data.json (the teacher-label cache's fingerprint of the
    data). An unfinished run there is continued with --resume or replaced with --force, never
    silently overwritten."""
    import json as _json

    from distill.checkpoint import source_revision

    run = args.run or default_run(args.output)
    ours = RUN_FILES
    unfinished = any(run.glob("*last.pt"))
    if args.resume and not unfinished:
        raise ConfigError(f"--resume: {run} holds no unfinished run (no last.pt)")
    if unfinished and not args.resume:
        if not args.force:
            raise ConfigError(
                f"{run} holds an unfinished run; pass --resume to continue it or --force to start over"
            )
        for name in ours:
            (run / name).unlink(missing_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    config = {
        "command": command,
        "options": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("handler", "json", "verbose")
        },
        "fit": settings,
        "source_revision": source_revision(),
    }
    if not args.resume:
        (run / "config.json").write_text(_json.dumps(config, indent=2, default=str) + "\n")
    return run


def teacher_kinds() -> tuple[str, ...]:
    from distill.teachers import KINDS  # numpy only: no torch at parser build

    return KINDS


def positive_float(text: str) -> float:
    """A finite number > 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def regex_arg(text: str) -> str:
    """A regular expression with a group (its first group is the speaker id)."""
    import re

    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression ({exc})") from None
    if pattern.groups < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no group; its first group (...) must match the speaker id"
        )
    return text


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing checkpoint at --output (only a checkpoint affect-edge wrote)",
    )


def check_checkpoint_output(args: argparse.Namespace) -> None:
    """Before any work: -o is new, or (with --force) a checkpoint we wrote, in a writable folder."""
    from distill.outputs import check_output, checkpoint_problem

    check_output(args.output, args.force, checkpoint_problem, "checkpoint")


def face_teachers(text: str) -> tuple[str, ...]:
    """--teacher's comma-separated names, each one of the face teachers."""
    from distill.face_recipe import TEACHER_NAMES

    teachers = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(set(teachers) - set(TEACHER_NAMES))
    if unknown:
        raise ConfigError(
            f"--teacher {','.join(unknown)}: the face teachers are {', '.join(TEACHER_NAMES)}"
        )
    return teachers


def check_face_arrays(path: Path, option: str = "--faces") -> None:
    """A face .npz holds `images`, and `labels` beside the `source_file`/`source_path` it names
    (`option`: what the path was given as, for the message)."""
    if not (path.suffix == ".npz" and path.is_file()):
        return
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{option} {path} is not a readable .npz ({exc})") from None
    if "images" not in names:
        raise ConfigError(
            f"{option} {path} holds no 'images' array (it holds {sorted(names)}); "
            "give uint8 crops (n, h, w) as 'images'"
        )
    named = names & {"source_file", "source_path"}
    if named and "labels" not in names:
        raise ConfigError(
            f"{option} {path} has {sorted(named)[0]} but no 'labels' array; add the expressions "
            "as 'labels', or leave out source_file/source_path for unlabelled crops"
        )


def add_evaluate_face(sub) -> None:
    """`affect-edge distill evaluate-face`; distill.face_eval is imported only when it runs."""
    e = sub.add_parser(
        "evaluate-face",
        help="judge face bundles (int8, device engines) and the face teachers against people's "
        "labels: FER2013 test, LFW-expressions test people, GENKI-4K test smiles",
        description="FER2013 test accuracy and per-class recall, LFW-expressions balanced accuracy "
        "and GENKI-4K smile AUC (P(happy) against the smile label) for each bundle's int8 model "
        "on each engine and for each teacher; writes the FER2013 confusion matrices as a PNG.",
    )
    e.add_argument("--shared", type=Path, required=True, help="the shared folder (holds data/)")
    e.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="NAME[=PATH]",
        help="a face bundle to judge, by name or NAME=PATH (repeatable; default face-expr)",
    )
    e.add_argument(
        "--teacher", default="fer,facex", help="comma-separated teachers to judge ('' for none)"
    )
    e.add_argument("--engine", default="onnx,tflite", help="engines for the int8 models")
    e.add_argument("--cache", type=Path, help="teacher output cache (default build/faces/cache)")
    e.add_argument("--png", type=Path, help="write the confusion matrices here")
    e.add_argument("--json", action="store_true", help="print the rows as JSON")


def add_face(sub) -> None:
    f = sub.add_parser(
        "face",
        help="distil a facial-expression student from the fer and facex teachers",
        description="Label face crops with the teachers (cached), split them by person, source "
        "image or video, and train the student on augmented crops against the teachers' "
        "ensemble (temperature KD plus cross-entropy on its top class). Reports top-1 agreement "
        "with the ensemble on the test groups, which nothing was trained or chosen on.",
    )
    f.add_argument(
        "--teacher", default="fer,facex", help="comma-separated teachers: fer, facex (default both)"
    )
    f.add_argument(
        "--faces",
        type=Path,
        action="append",
        required=True,
        help="face crops: a .npz (images, labels, source_file|source_path), a folder of images "
        "(expression-named subfolders label them) or a video; repeat for several",
    )
    f.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write (.pt)")
    add_force(f)
    add_run_options(f)
    f.add_argument(
        "--cache", type=Path, help="teacher-label cache folder (default: OUTPUT.labels/)"
    )
    f.add_argument(
        "--weights",
        help="ensemble weights, one per teacher (default: chosen on labelled validation crops)",
    )
    f.add_argument(
        "--temperature",
        type=positive_float,
        default=2.0,
        help="distillation temperature (default 2)",
    )
    f.add_argument(
        "--ce-weight",
        type=float,
        default=0.3,
        help="weight of CE on the ensemble's top class (default 0.3)",
    )
    f.add_argument(
        "--augment",
        choices=("none", "light", "full"),
        default="light",
        help="strength of the flips, jitter, rotations, blur and brightness changes the training "
        "crops get (default light)",
    )
    f.add_argument("--epochs", type=positive_int, default=30)
    f.add_argument("--batch-size", type=positive_int, default=128)
    f.add_argument("--lr", type=positive_float, default=4e-3)
    f.add_argument(
        "--patience",
        type=positive_int,
        default=6,
        help="epochs without validation gain before stopping",
    )
    f.add_argument(
        "--arch-config", type=json_object, default={}, help="JSON keyword arguments for face_expr"
    )
    f.add_argument(
        "--name",
        default="face-student",
        help="name recorded in the checkpoint and its bundles (default face-student: not the "
        "shipped face-expr)",
    )
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--json", action="store_true", help="print the report as JSON")


def add_face_labels(sub) -> None:
    """`affect-edge distill face-labels`: the shipped face-expr's recipe (distill.face.train_face),
    its defaults FaceTrainConfig's but --name's (face-student, so that a lookup by name never
    confuses it with the shipped face-expr); distill.face is imported only when it runs."""
    from distill.face_recipe import recipe_defaults  # no torch

    defaults = recipe_defaults()
    f = sub.add_parser(
        "face-labels",
        help="train a face student on people's labels plus the fer teacher (the shipped "
        "face-expr's recipe; needs FER2013 and LFW-expressions arrays under --shared)",
        description="Train a facial-expression student on people's labels (FER2013's train split "
        "and LFW-expressions' train people) and on the teacher's softened distribution. Epochs and "
        "the prior correction of the head's bias are chosen on FER2013's val split and LFW's "
        "validation people; the test crops are never read. The defaults are the recipe of the "
        "shipped face-expr (version 6); `affect-edge distill evaluate-face` judges the exported "
        "bundle on the held-out crops.",
    )
    f.add_argument(
        "--shared",
        type=Path,
        required=True,
        help="the folder holding data/faces/fer2013.npz and lfw-expressions.npz",
    )
    f.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write (.pt)")
    add_force(f)
    f.add_argument(
        "--teacher",
        default=",".join(defaults["teachers"]),
        help=f"comma-separated teachers: fer, facex (default {','.join(defaults['teachers'])})",
    )
    f.add_argument(
        "--kd-weight",
        type=fraction,
        default=defaults["kd_weight"],
        help="weight of distillation against the label's cross-entropy, 0-1; 0 trains on the "
        f"labels alone and asks no teacher (default {defaults['kd_weight']})",
    )
    f.add_argument(
        "--temperature",
        type=positive_float,
        default=defaults["temperature"],
        help=f"distillation temperature (default {defaults['temperature']:g})",
    )
    f.add_argument(
        "--balance",
        type=fraction,
        default=defaults["balance"],
        help="class weights n_c^-BALANCE: 0 none, 1 every class weighs the same "
        f"(default {defaults['balance']})",
    )
    f.add_argument(
        "--augment",
        choices=("none", "light", "full", "camera"),
        default=defaults["augment"],
        help=f"augmentation of the training crops (default {defaults['augment']})",
    )
    f.add_argument(
        "--no-lfw",
        action="store_true",
        help="train on FER2013 alone (LFW's validation people still judge the epochs)",
    )
    f.add_argument(
        "--architecture",
        default=defaults["architecture"],
        help=f"student architecture (default {defaults['architecture']})",
    )
    f.add_argument(
        "--arch-config",
        type=json_object,
        default=defaults["arch_config"],
        help="JSON keyword arguments for it (default: its own defaults)",
    )
    f.add_argument(
        "--epochs",
        type=positive_int,
        default=defaults["epochs"],
        help=f"default {defaults['epochs']}",
    )
    f.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults["batch_size"],
        help=f"default {defaults['batch_size']}",
    )
    f.add_argument(
        "--lr",
        type=positive_float,
        default=defaults["lr"],
        help=f"peak learning rate of the one-cycle schedule (default {defaults['lr']:g})",
    )
    f.add_argument(
        "--cache",
        type=Path,
        help="teacher-label cache folder (default build/faces/cache, shared with evaluate-face)",
    )
    f.add_argument(
        "--name",
        default="face-student",
        help="name recorded in the checkpoint and its bundles (default face-student: not the "
        "shipped face-expr)",
    )
    f.add_argument("--seed", type=int, default=defaults["seed"])
    f.add_argument("--json", action="store_true", help="print the report as JSON")


def needs_torch() -> None:
    """Name a missing torch first, as the command line names any missing extra, without importing
    it: the checks of the inputs and outputs come next, and torch loads only after them."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")


def run_face(args: argparse.Namespace) -> int:
    needs_torch()
    try:
        weights = tuple(float(w) for w in args.weights.split(",")) if args.weights else None
    except ValueError as exc:
        raise ConfigError(
            f"--weights must be numbers separated by commas, got {args.weights!r}"
        ) from exc
    check_checkpoint_output(args)
    for faces in args.faces:
        check_face_arrays(faces)
    from distill.face import FaceDistillConfig, distill_face  # (torch: after the checks above)

    cfg = FaceDistillConfig(
        faces=tuple(args.faces),
        cache=args.cache or args.output.with_suffix(".labels"),
        teachers=face_teachers(args.teacher),
        weights=weights,
        temperature=args.temperature,
        ce_weight=args.ce_weight,
        augment=args.augment,
        arch_config=args.arch_config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        name=args.name,
        seed=args.seed,
    )
    from dataclasses import asdict

    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    run_dir = prepare_run(args, "distill face", settings)
    quiet = args.json
    epochs = EpochLine(args.epochs, "validation agreement")
    with resumable(run_dir), progress_bars(not quiet) as bars:

        def on_epoch(epoch: int, loss: float, agreement: float) -> None:
            if not quiet:
                render.line(epochs.line(epoch, loss, agreement))

        ckpt, report = distill_face(
            cfg, on_epoch=on_epoch, progress=epochs.timed(bars), run=run_dir, resume=args.resume
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    ckpt.save(args.output)
    if args.json:
        render.emit_json({k: v for k, v in report.items() if k != "history"})
        return 0
    rows = []
    for origin, r in report["test"].items():
        ba = r.get("balanced_accuracy", {})
        rows.append(
            [
                origin,
                r["crops"],
                r["groups"],
                f"{r['agreement_with_ensemble']:.3f}",
                *(f"{r.get(f'agreement_with_{t}', float('nan')):.3f}" for t in ("fer", "facex")),
                " / ".join(f"{ba[k]:.3f}" for k in ("student", *report["teachers"]) if k in ba)
                or "-",
            ]
        )
    render.table(
        f"face student: {report['cost']['params']:,} params, {report['cost']['macs_per_face']:,} MACs per face; "
        f"weights {report['ensemble_weights']}, T={report['temperature']}",
        [
            "test groups of",
            "crops",
            "groups",
            "top-1 vs ensemble",
            "vs fer",
            "vs facex",
            "balanced acc. student / teachers",
        ],
        rows,
    )
    render.line(
        f"wrote {args.output}; export it with: affect-edge export {args.output} "
        f"--calibration {args.faces[0]} -o BUNDLE (the crops go through the device's mapping)"
    )
    return 0


def run_face_labels(args: argparse.Namespace) -> int:
    needs_torch()
    teachers = face_teachers(args.teacher)
    if args.kd_weight > 0 and not teachers:
        raise ConfigError("--kd-weight above 0 needs a --teacher (or give --kd-weight 0)")
    from distill.face_recipe import TEACHER_CACHE, shared_face_arrays

    for path in shared_face_arrays(args.shared, ("fer2013", "lfw-expressions")):
        check_face_arrays(path, option="--shared's")
    cache = args.cache or TEACHER_CACHE
    if teachers and args.kd_weight > 0:
        from distill.outputs import check_writable

        check_writable(cache / "labels.npy", "--cache")  # the teachers' labels go there
    check_checkpoint_output(args)
    from distill.face import FaceTrainConfig, train_face  # (torch: after the checks above)

    cfg = FaceTrainConfig(
        shared=args.shared,
        cache=cache,
        teachers=teachers,
        temperature=args.temperature,
        kd_weight=args.kd_weight,
        balance=args.balance,
        augment=args.augment,
        lfw=not args.no_lfw,
        architecture=args.architecture,
        arch_config=args.arch_config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        name=args.name,
        seed=args.seed,
    )
    quiet = args.json
    epochs = EpochLine(args.epochs, "validation score")
    with progress_bars(not quiet) as bars:

        def on_epoch(epoch: int, loss: float, row: dict) -> None:
            if not quiet:
                render.line(epochs.line(epoch, loss, row["score"]))

        ckpt, report = train_face(cfg, on_epoch=on_epoch, progress=epochs.timed(bars))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    ckpt.save(args.output)
    if args.json:
        render.emit_json({k: v for k, v in report.items() if k != "history"})
        return 0
    names = {
        "fer2013_val_accuracy": "FER2013 val accuracy",
        "fer2013_val_balanced_accuracy": "FER2013 val balanced accuracy",
        "lfw_val_balanced_accuracy": "LFW validation people, balanced accuracy",
        "score": "score (their mean: what chose)",
    }
    render.table(
        f"face student {cfg.architecture}: {report['cost']['params']:,} params, "
        f"{report['cost']['macs_per_face']:,} MACs per face",
        ["chosen on", f"epoch {report['best_epoch'] + 1} of {args.epochs}", "prior corrected"],
        [
            [label, f"{report['val'][k]:.4f}", f"{report['val_after_adjust'][k]:.4f}"]
            for k, label in names.items()
        ],
    )
    render.line(
        f"prior correction {report['log_adjust']:g}: the head's bias lost "
        f"{report['log_adjust']:g} x log(training prior)"
    )
    render.line(
        f"wrote {args.output}; export it with: affect-edge export {args.output} --calibration "
        "CROPS.npy -o BUNDLE, then judge it on the held-out crops with: affect-edge distill "
        f"evaluate-face --shared {args.shared} --bundle BUNDLE"
    )
    return 0


def add_eeg_data(p: argparse.ArgumentParser) -> None:
    """Options shared by `distill eeg` and `eval eeg`."""
    p.add_argument(
        "--dreamer",
        type=Path,
        required=True,
        help="a DREAMER.mat (or a file of its structure, such as `--write-synthetic` makes)",
    )
    p.add_argument("--target", choices=["valence", "arousal", "dominance"], default="valence")
    p.add_argument("--subjects", help="comma-separated subject numbers (1-based; default all)")
    p.add_argument(
        "--epochs", type=positive_int, default=50, help="training epochs (the paper: 50)"
    )
    p.add_argument("--steps-per-epoch", type=positive_int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--filters",
        type=filters_arg,
        default=("bandpass_1_45",),
        help="the device's stored filter designs, comma-separated, run before the z-score "
        "(default bandpass_1_45; 'none' for the paper's unfiltered preprocessing)",
    )
    p.add_argument(
        "--mains",
        type=int,
        choices=[50, 60],
        default=50,
        help="mains notch in Hz (default 50: DREAMER was recorded in the UK)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def filters_arg(text: str) -> tuple[str, ...]:
    return () if text.strip().lower() in ("", "none") else tuple(t.strip() for t in text.split(","))


def electrodes_arg(text: str) -> tuple[str, ...]:
    """A device profile's EEG electrodes (by profile name) or a comma-separated list."""
    if "," in text:
        return tuple(t.strip() for t in text.split(",") if t.strip())
    from devices.profile import load_profile

    sensor = load_profile(text).sensor("eeg")
    if sensor is None:
        raise argparse.ArgumentTypeError(f"profile {text!r} has no EEG sensor")
    return tuple(sensor.channels)


def check_synthetic_target(path: Path, force: bool) -> None:
    """--write-synthetic replaces a file only with --force, and only one it wrote before (its
    Disclaimer says SYNTHETIC): never a real DREAMER.mat or any other file of the user's."""
    from distill.outputs import check_output

    def problem(p: Path) -> str | None:
        from distill.dreamer import load_dreamer

        try:
            synthetic = all(t.synthetic for t in load_dreamer(p))
        except ConfigError:
            return "it is not a DREAMER-structured file"
        return None if synthetic else "it holds real (not synthetic) EEG"

    check_output(path, force, problem, "synthetic EEG file", option="--dreamer")


def add_eeg(sub) -> None:
    e = sub.add_parser(
        "eeg",
        help="train a HiSTN-style EEG level student (with its teacher) on DREAMER-structured data",
        description="Train the teacher (a wider HiSTN) and the HiSTN student (Gaussian ordinal "
        "label smoothing plus temperature KD) on every subject's clips, blocks 0-8 of each clip "
        "(block 9 validates), and write the student's checkpoint. `affect-edge eval eeg` runs the "
        "cross-validation protocols. `--write-synthetic N` first writes a DREAMER-structured file "
        "of N subjects of synthetic EEG at --dreamer (a test fixture, not emotion data).",
    )
    add_eeg_data(e)
    e.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write (.pt)")
    add_force(e)
    add_run_options(e)
    e.add_argument(
        "--write-synthetic", type=positive_int, metavar="N", help="write N synthetic subjects first"
    )
    e.add_argument(
        "--electrodes",
        type=electrodes_arg,
        help="with --write-synthetic: the montage, a device profile (emotiv-14, openbci-cyton, "
        "muse-2) or names (Fp1,Fp2,...); default DREAMER's 14",
    )
    e.add_argument(
        "--graph",
        choices=["listed", "montage"],
        default="listed",
        help="the student's electrode graph: 'listed' (regions from the 10-20 names, a chain "
        "in the listed order inside each: the shipped students') or 'montage' (regions and "
        "nearest neighbours from MNE's 10-20 positions, for any electrodes: distill/eeg_graph.py)",
    )
    e.add_argument(
        "--name", default="eeg-histn", help="name recorded in the checkpoint and its bundles"
    )


def subjects_arg(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(s) - 1 for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise ConfigError(f"--subjects must be numbers separated by commas, got {text!r}") from exc


def run_eeg(args: argparse.Namespace) -> int:
    needs_torch()
    from distill.dreamer import load_dreamer, write_synthetic

    check_checkpoint_output(args)
    if args.write_synthetic:
        check_synthetic_target(args.dreamer, args.force)
    if args.write_synthetic:
        extra = {"channels": args.electrodes} if args.electrodes else {}
        write_synthetic(args.dreamer, subjects=args.write_synthetic, seed=args.seed, **extra)
        render.note(f"wrote {args.write_synthetic} synthetic subjects to {args.dreamer}", args.json)
    trials = load_dreamer(args.dreamer, subjects_arg(args.subjects), args.filters, args.mains)
    from distill.eeg import EegFitConfig, eeg_checkpoint, train_final  # (torch: once data is read)

    graph = {}
    if args.graph == "montage":
        from distill.eeg_graph import montage_graph

        built = montage_graph(trials[0].channels)
        graph = built.arch_config()
        render.note(
            "graph from MNE's 10-20 positions: "
            + " | ".join(" ".join(r) for r in built.regions)
            + f"; edges {', '.join(f'{a}-{b}' for a, b in built.edges) or 'none'}",
            args.json,
        )
    cfg = EegFitConfig(
        epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, seed=args.seed, arch_config=graph
    )
    from dataclasses import asdict

    run_dir = prepare_run(args, "distill eeg", asdict(cfg))
    lines = {"teacher": EpochLine(args.epochs, "validation F1")}

    def on_epoch(model: str, epoch: int, loss: float, f1: float) -> None:
        if model not in lines:  # the student's clock starts when the teacher's last epoch ended
            lines[model] = EpochLine(args.epochs, "validation F1", lines["teacher"].last)
        if not args.json:
            render.line(f"{model}  " + lines[model].line(epoch, loss, f1))

    with resumable(run_dir):
        student, teacher, report = train_final(
            trials, args.target, cfg, on_epoch=on_epoch, run=run_dir, resume=args.resume
        )
    ckpt = eeg_checkpoint(student, teacher, report, args, trials)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    ckpt.save(args.output)
    if args.json:
        render.emit_json(ckpt.report)
        return 0
    render.table(
        f"EEG {args.target} levels on {args.dreamer.name}: validation (block 9 of every clip)",
        ["model", "params", "weighted F1", "top-2", "Tri-P", "Seq2HR"],
        [
            [
                name,
                f"{ckpt.report['params'][name]:,}",
                *(f"{report[name + '_val'][k]:.3f}" for k in ("f1", "top2", "tri_p", "seq2hr")),
            ]
            for name in ("teacher", "student")
        ],
    )
    render.line(
        f"wrote {args.output}; export it with: affect-edge export {args.output} "
        f"--calibration {args.dreamer} -o BUNDLE"
    )
    return 0


def add_evaluate(sub) -> None:
    e = sub.add_parser(
        "evaluate",
        help="judge speech bundles and two anchors on EmoDB, RAVDESS and nEMO, leaving speakers "
        "out and each corpus out",
        description="CCC against circumplex-mapped labels, arousal AUC and valence AUC per corpus "
        "(EmoDB, RAVDESS and nEMO, whichever the shared folder holds), on speaker-disjoint folds "
        "and leaving one corpus out, for the anchors (loudness; a logistic regression on log-mel "
        "statistics and pitch), the backbone probes whose weights are installed (GE2E, "
        "Whisper-base) and bundles run on the device path. Held-out speakers (EmoDB 10, RAVDESS "
        "11 and 12, nEMO MK0 and WR0) are reported apart.",
    )
    e.add_argument("--shared", type=Path, required=True, help="the shared folder (holds data/)")
    e.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="NAME=PATH[:SEEN]",
        help="a bundle to judge; SEEN lists corpus/speaker ids it was trained on, e.g. "
        "'emodb/08,emodb/09,emodb/10' (repeatable)",
    )
    e.add_argument("--json", action="store_true", help="print the rows as JSON")


def run_evaluate(args: argparse.Namespace) -> int:
    from distill.evaluate import evaluate
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    bundles = {}
    for spec in args.bundle:
        name, _, rest = spec.partition("=")
        path, _, seen_text = rest.partition(":")
        seen: dict[str, list[str]] = {}
        for item in filter(None, seen_text.split(",")):
            corpus, _, speaker = item.partition("/")
            seen.setdefault(corpus, []).append(speaker)
        bundles[name] = (
            load_bundle(find_bundle(path or name)),
            {k: tuple(v) for k, v in seen.items()},
        )
    with progress_bars(not args.json) as bars:
        result = evaluate(args.shared, bundles, progress=bars)
    if args.json:
        render.emit_json(result)
        return 0
    render.table(
        "speech evaluation (CCC against circumplex labels; AUCs on the emotion groups)",
        [
            "model",
            "corpus",
            "protocol",
            "n",
            "CCC A",
            "CCC D",
            "CCC V",
            "arousal AUC",
            "valence AUC",
        ],
        [
            [
                r["model"],
                r["corpus"],
                r["protocol"],
                r["n"],
                *(f"{r['ccc'][k]:.3f}" for k in ("arousal", "dominance", "valence")),
                f"{r['arousal_auc']:.3f}",
                f"{r['valence_auc']:.3f}",
            ]
            for r in result["rows"]
        ],
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.modality == "evaluate":
        return run_evaluate(args)
    if args.modality == "face":
        return run_face(args)
    if args.modality == "face-labels":
        return run_face_labels(args)
    if args.modality == "evaluate-face":
        from distill.face_eval import run_cli

        return run_cli(args)
    if args.modality == "eeg":
        return run_eeg(args)
    needs_torch()
    check_checkpoint_output(args)
    from distill.circumplex import human_labels

    human_labels(args.audio)  # a malformed labels.csv is refused before torch loads
    try:
        from distill.speech import DistillConfig, distill_speech
        from distill.train import FitConfig
    except ImportError as exc:
        raise ConfigError(
            f"`affect-edge distill` needs the offline tools ({exc.name} is missing): "
            "pip install 'affect-edge[train]'"
        ) from exc
    cfg = DistillConfig(
        teacher=args.teacher,
        audio=args.audio,
        cache=args.cache or args.output.with_suffix(".labels"),
        architecture=args.architecture,
        arch_config=args.arch_config,
        segment_s=args.segment_s,
        variants=args.variants,
        speaker_regex=args.speaker_regex,
        relabel=args.relabel,
        data_root=args.data_root,
        val_speakers=tuple(s for s in args.val_speakers.split(",") if s),
        update_s=args.update_s,
        name=args.name,
        seed=args.seed,
        fit=FitConfig(
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            batch_size=args.batch_size,
            lr=args.lr,
            patience=args.patience,
            seed=args.seed,
        ),
    )
    from distill.train import rank_and_world

    rank, _ = rank_and_world()
    from dataclasses import asdict

    run_dir = (
        prepare_run(args, "distill speech", asdict(cfg.fit))
        if rank == 0
        else (args.run or default_run(args.output))
    )
    cfg.run, cfg.resume = run_dir, args.resume
    quiet = args.json or rank != 0
    epochs = EpochLine(args.epochs, "validation CCC")
    with resumable(run_dir, rank == 0), progress_bars(not quiet) as bars:

        def on_epoch(epoch: int, loss: float, val: float | None) -> None:
            if not quiet:
                render.line(epochs.line(epoch, loss, val))

        ckpt, report = distill_speech(cfg, on_epoch=on_epoch, progress=bars)
    if rank != 0:
        return 0  # rank 0 alone reports and writes
    args.output.parent.mkdir(parents=True, exist_ok=True)
    ckpt.save(args.output)
    if args.json:
        render.emit_json({k: v for k, v in report.items() if k != "history"})
        return 0
    ccc = report["student_vs_teacher_ccc"]
    render.table(
        f"student {cfg.architecture}: {report['cost']['params']:,} params, "
        f"{report['cost']['macs_per_second_of_audio']:,} MACs per second of audio",
        ["held out " + report["split"]["by"] + "s", "arousal", "dominance", "valence"],
        [
            [
                "student vs teacher CCC " + ",".join(report["split"]["held_out"]),
                *(f"{ccc[k]:.3f}" for k in ("arousal", "dominance", "valence")),
            ]
        ]
        + (
            [
                [
                    "student vs human labels CCC",
                    *(
                        f"{report['student_vs_labels_ccc'][k]:.3f}"
                        for k in ("arousal", "dominance", "valence")
                    ),
                ]
            ]
            if "student_vs_labels_ccc" in report
            else []
        ),
    )
    render.line(
        f"wrote {args.output}; export it with: affect-edge export {args.output} --calibration AUDIO_DIR -o BUNDLE"
    )
    return 0
