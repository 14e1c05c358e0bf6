"""Argument types for the command line: values are checked when parsed, before any work starts.

A bad value ends the command with argparse's usage line and one error line naming the option
(exit status 2), never with a traceback or after minutes of processing.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

# The shared argument types, re-exported for the device CLI's commands (their owner is
# edge.console.argtypes, which the offline halves' commands import too).
from edge.console.argtypes import positive_int, positive_number, whole_number  # noqa: F401


def audio_block_ms(text: str) -> float:
    from edge.modalities.speech import BLOCK_MS_RANGE

    return positive_number("milliseconds", *BLOCK_MS_RANGE, "the audio block fed per call")(text)


def writable_file(
    suffixes: tuple[str, ...], default_suffix: str | None = None
) -> Callable[[str], Path]:
    """An output file whose folder exists and whose suffix is one of `suffixes`.

    A name without a suffix gets `default_suffix` (so the path reported is the path written).
    """

    def parse(text: str) -> Path:
        path = Path(text)
        if not path.suffix and default_suffix:
            path = path.with_name(path.name + default_suffix)
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text!r}: unsupported file type {path.suffix or '(none)'}; use one of "
                f"{', '.join(suffixes)}"
            )
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a directory; name a file")
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise argparse.ArgumentTypeError(
                f"cannot write {text!r}: {parent} is a file, not a folder"
            )
        if not parent.is_dir():
            raise argparse.ArgumentTypeError(
                f"cannot write {text!r}: folder {parent} does not exist"
            )
        problem = write_problem(path)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write {text!r}: {problem}")
        return path

    return parse


def write_problem(path: Path) -> str | None:
    """Why `path` cannot be written (None when it can), found by trying, before any work.

    An existing file is opened for appending (nothing changes); a new one is created and removed
    again, so a folder without write permission, a read-only file system or a pseudo file system
    (/proc) is named now rather than after the run.
    """
    try:
        if path.exists():
            if not path.is_file() and not path.is_char_device():
                return f"{path} is not a regular file"
            with open(path, "ab"):
                pass
            return None
        with open(path, "xb"):
            pass
        path.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, PermissionError):
            return f"{reason} (no permission to write in {path.parent}); choose another folder"
        if isinstance(exc, FileNotFoundError):
            return f"{path.parent} takes no new files ({reason}); choose another folder"
        return f"{reason}; choose another path"
    return None


def plot_file(text: str) -> Path:
    """A picture file in a format matplotlib writes (PNG when no suffix is given)."""
    try:
        from matplotlib.figure import Figure

        formats = tuple(f".{k}" for k in Figure().canvas.get_supported_filetypes())
    except ImportError:
        raise argparse.ArgumentTypeError(
            "--plot needs matplotlib: pip install 'affect-edge[plot]'"
        ) from None
    return writable_file(formats, ".png")(text)


def add_event_outputs(p: argparse.ArgumentParser) -> None:
    """`--json` and `-o EVENTS.jsonl`, as every `run` command offers them."""
    p.add_argument("--json", action="store_true", help="print events as JSON lines (schema v2)")
    p.add_argument(
        "-o",
        "--output",
        type=writable_file((".jsonl", ".json", ".ndjson"), ".jsonl"),
        help="also append events as JSON lines to this file",
    )


@contextlib.contextmanager
def event_sinks(args: argparse.Namespace) -> Iterator[tuple]:
    """The sinks `--json` and `-o` ask for, closed however the run ends."""
    from edge.sinks import JsonLinesSink

    with contextlib.ExitStack() as stack:
        sinks = []
        if args.json:
            sinks.append(stack.enter_context(JsonLinesSink("-")))
        if args.output:
            sinks.append(stack.enter_context(JsonLinesSink(args.output)))
        yield tuple(sinks)


def stopped(info: dict) -> int:
    """The exit status of a run: 130 when Ctrl-C (or SIGTERM) cut it short, after what it saw
    until then was shown and written; else 0."""
    return 130 if info.get("interrupted") else 0


def flag(key: str) -> str:
    """An option's command-line flag: detect_every -> --detect-every."""
    return "--" + key.replace("_", "-")


def options_from(args: argparse.Namespace, cls: type):
    """A modality's options class from the parsed flags: flags not given take the class's one
    default; a bad value is one line naming its flag."""
    given = {k: getattr(args, k) for k in cls.option_names() if getattr(args, k, None) is not None}
    given = {k: str(v) if isinstance(v, Path) else v for k, v in given.items()}
    for key in ("channels", "csv_columns"):
        if isinstance(given.get(key), str):  # comma-separated on the command line
            given[key] = [t.strip() for t in given[key].split(",") if t.strip()] or None
            if given[key] is None:
                del given[key]
    return cls.from_mapping(given, shown_as=flag)
