"""Shared test vectors: frames the Python codec makes, which the C codec must reproduce byte for
byte and decode back. `python -m firmware_bridge.vectors` rewrites firmware_bridge/c/vectors.txt
(checked in); a test checks the file still matches this code.

One vector per line: type, seq, timestamp_us, flags, payload (hex, "-" when empty), frame (hex,
delimiter included).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firmware_bridge.protocol import (
    MAX_PAYLOAD,
    Ack,
    Affect,
    Audio,
    Caps,
    Config,
    Eeg,
    Error,
    Heartbeat,
    Hello,
    Sensor,
    Type,
    encode_frame,
)

PATH = Path(__file__).with_name("c") / "vectors.txt"


def vectors() -> list[tuple[int, int, int, int, bytes, bytes]]:
    rng = np.random.default_rng(14)
    messages = [
        Hello("hearing-aid-0042"),
        Caps(
            (Sensor("audio", 16000, ("mono",)), Sensor("eeg", 256, ("TP9", "AF7", "AF8", "TP10")))
        ),
        Audio(16000, rng.integers(-32768, 32767, (160, 1)).astype(np.int16)),
        Audio(48000, np.zeros((64, 2), np.int16)),
        Eeg(256, rng.integers(-8_000_000, 8_000_000, (12, 4)), 22.35, fmt=2),
        Eeg(128, rng.integers(-32768, 32767, (32, 14)), 510.0, fmt=1),
        Affect("speech", (0.61, 0.48, 0.52), 0, 812, 1_000_000),
        Affect("face", (0.01, 0.0, 0.02, 0.9, 0.03, 0.01, 0.03), 4, 2_400, 33_333),
        Affect("eeg", (0.1, 0.2, 0.4, 0.2, 0.1), 8, 250, 13_000_000),
        Config((("update_s", "0.5"), ("mains_hz", "50"))),
        Heartbeat(),
        Error(3, "overloaded: 12 frames dropped"),
        Ack(65535),
    ]
    out = []
    for i, m in enumerate(messages):
        seq = (65530 + i) & 0xFFFF  # wraps from 65535 to 0 half-way through
        ts = 1_700_000_000_000_000 + 10_000 * i
        flags = 1 if m.type == Type.CONFIG else 0
        payload = m.pack()
        out.append(
            (int(m.type), seq, ts, flags, payload, encode_frame(m.type, seq, ts, payload, flags))
        )
    for payload in (
        bytes(MAX_PAYLOAD),
        b"\xff" * MAX_PAYLOAD,
        bytes(range(256)) * 3,
        b"\x00" * 253,
    ):
        seq = 7 + len(out) - 13  # 7, 8, ...: the sequence goes on without a gap
        out.append((3, seq, 2**64 - 1, 0, payload, encode_frame(3, seq, 2**64 - 1, payload)))
    return out


def write(path: Path = PATH) -> Path:
    lines = [
        f"{t} {s} {ts} {f} {p.hex() if p else '-'} {frame.hex()}"
        for t, s, ts, f, p, frame in vectors()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(write())
