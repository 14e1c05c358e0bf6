"""`python -m bench [--quick] [NAME ...]`: run benchmarks and write bench/results/NAME.{json,md}."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = (
    "dsp",
    "engines",
    "quant",
    "speech",
    "callback",
    "noise",
    "face",
    "eeg",
    "eeg_formats",
    "daemon",
    "protocol",
    "cfront",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default all)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    for name in args.names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").main(quick=args.quick)


if __name__ == "__main__":
    main()
