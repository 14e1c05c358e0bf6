"""Wire-protocol codec throughput: the Python decoder (COBS and CRC compiled with Cython) and the
C99 decoder (gcc -O2, fed a byte at a time as firmware would), on the same stream of AUDIO frames
(320-byte payloads, 10 ms of 16 kHz PCM, about 340 bytes on the wire; and 4 KB payloads). Target (issue 14): the Cython
path decodes at least 50 MB/s here."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import report
from bench.timing import machine

ROOT = Path(__file__).resolve().parents[1]


def stream(payload_bytes: int, frames: int) -> bytes:
    from firmware_bridge.protocol import Type, encode_frame

    rng = np.random.default_rng(0)
    body = rng.integers(-3000, 3000, payload_bytes // 2).astype("<i2").tobytes()
    return b"".join(encode_frame(Type.AUDIO, i & 0xFFFF, 10_000 * i, body) for i in range(frames))


def python_mb_s(data: bytes, repeat: int) -> float:
    from firmware_bridge.protocol import Decoder

    times = []
    for _ in range(repeat):
        dec = Decoder()
        t0 = time.perf_counter()
        dec.feed(data)
        times.append(time.perf_counter() - t0)
    return len(data) / float(np.median(times)) / 1e6


def c_mb_s(data: bytes, reps: int) -> float | None:
    if shutil.which("gcc") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        exe, path = Path(tmp) / "proto_bench", Path(tmp) / "stream.bin"
        path.write_bytes(data)
        subprocess.run(
            [
                "gcc",
                "-std=c99",
                "-O2",
                f"-I{ROOT / 'firmware_bridge' / 'c'}",
                str(ROOT / "firmware_bridge" / "c" / "affect_proto.c"),
                str(ROOT / "bench" / "c" / "proto_bench.c"),
                "-o",
                str(exe),
            ],
            check=True,
        )
        runs = [
            float(
                subprocess.run(
                    [str(exe), str(path), str(reps)], capture_output=True, text=True, check=True
                ).stdout.split()[2]
            )
            for _ in range(5)
        ]
    return float(np.median(runs))


def main(quick: bool = False) -> None:
    rows, data = [], {}
    for label, payload, frames in (
        ("AUDIO 10 ms (320 B payload)", 320, 20000),
        ("AUDIO 4 KB payload", 4096, 2000),
    ):
        wire = stream(payload, frames // (4 if quick else 1))
        py = python_mb_s(wire, 3 if quick else 9)
        c = c_mb_s(wire, 2 if quick else 5)
        data[label] = {"bytes": len(wire), "python_cython_mb_s": py, "c_mb_s": c}
        rows.append([label, f"{py:.1f} MB/s", f"{c:.1f} MB/s" if c else "-", ">= 50 MB/s (Cython)"])
    report.write_table(
        "protocol",
        "Wire-protocol decoder throughput (one core)",
        "python -m bench protocol",
        machine(),
        "Medians over repeats; the same bytes for both decoders.",
        [
            "stream",
            "Python decoder (Cython COBS + CRC)",
            "C decoder, byte at a time (gcc -O2)",
            "target",
        ],
        rows,
        data,
        [
            "The Python decoder splits the stream at zero bytes and decodes whole blocks; the C one is "
            "fed one byte at a time, as a UART interrupt would feed it.",
        ],
    )


if __name__ == "__main__":
    main()
