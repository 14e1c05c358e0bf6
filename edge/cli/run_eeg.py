"""`affect-edge run eeg FILE|--board NAME`: valence or arousal levels per EEG window.

Recordings (OpenBCI GUI text, CSV, BrainFlow files, EDF/BDF, and every format MNE reads:
BrainVision, EEGLAB, GDF, FIF...) and BrainFlow boards (synthetic,
playback, streaming, real headsets by name) go through the EEG pipeline: the model's electrodes
are picked by name (``--channels`` names a source's channels in order when it names them
otherwise), filtered, calibrated on the first seconds (or a stored ``--baseline``), and scored
per window, with per-electrode quality flags. Events go to stdout as JSON lines (``--json``), to
a JSON-lines file (``-o``), or into a table; ``--annotate`` writes the flags and levels back onto
the recording as MNE annotations.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from devices.units import UNIT_NAMES
from edge import stream
from edge.cli import render
from edge.cli.args import (
    add_event_outputs,
    event_sinks,
    options_from,
    plot_file,
    positive_number,
    stopped,
    writable_file,
)
from edge.errors import ConfigError
from edge.frontends.eeg import CYTON_RAIL_UV, FLAGS
from edge.modalities.eeg import EEG, EegOptions, board_source
from edge.runtime import load_bundle
from edge.runtime.registry import DEFAULTS, covers, eeg_bundle_for, find_bundle
from edge.stream import EventList

DESCRIPTION = """valence or arousal levels (1-5) per EEG window, from a recording or a board

Each window (1 s, every --hop-s) gives the probability of each of five levels and the expected
level, with quality flags per electrode: disconnected, flat, railed, line_noise, blink
(frontal electrodes), muscle, movement (a large slow deflection elsewhere).
A flagged window is not scored (the event repeats the last estimate, updated: false) unless
--score-flagged. The first --calibration-s seconds (after 2 s of filter settling) calibrate
each electrode's level, spread and artefact limits; --save-baseline keeps them for the next session.

Sources: a recording (OpenBCI GUI .txt, .csv, BrainFlow file, .edf/.bdf, and through MNE
BrainVision .vhdr, EEGLAB .set, GDF, Neuroscan .cnt, FIF and the rest MNE reads) or --board NAME
(synthetic, cyton, ganglion, muse_2, ... as BrainFlow names them). EmotivPRO and Mind Monitor
CSV exports, and CSVs whose columns are 10-20 electrode names (muse-lsl), are read as they are;
other CSVs need --csv-columns and --csv-time or --rate. The model needs its own
electrodes by name: --channels renames the source's channels, in order. The default model is
trained on SYNTHETIC EEG: it demonstrates the runtime, it does not sense emotion."""


def add_parser(sub) -> None:
    s = sub.add_parser(
        "eeg",
        help="valence/arousal levels per EEG window from a recording or a BrainFlow board",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("recording", nargs="?", type=Path, help="EEG file (omit with --board)")
    s.add_argument("--board", help="BrainFlow board instead of a file: synthetic, cyton, muse_2...")
    s.add_argument("--serial-port", help="board's serial port (Cyton: /dev/ttyUSB0)")
    s.add_argument("--mac-address", help="board's Bluetooth address")
    s.add_argument(
        "--master-board", help="for --board playback_file / streaming: whose data it carries"
    )
    s.add_argument("--board-file", help="for --board playback_file: the file")
    s.add_argument(
        "--seconds",
        type=positive_number("seconds"),
        default=20.0,
        help="how long to stream from a board (default 20; files run to their end)",
    )
    s.add_argument(
        "--bundle",
        help=f"EEG bundle: a name or a path (default: {DEFAULTS['eeg']}, or the shipped bundle "
        "whose electrodes the source has when it lacks some of that one's)",
    )
    s.add_argument(
        "--engine",
        choices=["native", "onnx", "tflite"],
        help="runtime (default: the bundle's; native, affect-edge's C kernel, for the shipped "
        "EEG bundles)",
    )
    s.add_argument(
        "--precision",
        choices=["fp32", "int8"],
        help="model precision (default: fp32 on native, else int8)",
    )
    s.add_argument(
        "--channels",
        help="names of the source's EEG channels in order, comma-separated (e.g. the OpenBCI "
        "GUI's 'EXG Channel 0..7' as Fp1,Fp2,C3,C4,P7,P8,O1,O2)",
    )
    s.add_argument(
        "--csv-columns",
        help="CSV: the EEG columns in order, NAME=COLUMN or COLUMN, comma-separated (default: "
        "read from the header of EmotivPRO and Mind Monitor exports, or of columns named as "
        "10-20 electrodes)",
    )
    s.add_argument(
        "--csv-time",
        help="CSV: the time column (seconds, ms or ISO date-times; default: the export's "
        "Timestamp / timestamps / time column when its columns are recognised)",
    )
    s.add_argument(
        "--csv-time-unit",
        choices=["s", "ms"],
        help=f"CSV time unit (default {EegOptions.default('csv_time_unit')})",
    )
    s.add_argument("--rate", type=positive_number("Hz"), help="CSV without a time column: its rate")
    s.add_argument(
        "--unit",
        choices=list(UNIT_NAMES),
        help=f"CSV values' unit (default {EegOptions.default('unit')})",
    )
    s.add_argument(
        "--mains",
        type=int,
        choices=[50, 60],
        help=f"mains notch, Hz (default {EegOptions.default('mains')})",
    )
    s.add_argument("--hop-s", type=positive_number("seconds"), help="seconds between windows")
    s.add_argument(
        "--calibration-s",
        type=positive_number("seconds"),
        help="calibration at the start (default: the bundle's, 10 s)",
    )
    s.add_argument("--baseline", type=Path, help="a stored baseline (JSON) instead of calibrating")
    s.add_argument(
        "--save-baseline",
        type=writable_file((".json",), ".json"),
        help="write the calibration's baseline here",
    )
    s.add_argument(
        "--annotate",
        type=writable_file((".fif", ".txt", ".csv"), ".fif"),
        help="write the flags (BAD_blink, BAD_muscle... on the flagged channels) and the levels "
        "as MNE annotations: a .fif of the recording with them, or MNE's -annot.txt (-annot.csv "
        "with pandas) of them alone",
    )
    s.add_argument(
        "--rail-uv",
        type=positive_number("microvolts"),
        help=f"amplifier rail in µV for the railed flag (default {CYTON_RAIL_UV:,.0f}, Cyton)",
    )
    s.add_argument("--score-flagged", action="store_true", help="score flagged windows too")
    s.add_argument(
        "--plot",
        type=plot_file,
        help="draw the five levels' probabilities over time (held windows greyed) into this "
        "picture, as run speech --plot does",
    )
    s.add_argument(
        "--smoothing",
        type=float,
        help="weight on the newest window, (0, 1] (default 1: none)",
    )
    add_event_outputs(s)


#: The bundle `--board synthetic` feeds unless told otherwise.
SYNTHETIC_BUNDLE = "eeg-valence-muse4"


def is_synthetic(board: str) -> bool:
    from devices.eeg import board_id

    return board_id(board) == -1  # BrainFlow's SYNTHETIC_BOARD


def open_source(args, model_channels: tuple[str, ...]):
    """The source named on the command line, and a note for the user (or None)."""
    from devices.eeg import stand_in_channels

    options = options_from(args, EegOptions)
    channels = options.channels
    if args.board:
        if args.recording is not None:
            raise ConfigError("give a recording or --board, not both")
        note = None
        if channels is None and (channels := stand_in_channels(args.board, model_channels)):
            k = len(model_channels)
            note = (
                f"synthetic board: its first {k} channels are named {', '.join(model_channels)} "
                f"for the model (a test signal, not a brain: one sine per channel at 5, 10, "
                f"15 ... Hz, so these carry 5-{5 * k} Hz"
                + (
                    "; its 25-45 Hz channels would be held as muscle)"
                    if k <= 4
                    else "; those at 25-45 Hz are held as muscle: --bundle eeg-valence-muse4 "
                    "takes only the first 4)"
                )
            )
        source = board_source(args.board, options, channels)
        return source, note
    if args.recording is None:
        raise ConfigError("give an EEG recording or --board NAME")
    source = EEG.open(f"file:{args.recording}", options, None)
    layout = getattr(source, "layout", None)
    note = None
    if layout is not None:
        timing = f"times from {layout.time_column}" if layout.time_column else "no time column"
        note = f"read as {layout.app}: EEG columns {', '.join(layout.headers)}; {timing}"
    return source, note


def eeg_events(args, sinks: tuple = ()) -> tuple[list, dict]:
    options_from(args, EegOptions)  # every flag checked before anything opens
    name = args.bundle or DEFAULTS["eeg"]
    if args.board and args.bundle is None and not args.channels and is_synthetic(args.board):
        # BrainFlow's synthetic board carries one sine per channel, 5 Hz apart: only its first
        # four are in the EEG band (the rest are muscle-band or filtered out), so by default it
        # feeds the 4-electrode bundle, whose windows are scored.
        name = SYNTHETIC_BUNDLE
    bundle = load_bundle(find_bundle(name))
    spec = bundle.manifest.front_end
    source, note = open_source(args, tuple(spec.channels))
    # Opened before the bundle is chosen: a file's channel names (and --channels' renames of
    # them) are known once its header is read.
    source.open()
    try:
        return _run_source(args, sinks, bundle, source, note)
    finally:
        source.close()


def _run_source(args, sinks, bundle, source, note) -> tuple[list, dict]:
    spec = bundle.manifest.front_end
    renamed = {n: o for n, o in getattr(source, "metadata", {}).get("labels", {}).items() if n != o}
    if renamed:
        shown = ", ".join(f"{o} -> {n}" for n, o in list(renamed.items())[:6])
        more = f" (+{len(renamed) - 6} more)" if len(renamed) > 6 else ""
        note = f"{note}; " if note else ""
        note += f"signal labels read as electrodes: {shown}{more}"
    marked = marked_bad(getattr(source, "metadata", {}))
    if marked:
        note = (f"{note}; " if note else "") + marked
    if args.bundle is None and not covers(source.channels, spec.channels):
        # No bundle named and the default's electrodes are not all there (a Muse, a Cyton):
        # the shipped bundle whose electrodes the source has, if one does.
        fitting = eeg_bundle_for(source.channels)
        if fitting is not None:
            bundle, spec = fitting, fitting.manifest.front_end
            render.note(
                f"using {bundle.manifest.name}: the source has its electrodes "
                f"({', '.join(spec.channels)}), not all of {DEFAULTS['eeg']}'s",
                args.json,
            )
    seen = EventList()
    pipeline = EEG.build_pipeline(bundle, source, options_from(args, EegOptions))
    with pipeline:
        if note:
            render.note(note, args.json)
        result = stream.run(
            source, pipeline, (seen, *sinks), duration_s=args.seconds if args.board else None
        )
        if args.save_baseline and pipeline.baseline is not None:
            pipeline.baseline.save(args.save_baseline)
        info = {
            "interrupted": result.interrupted,
            "engine": pipeline.engine.name,
            "model": f"{bundle.manifest.name} v{bundle.manifest.version}",
            "rate_hz": source.rate_hz,
            "seconds": source.samples_read / source.rate_hz if source.rate_hz else 0.0,
            "calibrated": pipeline.baseline is not None,
            "baseline": pipeline.baseline,
            **pipeline.stats(),
            **{f"source_{k}": v for k, v in source.stats().items()},
        }
    return seen.events, info


def run(args: argparse.Namespace) -> int:
    if args.annotate:
        from edge.sinks.annotations import check_target

        check_target(args.annotate, args.recording)
    with event_sinks(args) as sinks:
        events, info = eeg_events(args, sinks)
    if args.annotate:
        annotate(args, events)
    name = f"board {args.board}" if args.board else args.recording.name
    if not args.json:
        show(events, info, name)
        if args.output:
            render.line(f"events written to {args.output}")
    if args.save_baseline and info["baseline"] is not None:
        render.note(f"baseline written to {args.save_baseline}", args.json)
    if not events:
        render.note(
            f"no window was scored: {info['seconds']:.1f} s of EEG, and calibration needs "
            f"{2 + (args.calibration_s or 10):.0f} s before the first window",
            args.json,
        )
    if args.plot:
        save_plot(events, info, name, args.plot)
        render.note(f"plot written to {args.plot}", args.json)
    return stopped(info)


def save_plot(events: list, info: dict, name: str, path: Path) -> None:
    """Each level's probability per window over time; held windows are greyed by the timeline."""
    from edge.cli.plot import save_timeline

    first = next((e.values for e in events if e.values), {})
    levels = tuple(k for k in first if k.startswith("level_"))
    title = f"{name}: {info['model']} on {info['engine']}"
    end = max((e.end_s for e in events), default=info["seconds"])
    note = "calibrating: no EEG window scored"
    save_timeline(events, path, title, end, levels or ("level_1",), note, "p(level)")


#: Windows a table shows before it is thinned.
MAX_ROWS = 40


def shown_rows(events: list) -> list:
    """Every window when there are at most MAX_ROWS; else every held or flagged one (what a reader
    looks for) and an even sample of the rest."""
    if len(events) <= MAX_ROWS:
        return events
    step = -(-len(events) // MAX_ROWS)
    return [
        e for i, e in enumerate(events) if i % step == 0 or not e.updated or flag_notes(e.quality)
    ]


def flag_notes(quality: dict) -> str:
    """The flagged electrodes of an EEG event, as 'blink: Fp1,Fp2; muscle: T7'."""
    return "; ".join(f"{k}: {','.join(quality[k])}" for k in FLAGS if quality.get(k))


def show(events: list, info: dict, name: str) -> None:
    title = f"{name}: {info['model']} on {info['engine']}, {info['seconds']:.1f} s at {info['rate_hz']:g} Hz"
    if not events:
        return
    rows = []
    shown = shown_rows(events)
    for e in shown:
        rows.append(
            [
                f"{e.start_s:6.1f}-{e.end_s:6.1f} s",
                f"{e.values['level']:.2f}" if e.values else "-",
                f"{max(e.values[k] for k in e.values if k.startswith('level_')):.2f}"
                if e.values
                else "-",
                "yes" if e.updated else "held",
                flag_notes(e.quality),
            ]
        )
    render.table(title, ["window", "level (1-5)", "top p", "scored", "flags"], rows)
    if len(shown) < len(events):
        step = -(-len(events) // MAX_ROWS)
        render.line(
            f"rows thinned: {len(shown)} of {len(events)} windows shown (every held or flagged "
            f"one, and 1 in {step} of the rest); --json or -o FILE gives all of them"
        )
    counts = Counter(k for e in events for k in FLAGS if e.quality.get(k))
    scored = [e.latency_ms["model"] for e in events if e.updated]
    render.line(
        f"{len(events)} windows, {len(scored)} scored, {len(events) - len(scored)} held "
        f"(flags: {', '.join(f'{k} {v}' for k, v in counts.most_common()) or 'none'})"
    )
    if scored:
        render.line(
            f"latency per window: model median {np.median(scored):.3f} ms, total median "
            f"{np.median([e.latency_ms['total'] for e in events]):.3f} ms"
        )


def annotate(args: argparse.Namespace, events: list) -> None:
    """The run's flags and levels as MNE annotations in ``--annotate`` (edge/sinks/annotations.py)."""
    from edge.sinks.annotations import AnnotationsSink

    with AnnotationsSink(
        args.annotate, args.recording, lambda: open_source(args, ())[0], FLAGS
    ) as sink:
        for e in events:
            sink.write(e)
    render.note(f"annotations written to {args.annotate}", args.json)


def marked_bad(metadata: dict) -> str | None:
    """What the recording itself marks unusable (its bad channels and BAD annotations, which its
    reader delivers as NaN), as a note; None when it marks nothing."""
    from devices.eeg.files import is_bad

    bads = metadata.get("bads") or []
    spans = [a for a in metadata.get("annotations", []) if is_bad(a["description"])]
    if not bads and not spans:
        return None
    parts = [f"bad channel(s) {', '.join(bads)}"] if bads else []
    if spans:
        seconds = sum(a["duration_s"] for a in spans)
        parts.append(f"{len(spans)} BAD span(s) ({seconds:.1f} s)")
    return f"the file marks {' and '.join(parts)}: read as NaN, held and flagged disconnected"
