"""`affect-edge run speech FILE`: A/D/V over time from an audio file, streamed as a device would.

The file is read block by block (`devices.audio.AudioFileSource`, memory bounded for any length)
into the speech pipeline; events go to stdout as JSON lines (`--json`), to a JSON-lines file
(`-o`), or into a table. The plot is drawn after the results are out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge import modalities, stream
from edge.cli import render, run_eeg, run_face, run_modality
from edge.cli.args import (
    add_event_outputs,
    audio_block_ms,
    event_sinks,
    options_from,
    plot_file,
    positive_number,
    stopped,
)
from edge.errors import SourceError
from edge.modalities.speech import SPEECH, SpeechOptions
from edge.pipelines.speech import MAX_INPUT_RATE_HZ, MIN_INPUT_RATE_HZ
from edge.runtime.registry import DEFAULTS
from edge.stream import EventList

HELP = (
    "affect from a recording or a live source, streamed as a device would (run speech|face|eeg ...)"
)
DESCRIPTION = f"""{HELP}

Speech: arousal, dominance and valence in [0, 1] every update period over a sliding window,
from any audio file libsndfile reads (WAV of any sample format, FLAC, Ogg, MP3, ...), mono or
mixed down to mono, at {MIN_INPUT_RATE_HZ:,} to {MAX_INPUT_RATE_HZ:,} Hz. Below twice the model's
highest mel band the top bands stay empty: such events are flagged band_limited."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="modality", metavar="MODALITY", required=True)
    s = sub.add_parser(
        "speech",
        help="arousal, dominance and valence over time from an audio file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "audio",
        type=Path,
        help="audio file (WAV, FLAC, Ogg, MP3, ...; any channels), or mic / mic:DEVICE for a "
        "live microphone (events as they come, until Ctrl-C or --seconds)",
    )
    s.add_argument(
        "--seconds",
        type=positive_number("seconds"),
        help="with mic: stop after this long (default: until Ctrl-C)",
    )
    s.add_argument(
        "--bundle",
        help=f"speech bundle: a name (searched in the shipped models, $AFFECT_EDGE_MODELS) or a "
        f"path (default: {DEFAULTS['speech']})",
    )
    s.add_argument(
        "--engine", choices=["onnx", "tflite"], help="runtime (default: onnx if the bundle has it)"
    )
    s.add_argument("--precision", choices=["fp32", "int8"], help="model precision (default int8)")
    s.add_argument(
        "--block-ms",
        type=audio_block_ms,
        help=f"audio block fed per call, as a device would (default "
        f"{SpeechOptions.default('block_ms'):g})",
    )
    s.add_argument(
        "--update-s",
        type=positive_number("seconds"),
        help="seconds between estimates (default: the bundle's, 0.5)",
    )
    s.add_argument(
        "--realtime", action="store_true", help="pace the file to the wall clock, as a microphone"
    )
    add_event_outputs(s)
    s.add_argument("--plot", type=plot_file, help="draw A/D/V over time into this picture")
    run_face.add_parser(sub)
    run_eeg.add_parser(sub)
    for name in modalities.names():
        if name not in COMMANDS:
            run_modality.add_parser(sub, modalities.get(name))


def speech_events(
    audio: Path,
    bundle,
    options: SpeechOptions | None = None,
    realtime: bool = False,
    sinks: tuple = (),
) -> tuple[list, dict]:
    """Stream a file through the speech pipeline; every event also goes to each sink.

    Returns the events and what was learnt on the way (duration, engine, minimum length, NaNs,
    whether it was interrupted: the events seen until then are kept).
    """
    seen = EventList()
    with modalities.opened("speech", f"file:{audio}", options, bundle) as (src, pipeline):
        if src.n_samples == 0:
            raise SourceError(f"{audio} holds no samples ({src.format}, {src.rate_hz:g} Hz)")
        result = stream.run(src, pipeline, (seen, *sinks), pace=1.0 if realtime else None)
        info = {
            "engine": pipeline.engine.name,
            "min_duration_s": pipeline.min_duration_s,
            "nonfinite_replaced": pipeline.nonfinite_replaced,
            "duration_s": src.samples_read / src.rate_hz,
            "rate_hz": src.rate_hz,
            "interrupted": result.interrupted,
        }
    events = seen.events
    if not events and not result.interrupted:
        raise SourceError(
            f"{audio} lasts {info['duration_s']:.3f} s; the speech model needs at least "
            f"{info['min_duration_s']:.3f} s of audio for one estimate"
        )
    return events, info


def is_microphone(audio: Path) -> bool:
    """`mic` or `mic:DEVICE` (a file of that name, where one exists, is read as a file)."""
    text = str(audio)
    return (text == "mic" or text.startswith("mic:")) and not audio.exists()


def microphone_events(
    args: argparse.Namespace, bundle, options: SpeechOptions, sinks: tuple
) -> tuple[list, dict]:
    """A live microphone through the speech pipeline: each event shown as it comes (or as JSON
    lines), until Ctrl-C or --seconds."""
    seen = EventList()
    with modalities.opened("speech", str(args.audio), options, bundle) as (source, pipeline):
        rate = int(source.rate_hz)
        if not args.json:
            until = f"for {args.seconds:g} s" if args.seconds else "Ctrl-C to stop"
            render.line(
                f"listening on {getattr(source, 'device_name', source.id)} at {rate} Hz ({until})"
            )
        shown = () if args.json else (_LiveRows(),)
        result = stream.run(source, pipeline, (seen, *sinks, *shown), duration_s=args.seconds)
        info = {
            "engine": pipeline.engine.name,
            "nonfinite_replaced": pipeline.nonfinite_replaced,
            "duration_s": source.samples_read / rate,
            "interrupted": result.interrupted,
        }
    return seen.events, info


class _LiveRows:
    """A sink that shows each event as one line as it comes."""

    def write(self, e) -> None:
        render.line(live_row(e))

    def close(self) -> None:
        pass


def live_row(e) -> str:
    values = (
        " ".join(f"{k[0].upper()} {e.values[k]:.2f}" for k in ("arousal", "dominance", "valence"))
        if e.values
        else "-"
    )
    notes = "; ".join(notes_of(e)) or ("" if e.updated else "held")
    return (
        f"{e.start_s:7.2f}-{e.end_s:7.2f} s  {values}  speech "
        f"{100 * e.quality['speech_ratio']:.0f}%  {notes}".rstrip()
    )


#: Modalities with a command of their own (its flags, notes and tables); any other registered
#: modality runs through `run_modality`.
COMMANDS = {"speech": None, "face": run_face, "eeg": run_eeg}


def run(args: argparse.Namespace) -> int:
    if args.modality not in COMMANDS:
        return run_modality.run(args)
    if COMMANDS[args.modality] is not None:
        return COMMANDS[args.modality].run(args)
    options = options_from(args, SpeechOptions)
    bundle = SPEECH.bundles(options)
    if is_microphone(args.audio):
        with event_sinks(args) as sinks:
            events, info = microphone_events(args, bundle, options, sinks)
        if not args.json:
            render.line(f"{len(events)} events from {args.audio}")
        if args.plot and events:
            from edge.cli.plot import save_timeline

            save_timeline(
                events, args.plot, f"{args.audio}: {bundle.manifest.name}", events[-1].end_s
            )
            render.note(f"plot written to {args.plot}", args.json)
        return stopped(info)
    with event_sinks(args) as sinks:
        events, info = speech_events(args.audio, bundle, options, args.realtime, sinks)
    title = f"{args.audio.name}: {bundle.manifest.name} on {info['engine']}"
    if not args.json:
        show(events, title, info["nonfinite_replaced"])
        if args.output:
            render.line(f"events written to {args.output}")
    if args.plot:
        from edge.cli.plot import save_timeline

        save_timeline(events, args.plot, title, info["duration_s"])
        render.note(f"plot written to {args.plot}", args.json)
    return stopped(info)


def notes_of(e) -> list[str]:
    """Why a window was held, and what else its quality says."""
    q = e.quality
    notes = []
    if q.get("clipped"):
        notes.append("held: clipped")
    elif q.get("not_speech"):
        notes.append("held: not speech")
    elif q.get("noisy"):
        notes.append("held: too noisy")
    elif not e.updated:
        notes.append("held: too little speech")
    if q.get("out_of_range"):
        notes.append("samples beyond full scale")
    if q.get("band_limited"):
        notes.append("band-limited input")
    if q.get("gap"):
        notes.append("gap in the input")
    return notes


def show(events: list, title: str, replaced: int) -> None:
    rows = []
    for e in events:
        q = e.quality
        notes = notes_of(e)
        rows.append(
            [
                f"{e.start_s:6.2f}-{e.end_s:6.2f} s",
                *(
                    f"{e.values[k]:.3f}" if e.values else "-"
                    for k in ("arousal", "dominance", "valence")
                ),
                f"{100 * q['speech_ratio']:.0f}%",
                # No speech frames, or not speech: there is no speech level to state.
                f"{q['snr_db']:.0f} dB"
                if "snr_db" in q and q["speech_ratio"] > 0 and not q.get("not_speech")
                else "-",
                "; ".join(notes),
            ]
        )
    render.table(
        title, ["window", "arousal", "dominance", "valence", "speech", "SNR", "note"], rows
    )
    model_ms = [e.latency_ms["model"] for e in events if e.updated]
    if model_ms:
        render.line(
            f"model latency: median {np.median(model_ms):.3f} ms over {len(model_ms)} estimates"
        )
    if replaced:
        render.line(f"note: {replaced} NaN/Inf samples were replaced by 0")
