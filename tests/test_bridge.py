"""The bridge end to end: a real speech clip played as AUDIO frames through a pseudo-terminal pair
(pyserial on the far side) comes back as the AFFECT frames the speech pipeline gives for the same
samples; garbage on the line, control messages, EEG with CAPS, and an overloaded host."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from firmware_bridge.bridge import Bridge
from firmware_bridge.protocol import (
    FLAG_ACK,
    Ack,
    Affect,
    Audio,
    Caps,
    Decoder,
    Eeg,
    Error,
    Heartbeat,
    Hello,
    Sensor,
    decode_message,
    encode_message,
)
from tests.streams import audio_frames, run_stream

pytest.importorskip("serial")
from firmware_bridge.transport import SerialTransport

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"


def clip_blocks(block: int = 220) -> tuple[int, list[np.ndarray]]:
    x, rate = sf.read(CLIP, dtype="int16")
    return rate, [x[i : i + block] for i in range(0, len(x), block)]


def test_a_speech_clip_through_a_pty_comes_back_as_the_pipelines_values():
    rate, blocks = clip_blocks()
    # What the speech pipeline says for these int16 samples, unthreaded.
    with SpeechPipeline(load_bundle(default_bundle("speech")), input_rate_hz=rate) as pipe:
        expected = run_stream(pipe, audio_frames(np.concatenate(blocks), rate, len(blocks[0])))

    master, slave = os.openpty()
    bridge = Bridge(
        SerialTransport(os.ttyname(slave)),
        load_bundle(default_bundle("speech")),
        load_bundle(default_bundle("eeg")),
        queue=4096,
    )
    server = threading.Thread(target=bridge.serve, daemon=True)
    server.start()
    got: list = []
    dec = Decoder()

    def read_until(cond, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not cond():
            import select

            if select.select([master], [], [], 0.1)[0]:
                got.extend(decode_message(f) for f in dec.feed(os.read(master, 65536)))

    try:
        os.write(master, encode_message(Hello("earbud-7"), 0))
        read_until(lambda: any(isinstance(m, Hello) for m in got))
        assert bridge.peer == "earbud-7"
        os.write(master, b"\x13\x37\x99\x00")  # line noise
        seq = 1

        def send_all():
            nonlocal seq
            for i, b in enumerate(blocks):
                ts = round(i * len(blocks[0]) / rate * 1e6)
                os.write(master, encode_message(Audio(rate, b[:, None]), seq, ts))
                seq += 1
            os.write(master, encode_message(Audio(rate, np.zeros((0, 1), np.int16)), seq, 0))

        writer = threading.Thread(target=send_all)
        writer.start()
        read_until(lambda: sum(isinstance(m, Affect) for m in got) >= len(expected))
        writer.join()
    finally:
        bridge.stop()
        os.close(master)
        os.close(slave)
    affect = [m for m in got if isinstance(m, Affect)]
    assert len(affect) == len(expected) >= 10
    for a, e in zip(affect, expected, strict=True):
        assert a.modality == "speech"
        assert np.allclose(
            a.values, [e.values[k] for k in ("arousal", "dominance", "valence")], atol=1e-4
        )
        assert a.window_end_us == pytest.approx(e.end_s * 1e6, abs=1000)
        assert bool(a.quality & 1) == (not e.updated)
    stats = bridge.stats()
    assert stats["garbage"] >= 3 and stats["bad_crc"] == 0 and stats["dropped_blocks"] == 0
    assert stats["gaps"] == 0


class Loopback:
    """An in-memory link: what the bridge writes is kept for the test to decode."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.inbox: list[bytes] = []
        self.closed = False

    def read(self) -> bytes:
        if self.inbox:
            return self.inbox.pop(0)
        time.sleep(0.01)
        return b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        pass

    def messages(self) -> list:
        return [decode_message(f) for f in Decoder().feed(bytes(self.sent))]


def test_control_messages_eeg_with_caps_and_an_overloaded_host():
    speech, eeg_bundle = load_bundle(default_bundle("speech")), load_bundle(default_bundle("eeg"))
    link = Loopback()
    bridge = Bridge(link, speech, eeg_bundle, queue=32)
    names = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")
    rng = np.random.default_rng(0)
    link.inbox.append(encode_message(Heartbeat(), 0, flags=FLAG_ACK))
    link.inbox.append(encode_message(Caps((Sensor("eeg", 128, names),)), 1))
    # 20 s of EEG in 1 s blocks, int16 at 0.5 µV per LSB, DC offsets included.
    x = (4200 + 15 * rng.standard_normal((20 * 128, 14))) / 0.5
    for i in range(20):
        block = x[i * 128 : (i + 1) * 128].astype(np.int32)
        link.inbox.append(encode_message(Eeg(128, block, 500.0, fmt=1), 2 + i, i * 1_000_000))
    link.inbox.append(encode_message(Eeg(128, np.zeros((0, 14), np.int32), 500.0), 22))
    # Served until stopped, not for a set time: a loaded host may take seconds to get here.
    threading.Thread(target=bridge.serve, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline and sum(isinstance(m, Affect) for m in link.messages()) < 7
        ):
            time.sleep(0.1)
        msgs = link.messages()
        assert isinstance(msgs[0], Ack) and msgs[0].seq == 0 and isinstance(msgs[1], Heartbeat)
        eeg = [m for m in msgs if isinstance(m, Affect)]
        # 2 s settling + 10 s calibration: windows from 13 s to 20 s.
        assert 7 <= len(eeg) <= 8 and all(m.modality == "eeg" and len(m.values) == 5 for m in eeg)
        assert abs(sum(eeg[0].values) - 1) < 1e-3
    finally:
        bridge.stop()

    # A flood of speech blocks faster than the worker, here a bridge whose worker is not
    # running (so what is dropped does not hang on thread timing): the oldest are dropped and
    # counted, and the device hears about it.
    link = Loopback()
    bridge = Bridge(link, speech, eeg_bundle, queue=32)
    try:
        rate, blocks = clip_blocks(1024)
        wire = b"".join(
            encode_message(Audio(rate, b[:, None]), 100 + i) for i, b in enumerate(blocks * 20)
        )
        for frame in Decoder().feed(wire):
            bridge.source.handle(frame)
        bridge.source.report_overload()
        assert bridge.dropped_blocks == len(blocks) * 20 - 32
        errors = [m for m in link.messages() if isinstance(m, Error)]
        assert len(errors) == 1 and errors[0].code == 3 and "dropped" in errors[0].message
        # EEG with a channel count no CAPS named: an ERROR back at once, the bridge goes on.
        bridge.source.handle(
            Decoder().feed(encode_message(Eeg(128, np.zeros((4, 3), np.int32), 1.0), 900))[0]
        )
        assert any(isinstance(m, Error) and "before a CAPS" in m.message for m in link.messages())
    finally:
        bridge.stop()


def test_the_serial_port_going_away_and_coming_back(tmp_path):
    # The port is a name (as /dev/ttyACM0 is), here a link to a pty; unplugging a USB device
    # hangs its line up and removes its name, replugging brings a new node under the same name.
    port = tmp_path / "ttyAE0"
    master, slave = os.openpty()
    port.symlink_to(os.ttyname(slave))
    transport = SerialTransport(str(port))
    bridge = Bridge(
        transport, load_bundle(default_bundle("speech")), load_bundle(default_bundle("eeg"))
    )
    server = threading.Thread(target=bridge.serve, daemon=True)
    server.start()

    def acked(fd: int, seq: int, timeout: float = 15.0) -> bool:
        import select

        dec = Decoder()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.write(fd, encode_message(Heartbeat(), seq, flags=FLAG_ACK))
            if select.select([fd], [], [], 0.2)[0]:
                msgs = [decode_message(f) for f in dec.feed(os.read(fd, 4096))]
                if any(isinstance(m, Ack) and m.seq == seq for m in msgs):
                    return True
        return False

    try:
        assert acked(master, 1)
        port.unlink()
        os.close(master)
        os.close(slave)
        deadline = time.monotonic() + 10
        while transport.losses == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert transport.losses == 1 and transport.reopens == 0
        time.sleep(1.0)  # unplugged a while: reopening fails, with growing back-off
        master, slave = os.openpty()
        port.symlink_to(os.ttyname(slave))
        assert acked(master, 2)
        assert bridge.stats()["reopens"] == 1 and bridge.stats()["link_lost"] == 1
    finally:
        bridge.stop()
        server.join(5)  # the serving thread reads the port: close it only once that has ended
        transport.close()
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)
