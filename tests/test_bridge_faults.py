"""The bridge under hostile and confused senders: an error text too long for the wire in UTF-8 does
not stop the scoring, two UDP senders at once each get their own decoder and pipelines (and
their own answers), and a sender that restarts its sequence is a restart, not 65,000 lost
frames."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np

from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from firmware_bridge.bridge import Bridge
from firmware_bridge.protocol import (
    Affect,
    Audio,
    Caps,
    Decoder,
    Eeg,
    Error,
    Heartbeat,
    Hello,
    Sensor,
    clip_text,
    decode_message,
    encode_message,
)
from firmware_bridge.transport import UdpTransport
from tests.streams import audio_frames, run_stream
from tests.test_bridge import Loopback, clip_blocks


def bundles():
    return load_bundle(default_bundle("speech")), load_bundle(default_bundle("eeg"))


def expected_speech(blocks, rate):
    with SpeechPipeline(load_bundle(default_bundle("speech")), input_rate_hz=rate) as pipe:
        return run_stream(pipe, audio_frames(np.concatenate(blocks), rate, len(blocks[0])))


def test_clip_text_cuts_bytes_on_a_character_boundary():
    text = "é" * 200  # 400 bytes of UTF-8
    cut = clip_text(text)
    assert len(cut.encode()) <= 255 and cut == "é" * 127
    assert clip_text("plain") == "plain"
    # An ERROR frame with any text can always be sent and read back.
    frame = Decoder().feed(encode_message(Error(4, "€" * 300), 0))[0]
    assert decode_message(frame).message == "€" * 85


def test_an_error_longer_than_the_wire_in_utf8_does_not_stop_the_scoring():
    link = Loopback()
    bridge = Bridge(link, *bundles(), queue=4096)
    # Channel names that are fine one by one (200 bytes each) but make the pipeline's error
    # text far longer than 255 bytes, in two-byte characters.
    names = tuple(f"{i:02d}" + "é" * 99 for i in range(14))
    rate, blocks = clip_blocks(1024)
    expected = expected_speech(blocks, rate)
    try:
        link.inbox.append(encode_message(Caps((Sensor("eeg", 128, names),)), 0))
        link.inbox.append(encode_message(Eeg(128, np.ones((128, 14), np.int32), 1.0), 1))
        for i, b in enumerate(blocks):
            ts = round(i * len(b) / rate * 1e6)
            link.inbox.append(encode_message(Audio(rate, b[:, None]), 2 + i, ts))
        link.inbox.append(encode_message(Audio(rate, np.zeros((0, 1), np.int16)), 2 + len(blocks)))
        link.inbox.append(encode_message(Heartbeat(), 3 + len(blocks)))
        threading.Thread(target=bridge.serve, daemon=True).start()  # until stopped
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(isinstance(m, Affect) for m in link.messages()) >= len(expected):
                break
            time.sleep(0.1)
        msgs = link.messages()
    finally:
        bridge.stop()
    errors = [m for m in msgs if isinstance(m, Error)]
    assert errors and errors[0].code == 2, msgs[:5]  # channels this host cannot serve
    assert len(errors[0].message.encode()) <= 255 and "é" in errors[0].message
    assert not any(e.code == 3 for e in errors)  # no false "overloaded"
    assert any(isinstance(m, Heartbeat) for m in msgs)
    assert sum(isinstance(m, Affect) for m in msgs) == len(expected) >= 10
    assert bridge.dropped_blocks == 0 and not bridge.running  # stopped cleanly


def test_two_udp_senders_each_get_their_own_decoder_pipelines_and_answers():
    rate, blocks = clip_blocks(441)
    expected = expected_speech(blocks, rate)
    transport = UdpTransport("127.0.0.1:0")
    bridge = Bridge(transport, *bundles(), queue=8192)
    server = threading.Thread(target=bridge.serve, daemon=True)
    server.start()
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    got: list[list] = [[], []]
    try:
        for k, s in enumerate(senders):
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.05)
            s.sendto(encode_message(Hello(f"bud-{k}"), 0), transport.address)
        # Interleaved: block i of sender 0, then of sender 1 (sender 1 sends the clip
        # reversed in level, so their values differ), each with its own sequence numbers.
        for i, b in enumerate(blocks):
            ts = round(i * len(b) / rate * 1e6)
            for k, s in enumerate(senders):
                x = b if k == 0 else (b // 4)
                s.sendto(encode_message(Audio(rate, x[:, None]), 1 + i, ts), transport.address)
            # Flow control: a loopback datagram queue overflows silently on a loaded machine,
            # so the senders keep within 40 frames of what the bridge has read.
            limit = time.monotonic() + 10
            while time.monotonic() < limit and (
                sum(s.decoder.frames for s in list(bridge.sessions.values())) < 2 * (i + 2) - 40
            ):
                time.sleep(0.002)
        for s in senders:
            end = encode_message(Audio(rate, np.zeros((0, 1), np.int16)), 1 + len(blocks))
            s.sendto(end, transport.address)
        decoders = [Decoder(), Decoder()]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for k, s in enumerate(senders):
                try:
                    data = s.recv(65536)
                except TimeoutError:
                    continue
                got[k] += [decode_message(f) for f in decoders[k].feed(data)]
            if all(sum(isinstance(m, Affect) for m in g) >= len(expected) for g in got):
                break
    finally:
        bridge.stop()
        server.join(2)
        transport.close()
        for s in senders:
            s.close()
    for k in (0, 1):
        hello = [m for m in got[k] if isinstance(m, Hello)]
        assert hello, f"sender {k} got no HELLO back"
        affect = [m for m in got[k] if isinstance(m, Affect)]
        assert len(affect) == len(expected), (k, len(affect), len(expected))
    # Sender 0's answers are the pipeline's values for its own samples, untouched by sender 1.
    for a, e in zip([m for m in got[0] if isinstance(m, Affect)], expected, strict=True):
        assert np.allclose(
            a.values, [e.values[k] for k in ("arousal", "dominance", "valence")], atol=1e-4
        )
    sessions = [s for s in bridge.sessions.values() if s.address is not None]
    assert len(sessions) == 2 and {s.peer for s in sessions} == {"bud-0", "bud-1"}
    assert all(s.decoder.lost == 0 and s.decoder.gaps == 0 for s in sessions)
    assert bridge.stats()["senders"] == 2


def test_a_sequence_restart_is_a_restart_not_lost_frames():
    dec = Decoder()
    wire = b"".join(encode_message(Heartbeat(), i) for i in range(100))
    wire += b"".join(encode_message(Heartbeat(), i) for i in range(10))  # the sender rebooted
    wire += encode_message(Heartbeat(), 12)  # then two frames really lost
    assert len(dec.feed(wire)) == 111
    assert (dec.restarts, dec.lost, dec.gaps) == (1, 2, 1)
    assert dec.stats()["restarts"] == 1
