"""`affect-edge export-c BUNDLE -o DIR`: the bundle's int8 model and its front end as C99 sources
for TensorFlow Lite Micro firmware (see firmware_bridge/export_c.py). Contributed to the
`affect-edge` command as an entry point, so the device commands never import the bridge."""

from __future__ import annotations

import argparse
import json

HELP = "write a bundle's int8 model and its C99 front end for microcontroller firmware"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Write BUNDLE's int8 .tflite as an aligned C array, the front end's configuration and "
        "tables as a header, and the C99 front end (speech log-mel or EEG filters and windows) "
        "that computes what the Python front end computes; then report code size (host, and "
        "Cortex-M55 where arm-none-eabi-gcc is installed), RAM and the model's arena estimate "
        "against a device profile."
    )
    p.add_argument("bundle", help="bundle directory, .zip, or a shipped name (speech-adv, ...)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write into")
    p.add_argument(
        "--profile",
        default="hearing-aid-coprocessor",
        help="device profile to check against (default hearing-aid-coprocessor)",
    )
    p.add_argument(
        "--mains",
        choices=("50", "60", "none"),
        default="50",
        help="EEG: the mains notch compiled into the filter cascade (default 50 Hz)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier export at -o (only a folder export-c wrote)",
    )
    p.add_argument("--json", action="store_true", help="print export.json instead of a summary")


def run(args: argparse.Namespace) -> int:
    from edge.runtime.registry import find_bundle
    from firmware_bridge.export_c import export_c

    mains = None if args.mains == "none" else int(args.mains)
    done = export_c(find_bundle(args.bundle), args.output, args.profile, mains, force=args.force)
    if args.json:
        print(json.dumps(done.report, indent=2))
        return 0
    r = done.report
    print(f"wrote {len(done.files)} files for {done.bundle} to {done.out_dir}/")
    print(f"  {', '.join(done.files)}")
    for kind in ("host", "arm"):
        c = r[f"code_{kind}"]
        if c is None:
            if kind == "arm":
                print("  Cortex-M build: arm-none-eabi-gcc is not installed, not measured")
            continue
        print(
            f"  {kind} build ({c['compiler']} {c['flags']}): code {c['code_bytes']:,} B, "
            f"tables {c['tables_bytes']:,} B, front-end state {c['state_bytes']:,} B"
        )
    a = r["arena"]
    print(
        f"  model {r['model_bytes']:,} B; arena estimate {a['arena_bytes']:,} B "
        f"({a['activations_bytes']:,} B planned activations + {a['interpreter_allowance_bytes']:,}"
        f" B allowance for {a['tensors']} tensors, {a['operators']} operators)"
    )
    print(f"against profile {r['profile']}:")
    for check in done.checks:
        print(f"  {'ok  ' if check.ok else 'OVER'} {check}")
    return 0 if all(c.ok for c in done.checks) else 3
