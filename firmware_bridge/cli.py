"""`affect-edge bridge --serial PORT | --udp HOST:PORT | --stdio`: serve a device over the wire
protocol (docs/protocol.md): its AUDIO and EEG frames in, AFFECT frames back. Contributed to the
`affect-edge` command as an entry point, so the device commands never import the bridge."""

from __future__ import annotations

import argparse
import json
import sys

from edge.console.argtypes import positive_number, whole_number

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
        default=921_600,
        help="serial speed (default 921600)",
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
        default=64,
        help="sensor frames waiting at most (default 64; at least 1)",
    )


def run(args: argparse.Namespace) -> int:
    from edge.runtime import load_bundle
    from edge.runtime.registry import DEFAULTS, find_bundle
    from firmware_bridge.bridge import Bridge
    from firmware_bridge.transport import SerialTransport, StdioTransport, UdpTransport

    speech = load_bundle(find_bundle(args.speech_bundle or DEFAULTS["speech"]))
    eeg = load_bundle(find_bundle(args.eeg_bundle or DEFAULTS["eeg"]))
    if args.serial:
        transport = SerialTransport(args.serial, args.baud)
    elif args.udp:
        transport = UdpTransport(args.udp)
    else:
        transport = StdioTransport()
    bridge = Bridge(transport, speech, eeg, queue=args.queue, lossless=args.stdio)
    try:
        bridge.serve(args.seconds)  # SIGINT and SIGTERM end it (edge.stream.run)
    except KeyboardInterrupt:  # a second Ctrl-C while a block is scored
        pass
    finally:
        bridge.stop()
        transport.close()
    print(json.dumps(bridge.stats()), file=sys.stderr)
    return 0
