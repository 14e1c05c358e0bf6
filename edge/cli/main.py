"""Entry point of the `affect-edge` command."""

from __future__ import annotations

import argparse
import logging
import sys

from edge import __version__
from edge.cli import bench, demo, distill, export, features, models, profiles, run
from edge.errors import AffectEdgeError

COMMANDS = {
    "demo": (demo, "run the front ends on the bundled sample inputs (what `make demo` runs)"),
    "run": (run, "affect over time from a file, streamed as a device would (run speech FILE)"),
    "features": (features, "stream a WAV through the speech front end, summarise the log-mel"),
    "models": (models, "list, inspect and verify model bundles"),
    "bench": (bench, "measure a bundle's latency, memory and size against a device profile"),
    "profiles": (profiles, "list and show device profiles (budgets, sensors, compute)"),
    "distill": (distill, "train a student from a teacher over unlabelled audio (offline; torch)"),
    "export": (export, "turn a student checkpoint into a verified int8 bundle (offline; torch)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affect-edge",
        description="On-device affect sensing: compiled DSP front ends and tiny int8 models for "
        "speech, face and EEG. Raw audio, video and EEG never leave the device.",
    )
    parser.add_argument("--version", action="version", version=f"affect-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except AffectEdgeError as exc:
        print(f"affect-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
