"""`affect-edge run NAME URI`: any registered modality without a command of its own.

The flags are its options class's fields (`--detect-every` for `detect_every`; a tuple takes
comma-separated names, a switch that defaults to off is a bare flag), the source is a URI its
modality opens (``file:PATH`` or one of its schemes); events are rendered as `run speech`'s are:
JSON lines (`--json`), a JSON-lines file (`-o`), or a table of each event's values.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from edge import modalities, stream
from edge.cli import render
from edge.cli.args import (
    add_event_outputs,
    event_sinks,
    flag,
    options_from,
    positive_int,
    positive_number,
    stopped,
)
from edge.stream import EventList


def _flag_type(annotation: typing.Any) -> type | None:
    """The parser type of an option annotated `annotation` (None: a comma-separated list)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    if typing.get_origin(base) in (tuple, list):
        return None
    return base


def add_parser(sub, modality: modalities.Modality) -> None:
    s = sub.add_parser(
        modality.name,
        help=f"{modality.name} events from {modality.uri_help()}",
        description=f"{modality.name} events from {modality.uri_help()}, through its pipeline",
    )
    s.add_argument("source", help=f"what to read: {modality.uri_help()}")
    hints = typing.get_type_hints(modality.options)
    for f in dataclasses.fields(modality.options):
        kind = _flag_type(hints[f.name])
        shown = f"(default {f.default})"
        if kind is bool:
            s.add_argument(flag(f.name), action="store_true", default=None, help=shown)
        else:
            s.add_argument(flag(f.name), type=kind or str, help=shown)
    s.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    s.add_argument(
        "--seconds", type=positive_number("seconds"), help="stop after this long (live sources)"
    )
    s.add_argument(
        "--realtime", action="store_true", help="pace a file to the wall clock, as a live source"
    )
    add_event_outputs(s)


def run(args: argparse.Namespace) -> int:
    modality = modalities.get(args.modality)
    options = options_from(args, modality.options)
    seen = EventList()
    with (
        event_sinks(args) as sinks,
        modalities.opened(modality.name, args.source, options) as (source, pipeline),
    ):
        result = stream.run(
            source,
            pipeline,
            (seen, *sinks),
            pace=options.speed if args.realtime else None,
            max_frames=args.max_frames,
            duration_s=args.seconds,
        )
    if not args.json:
        show(seen.events, f"{args.source}: {modality.name}, {result.frames} frame(s)")
        if args.output:
            render.line(f"events written to {args.output}")
    return stopped({"interrupted": result.interrupted})


def show(events: list, title: str) -> None:
    names = sorted({k for e in events for k in e.values})
    rows = [
        [
            f"{e.start_s:.2f}-{e.end_s:.2f} s",
            *(f"{e.values.get(k, float('nan')):.3f}" for k in names),
        ]
        for e in events
    ]
    render.table(title, ["span", *names], rows)
    render.line(f"{len(events)} events")
