"""The wire link as a source, a pipeline and a sink driven by the one stream runner
(`edge.stream.run`): a speech clip sent as AUDIO frames over an in-memory pipe comes back as the
AFFECT frames the speech pipeline gives for the same samples, control messages are answered on
the way, a stream the host cannot serve is answered with an ERROR, and the run ends when the pipe
closes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.errors import ConfigError
from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from edge.stream import EventList, run
from firmware_bridge.protocol import (
    FLAG_ACK,
    Ack,
    Affect,
    Audio,
    Decoder,
    Eeg,
    Error,
    Heartbeat,
    Hello,
    decode_message,
    encode_message,
)
from firmware_bridge.wire import WireLink, WirePipeline, WireSink, WireSource
from tests.streams import audio_frames, run_stream

CLIP = Path(__file__).resolve().parents[1] / "edge" / "data" / "samples" / "speech_en.wav"


class Pipe:
    """A pipe's two ends in memory: what is queued is read in chunks, then the pipe closes."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.inbox = list(chunks)
        self.sent = bytearray()
        self.closed = False

    def read(self) -> bytes:
        if self.inbox:
            return self.inbox.pop(0)
        self.closed = True
        return b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def messages(self) -> list:
        return [decode_message(p) for p in Decoder().feed(bytes(self.sent))]


def test_a_wire_source_and_sink_run_through_the_stream_runner() -> None:
    x, rate = sf.read(CLIP, dtype="int16")
    block = 441
    with SpeechPipeline(load_bundle(default_bundle("speech")), input_rate_hz=rate) as pipe:
        expected = run_stream(pipe, audio_frames(x, rate, block))
    chunks = [encode_message(Hello("earbud-7"), 0, flags=FLAG_ACK)]
    # A stream at a rate the speech model cannot use first: answered, and the link goes on.
    tone = (np.sin(np.arange(100) / 5) * 8000).astype(np.int16)
    chunks += [encode_message(Audio(7, tone[:, None]), 1)]
    chunks += [encode_message(Audio(7, np.zeros((0, 1), np.int16)), 2)]
    seq = 3
    for i, s in enumerate(range(0, len(x), block)):
        ts = round(s / rate * 1e6)
        chunks.append(encode_message(Audio(rate, x[s : s + block, None]), seq, ts))
        seq += 1
        if i == 5:
            chunks.append(encode_message(Heartbeat(), seq))
            seq += 1
    chunks.append(encode_message(Audio(rate, np.zeros((0, 1), np.int16)), seq))
    # Frames split across reads, as a serial port delivers them.
    wire = b"".join(chunks)
    link = WireLink(Pipe([wire[i : i + 700] for i in range(0, len(wire), 700)]))
    source = WireSource(link, queue=8, lossless=True)
    pipeline = WirePipeline(link, {"speech": load_bundle(default_bundle("speech"))})
    seen = EventList()
    t0 = time.monotonic()
    with source:
        result = run(source, pipeline, [WireSink(link), seen], live=True)
    assert time.monotonic() - t0 < 60
    assert result.ended and not result.interrupted
    msgs = link.transport.messages()
    assert isinstance(msgs[0], Ack) and msgs[0].seq == 0 and isinstance(msgs[1], Hello)
    assert link.default.peer == "earbud-7"
    errors = [m for m in msgs if isinstance(m, Error)]
    assert [e.code for e in errors] == [2]
    assert "audio at 7 Hz is outside what the speech model can use" in errors[0].message
    assert sum(isinstance(m, Heartbeat) for m in msgs) == 1
    affect = [m for m in msgs if isinstance(m, Affect)]
    assert len(affect) == len(seen.events) == len(expected) >= 10
    for got, want in zip(affect, expected, strict=True):
        assert got.modality == "speech"
        assert got.window_end_us == round(want.end_s * 1e6)
        np.testing.assert_allclose(
            got.values, [want.values[k] for k in ("arousal", "dominance", "valence")], atol=2e-5
        )
    for got, want in zip(seen.events, expected, strict=True):
        assert got.values == want.values and got.source == "wire"
    stats = source.stats()
    assert stats["dropped_frames"] == 0 and stats["affect_sent"] == len(expected)
    assert stats["gaps"] == 0 and stats["restarts"] == 0


def test_a_full_queue_drops_the_oldest_block_and_counts_it() -> None:
    link = WireLink(Pipe([]))
    source = WireSource(link, queue=2)
    x = np.ones((10, 1), np.int16)
    for seq in range(5):
        (packet,) = Decoder().feed(encode_message(Audio(16000, x), seq))
        source.handle(packet)
    source.report_overload()
    assert source.dropped_frames == 3 and source.dropped_samples == 30
    (error,) = link.transport.messages()
    assert (
        isinstance(error, Error) and error.code == 3 and "3 sensor frames dropped" in error.message
    )
    source.open()
    source.start()
    try:
        kept = [source.read(0.1), source.read(0.1)]
    finally:
        source.close()
    assert [f.seq for f in kept] == [3, 4]


def test_eeg_before_caps_is_a_bad_frame_answered_at_once() -> None:
    n = 3
    link = WireLink(Pipe([]))
    source = WireSource(link)
    (packet,) = Decoder().feed(encode_message(Eeg(128, np.zeros((4, n), np.int32), 1.0), 0))
    source.handle(packet)
    (error,) = link.transport.messages()
    assert error.code == 1 and f"EEG frames with {n} channels before a CAPS" in error.message
    assert link.bad_messages == 1


# --- the wire as a registered modality: `affect-edge run wire` and the daemon's [wire] table ---------
@pytest.fixture
def wire_modality():
    from edge import modalities
    from firmware_bridge.modality import WIRE

    modalities.register(WIRE)  # what the affect_edge.modalities entry point does when installed
    yield WIRE
    modalities.unregister("wire")


def recording(tmp_path: Path) -> tuple[Path, list]:
    """The speech clip as the bytes a device sends (HELLO, AUDIO blocks, the end marker), and
    the events the speech pipeline gives for the same samples."""
    x, rate = sf.read(CLIP, dtype="int16")
    block = 441
    with SpeechPipeline(load_bundle(default_bundle("speech")), input_rate_hz=rate) as pipe:
        expected = run_stream(pipe, audio_frames(x, rate, block))
    wire = [encode_message(Hello("earbud-7"), 0)]
    for i, s in enumerate(range(0, len(x), block)):
        ts = round(s / rate * 1e6)
        wire.append(encode_message(Audio(rate, x[s : s + block, None]), 1 + i, ts))
    wire.append(encode_message(Audio(rate, np.zeros((0, 1), np.int16)), len(wire)))
    path = tmp_path / "earbud.wire"
    path.write_bytes(b"".join(wire))
    return path, expected


def test_a_wire_recording_runs_through_affect_edge_run(wire_modality, tmp_path, capsys) -> None:
    from edge.cli.main import main

    path, expected = recording(tmp_path)
    assert main(["run", "wire", f"file:{path}", "--queue", "4", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(events) == len(expected) >= 10
    for got, want in zip(events, expected, strict=True):
        assert got["modality"] == "speech" and got["values"] == want.values
        assert got["end_s"] == want.end_s


def test_a_wire_link_runs_in_the_daemon_from_its_toml_table(wire_modality, tmp_path) -> None:
    from edge.daemon.config import parse_config
    from edge.daemon.runner import Daemon
    from firmware_bridge.modality import WireOptions

    path, expected = recording(tmp_path)
    events = tmp_path / "events.jsonl"
    data = {
        "wire": {"source": f"file:{path}", "queue": 4},
        "sinks": [{"kind": "jsonl", "path": str(events)}],
        "report_s": 0,
    }
    config = parse_config(data, "bridge.toml", tmp_path)
    (stream,) = config.modalities
    assert stream.options == WireOptions(queue=4)
    daemon = Daemon(config)
    try:
        deadline = time.monotonic() + 60
        while daemon.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        snapshot = daemon.snapshot()["modalities"]["wire"]
    finally:
        daemon.close()
    assert snapshot["state"] == "ended" and snapshot["frames"] > len(expected)
    got = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["values"] for e in got] == [e.values for e in expected]
    with pytest.raises(ConfigError, match=r"bridge.toml \[wire\].bundle: the wire serves"):
        parse_config({**data, "wire": {**data["wire"], "bundle": "x"}}, "bridge.toml", tmp_path)
