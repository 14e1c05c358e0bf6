"""`affect-edge bridge --serial PORT | --udp HOST:PORT | --stdio`: serve a device over the wire
protocol (docs/protocol.md): its AUDIO and EEG frames in, AFFECT frames back. Contributed to the
`affect-edge` command as an entry point, so the device commands never import the bridge."""

from __future__ import annotations

import argparse
import json
import sys

from edge.console.argtypes import positive_number, whole_number
from firmware_bridge.options import WireOptions

HELP = "serve a wearable over the wire protocol: sensor frames in, AFFECT frames back"


def add_arguments(p: argparse.ArgumentParser) -> None:
    link = p.add_mutually_exclusive_group(required=True)
    link.add_argument("--serial", metavar="PORT", help="a serial port (/dev/ttyUSB0, /dev/ttyACM0)")
    link.add_argument(
        "--udp", metavar="HOST:PORT", help="listen for datagrams (e.g. 127.0.0.1:9750)"
    )
    link.add_argument(
        "--stdio",
        action="store_true",
        help="frames on stdin, replies on stdout (read no faster than they are scored: a "
        "recording piped in loses no frames)",
    )
    p.add_argument(
        "--baud",
        type=whole_number(50, 20_000_000, "serial ports run at 50 to 20,000,000 baud"),
        default=WireOptions.default("baud"),
        help=f"serial speed (default {WireOptions.default('baud')})",
    )
    p.add_argument("--speech-bundle", help="speech bundle (default: the shipped one)")
    p.add_argument("--eeg-bundle", help="EEG bundle (default: the shipped one)")
    p.add_argument(
        "--seconds",
        type=positive_number("seconds"),
        help="stop after this long (default: until Ctrl-C)",
    )
    p.add_argument(
        "--queue",
        type=whole_number(1, 1_000_000),
        default=WireOptions.default("queue"),
        help=f"sensor frames waiting at most (default {WireOptions.default('queue')}; at least 1)",
    )


def run(args: argparse.Namespace) -> int:
    from firmware_bridge.bridge import Bridge
    from firmware_bridge.modality import load_bundles
    from firmware_bridge.transport import open_uri

    options = WireOptions(
        speech_bundle=args.speech_bundle,
        eeg_bundle=args.eeg_bundle,
        queue=args.queue,
        baud=args.baud,
    )
    bundles = load_bundles(None, options)
    if args.serial:
        uri = f"wire:serial:{args.serial}"
    elif args.udp:
        uri = f"wire:udp:{args.udp}"
    else:
        uri = "wire:stdio"
    link, pipe = open_uri(uri, options.baud)
    bridge = Bridge(link, bundles["speech"], bundles["eeg"], queue=options.queue, lossless=pipe)
    try:
        bridge.serve(args.seconds)  # SIGINT and SIGTERM end it (edge.stream.run)
    except KeyboardInterrupt:  # a second Ctrl-C while a block is scored
        pass
    finally:
        bridge.stop()
        link.close()
    print(json.dumps(bridge.stats()), file=sys.stderr)
    return 0
