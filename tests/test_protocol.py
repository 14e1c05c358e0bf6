"""The wire protocol: COBS and CRC-32C, frames, the streaming decoder under garbage and any
chunking, every message type, and the C99 codec on the shared vectors under ASan and UBSan."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from firmware_bridge._codec import cobs_decode, cobs_encode, crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import ProtocolError
from firmware_bridge import vectors
from firmware_bridge.protocol import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    Affect,
    Audio,
    Decoder,
    Eeg,
    Packet,
    Type,
    decode_message,
    encode_frame,
    encode_message,
    parse_frame,
)
from tests.cbuild import SANITIZE, build_c, needs_gcc

pytestmark = pytest.mark.device

ROOT = Path(__file__).resolve().parents[1]
C_DIR = ROOT / "firmware_bridge" / "c"


def test_crc32c_check_value_and_continuation():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283
    assert crc32c(b"") == 0


@given(st.binary(max_size=3000))
def test_cobs_round_trips_without_zeros_and_with_bounded_overhead(data):
    enc = cobs_encode(data)
    assert b"\x00" not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


def test_cobs_refuses_malformed_blocks():
    assert cobs_decode(b"\x05\x11\x22") is None  # the block says 4 bytes follow, 2 do
    assert cobs_decode(b"\x03\x11\x00") is None  # a zero inside
    assert cobs_decode(b"\x00") is None


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=600), min_size=1, max_size=8),
    cuts=st.lists(st.integers(1, 97), min_size=1, max_size=20),
    garbage=st.binary(max_size=40),
)
def test_the_decoder_finds_every_frame_in_any_chunking_after_garbage(payloads, cuts, garbage):
    wire = garbage + b"\x00"
    for i, p in enumerate(payloads):
        wire += encode_frame(Type.AUDIO, (65534 + i) & 0xFFFF, 1000 * i, p)
    dec = Decoder()
    got, pos, k = [], 0, 0
    while pos < len(wire):
        step = cuts[k % len(cuts)]
        got += dec.feed(wire[pos : pos + step])
        pos += step
        k += 1
    assert [f.payload for f in got] == payloads
    assert dec.gaps == 0 and dec.frames == len(payloads)  # 65535 -> 0 is no gap


def test_bad_frames_are_counted_and_skipped():
    good = [encode_frame(Type.HEARTBEAT, s, 0) for s in range(6)]
    flipped = bytearray(good[1])
    flipped[1] ^= 0x40  # the version byte: the CRC no longer matches
    wire = (
        good[0]
        + bytes(flipped)
        + b"\x13\x37\x00"  # garbage
        + b"\x02\x01\x00"  # a block too short to be a frame
        + b"\x55" * (MAX_ENCODED + 50)  # a frame that never ends
        + b"\x00"
        + good[3]
        + good[5]  # seq 4 lost
    )
    v2 = parse_frame(cobs_encode(bytes([2]) + bytes(13) + b"\x00\x00\x00\x00"))
    assert v2 in ("bad_crc", "bad_version")
    dec = Decoder()
    frames = dec.feed(wire)
    assert [f.seq for f in frames] == [0, 3, 5]
    stats = dec.stats()
    assert stats["bad_crc"] == 1 and stats["short"] == 1 and stats["oversize"] == 1
    assert stats["garbage"] == 2 and stats["gaps"] == 2 and stats["lost"] == 3
    import struct

    raw = bytes([2, 7, 0, 0, 9, 0]) + bytes(8)
    framed = cobs_encode(raw + struct.pack("<I", crc32c(raw))) + b"\x00"
    dec.feed(framed)
    assert dec.bad_version == 1
    with pytest.raises(ProtocolError, match="4096"):
        encode_frame(Type.AUDIO, 0, 0, bytes(MAX_PAYLOAD + 1))


def test_every_message_round_trips_and_bad_payloads_are_refused():
    for i, (t, seq, ts, flags, payload, frame) in enumerate(vectors.vectors()):
        (got,) = Decoder().feed(frame)
        assert got == Packet(t, seq, ts, payload, flags)
        if i < 13:  # the message vectors (the rest are raw payloads of extreme sizes)
            msg = decode_message(got)
            assert encode_message(msg, seq, ts, flags) == frame
    eeg = Eeg(256, np.array([[-8_388_608, 8_388_607, -1, 0]]), 22.35, fmt=2)
    back = decode_message(Decoder().feed(encode_message(eeg, 1))[0])
    assert back.samples.tolist() == [[-8_388_608, 8_388_607, -1, 0]]
    assert back.microvolts()[0, 0] == pytest.approx(-8_388_608 * 0.02235, rel=1e-6)
    affect = Affect("speech", (0.0, 0.5, 1.0), 1, 900, 2_000_000)
    back = Affect.unpack(affect.pack())
    assert back.modality == "speech" and np.allclose(back.values, affect.values, atol=1e-5)
    with pytest.raises(ProtocolError, match="truncated"):
        Affect.unpack(affect.pack()[:5])
    with pytest.raises(ProtocolError, match="whole 2-channel samples"):
        Audio.unpack(Audio(16000, np.zeros((4, 2), np.int16)).pack()[:-1])
    with pytest.raises(ProtocolError, match="unknown message type 42"):
        decode_message(Packet(42, 0, 0, b""))


def test_the_checked_in_vectors_are_what_the_python_codec_makes(tmp_path):
    assert vectors.write(tmp_path / "v.txt").read_text() == (C_DIR / "vectors.txt").read_text()


def test_the_c_library_uses_only_stdint_stddef_and_string():
    for name in ("affect_proto.c", "affect_proto.h"):
        includes = re.findall(r"#include\s+[<\"]([^>\"]+)", (C_DIR / name).read_text())
        assert set(includes) <= {"stdint.h", "stddef.h", "string.h", "affect_proto.h"}, includes
    assert "malloc" not in (C_DIR / "affect_proto.c").read_text()


@needs_gcc
def test_the_c_codec_reproduces_the_vectors_under_sanitizers(tmp_path):
    exe = build_c(
        tmp_path / "test_proto",
        [C_DIR / "affect_proto.c", ROOT / "tests" / "c" / "test_proto.c"],
        C_DIR,
        *SANITIZE,
    )
    run = subprocess.run([str(exe), str(C_DIR / "vectors.txt")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"ok {len(vectors.vectors())} vectors")
