"""The bridge: sensor frames from a device in, AFFECT frames back, over any transport.

The reading loop decodes frames (`protocol.Decoder`) and answers control messages at once (HELLO
with HELLO, HEARTBEAT with HEARTBEAT, an ACK for any frame that asks for one, CAPS remembered for
the EEG channel names). Sensor frames (AUDIO, EEG) go through a bounded queue to a worker thread
that runs the matching pipeline (speech or EEG, created on the first block, sync mode, so the
values equal the pipeline's on the same samples) and sends one AFFECT frame per event. A device
faster than the host fills the queue: the oldest blocks are dropped and counted, and an ERROR
frame (code 3, overloaded) says how many, at most once a second. An AUDIO or EEG frame with no
samples ends that stream: the pipeline scores what it holds and starts afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import numpy as np

from devices.errors import ProtocolError
from devices.frame import Frame
from firmware_bridge.protocol import (
    FLAG_ACK,
    Q_BAND_LIMITED,
    Q_FLAGGED,
    Q_GAP,
    Q_NOISY,
    Q_NOT_UPDATED,
    Ack,
    Affect,
    Audio,
    Caps,
    Decoder,
    Eeg,
    Error,
    Heartbeat,
    Hello,
    Type,
    decode_message,
    encode_message,
)

log = logging.getLogger(__name__)


def quality_bits(event) -> int:
    q = event.quality
    bits = 0 if event.updated else Q_NOT_UPDATED
    if q.get("noisy"):
        bits |= Q_NOISY
    if q.get("gap"):
        bits |= Q_GAP
    if q.get("ok") is False:
        bits |= Q_FLAGGED
    if q.get("band_limited"):
        bits |= Q_BAND_LIMITED
    return bits


class Bridge:
    def __init__(
        self,
        transport,
        speech_bundle=None,
        eeg_bundle=None,
        device_id: str = "affect-edge-host",
        queue: int = 64,
    ) -> None:
        self.transport = transport
        self.speech_bundle = speech_bundle
        self.eeg_bundle = eeg_bundle
        self.device_id = device_id
        self.decoder = Decoder()
        self.caps: Caps | None = None
        self.peer: str | None = None
        self.dropped_blocks = 0
        self.bad_messages = 0
        self.affect_sent = 0
        self._queue: deque = deque(maxlen=queue)
        self._cv = threading.Condition()
        self._seq = 0
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._pipelines: dict[str, object] = {}
        self._reported_drops = 0
        self._last_error_at = 0.0
        self._worker = threading.Thread(target=self._work, name="bridge-worker", daemon=True)
        self._worker.start()

    # --- sending ----------------------------------------------------------------------------------
    def send(self, message, timestamp_us: int = 0) -> None:
        with self._write_lock:
            frame = encode_message(message, self._seq, timestamp_us)
            self._seq = (self._seq + 1) & 0xFFFF
            self.transport.write(frame)

    # --- the reading loop -------------------------------------------------------------------------
    def serve(self, seconds: float | None = None) -> None:
        """Read and answer until `stop()` (or `seconds` pass, or stdin closes)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            data = self.transport.read()
            if getattr(self.transport, "closed", False):
                break
            for frame in self.decoder.feed(data):
                self._handle(frame)
            self._report_overload()

    def _handle(self, frame) -> None:
        if frame.flags & FLAG_ACK:
            self.send(Ack(frame.seq))
        try:
            message = decode_message(frame)
        except ProtocolError as exc:
            self.bad_messages += 1
            self.send(Error(1, str(exc)[:200]))
            return
        if isinstance(message, Hello):
            self.peer = message.device_id
            self.send(Hello(self.device_id))
        elif isinstance(message, Heartbeat):
            self.send(Heartbeat())
        elif isinstance(message, Caps):
            self.caps = message
        elif isinstance(message, (Audio, Eeg)):
            with self._cv:
                if len(self._queue) == self._queue.maxlen:
                    self.dropped_blocks += 1
                self._queue.append((frame, message))
                self._cv.notify()
        elif frame.type not in (Type.ACK, Type.ERROR, Type.AFFECT, Type.CONFIG):
            self.send(Error(2, f"message type {frame.type} is not served here"))

    def _report_overload(self) -> None:
        new = self.dropped_blocks - self._reported_drops
        if new and time.monotonic() - self._last_error_at >= 1.0:
            self.send(Error(3, f"overloaded: {new} sensor frames dropped"))
            self._reported_drops = self.dropped_blocks
            self._last_error_at = time.monotonic()

    # --- the worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop.is_set():
                    self._cv.wait(0.2)
                if not self._queue:
                    return
                frame, message = self._queue.popleft()
            try:
                self._score(frame, message)
            except Exception as exc:
                log.error("bridge: %s", exc)
                self.send(Error(4, str(exc)[:200]))

    def _score(self, frame, message) -> None:
        t0 = frame.timestamp_us / 1e6
        if isinstance(message, Audio):
            key = "speech"
            x = message.samples
            if x.size == 0:
                return self._end(key)
            pipe = self._pipelines.get(key)
            if pipe is None:
                from edge.pipelines.speech import SpeechPipeline

                pipe = SpeechPipeline(self.speech_bundle, input_rate_hz=message.rate_hz)
                self._pipelines[key] = pipe
            mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1).astype(np.int16)
            f = Frame(mono[None, :], t0, float(message.rate_hz), ("mono",), "audio", "bridge")
        else:
            key = "eeg"
            if message.samples.size == 0:
                return self._end(key)
            pipe = self._pipelines.get(key)
            names = self._eeg_names(message.samples.shape[1])
            if pipe is None:
                from edge.pipelines.eeg import EegPipeline

                pipe = EegPipeline(self.eeg_bundle, message.rate_hz, names)
                self._pipelines[key] = pipe
            f = Frame(message.microvolts().T, t0, float(message.rate_hz), names, "eeg", "bridge")
        for event in pipe.push(f):
            self._send_event(event)

    def _eeg_names(self, n: int) -> tuple[str, ...]:
        if self.caps is not None:
            for s in self.caps.sensors:
                if s.kind == "eeg" and len(s.channels) == n:
                    return s.channels
        raise ProtocolError(f"EEG frames with {n} channels before a CAPS naming them")

    def _end(self, key: str) -> None:
        pipe = self._pipelines.pop(key, None)
        if pipe is not None:
            for event in pipe.flush():
                self._send_event(event)
            pipe.close()

    def _send_event(self, event) -> None:
        values = tuple(v for k, v in event.values.items() if k != "level")
        self.send(
            Affect(
                event.modality,
                values,
                quality_bits(event),
                int(event.latency_ms.get("total", 0.0) * 1000),
                round(event.end_s * 1e6),
            ),
            round(event.end_s * 1e6),
        )
        self.affect_sent += 1

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify()
        self._worker.join(5)
        for key in list(self._pipelines):
            self._pipelines.pop(key).close()

    def stats(self) -> dict:
        return {
            **self.decoder.stats(),
            "dropped_blocks": self.dropped_blocks,
            "bad_messages": self.bad_messages,
            "affect_sent": self.affect_sent,
            "link_lost": getattr(self.transport, "losses", 0),
            "reopens": getattr(self.transport, "reopens", 0),
            "write_drops": getattr(self.transport, "write_drops", 0),
        }
