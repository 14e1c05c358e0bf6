"""The bridge: sensor frames from a device in, AFFECT frames back, over any transport.

The reading loop decodes frames (`protocol.Decoder`) and answers control messages at once (HELLO
with HELLO, HEARTBEAT with HEARTBEAT, an ACK for any frame that asks for one, CAPS remembered for
the EEG channel names). Sensor frames (AUDIO, EEG) go through a bounded queue to a worker thread
that runs the matching pipeline (speech or EEG, created on the first block, sync mode, so the
values equal the pipeline's on the same samples) and sends one AFFECT frame per event. A device
faster than the host fills the queue: the oldest blocks are dropped and counted, and an ERROR
frame (code 3, overloaded) says how many, at most once a second. An AUDIO or EEG frame with no
samples ends that stream: the pipeline scores what it holds and starts afresh. On a pipe
(`lossless`, the CLI's --stdio) nothing is dropped: the reader waits for room in the queue, so a
recording piped in at full speed is scored whole.

Each sender is a session of its own: on UDP (a transport with `read_from`), every source address
gets its own decoder (sequence numbers, losses), CAPS, pipelines and outgoing sequence, and the
replies go back to that address; at most `MAX_SESSIONS` at once (the longest idle is let go).
A sender whose sequence numbers go backwards restarted: that is counted as a restart, not as
65,000 lost frames. The worker never dies of a frame: any failure while scoring becomes an
ERROR frame (code 4) whose text is cut to the wire's 255 bytes on a UTF-8 boundary, and a failure
to send even that is logged and counted. Input this host cannot serve (an audio rate outside
the speech model's range, EEG channels no CAPS named) is answered with code 2 (unsupported) or 1
(bad frame) and the reason instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque

import numpy as np

from devices.errors import AffectEdgeError, ProtocolError
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
    clip_text,
    decode_message,
    encode_message,
)

log = logging.getLogger(__name__)

#: Senders served at once on a datagram transport.
MAX_SESSIONS = 16


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


class Session:
    """One sender: its decoder, CAPS, pipelines and the sequence of the frames sent back."""

    def __init__(self, address=None) -> None:
        self.address = address
        self.decoder = Decoder()
        self.caps: Caps | None = None
        self.peer: str | None = None
        self.pipelines: dict[str, object] = {}
        self.seq = 0
        self.last_seen = time.monotonic()

    def close(self) -> None:
        for key in list(self.pipelines):
            with contextlib.suppress(Exception):
                self.pipelines.pop(key).close()


class Bridge:
    def __init__(
        self,
        transport,
        speech_bundle=None,
        eeg_bundle=None,
        device_id: str = "affect-edge-host",
        queue: int = 64,
        lossless: bool = False,
    ) -> None:
        self.transport = transport
        # A pipe can wait: the reader stops reading while the queue is full, so a recording
        # piped in at full speed is scored whole. A device on a wire cannot, so its oldest go.
        self.lossless = lossless
        self.speech_bundle = speech_bundle
        self.eeg_bundle = eeg_bundle
        self.device_id = device_id
        self.sessions: dict[object, Session] = {}
        self._default = self._session(None)
        self.dropped_blocks = 0
        self.bad_messages = 0
        self.affect_sent = 0
        self.send_failures = 0
        self.sessions_evicted = 0
        self._queue: deque = deque(maxlen=queue)
        self._cv = threading.Condition()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._reported_drops = 0
        self._last_error_at = 0.0
        self._worker = threading.Thread(target=self._work, name="bridge-worker", daemon=True)
        self._worker.start()

    # The first (on a serial or stdio link, the only) sender's state.
    @property
    def decoder(self) -> Decoder:
        return self._default.decoder

    @property
    def caps(self) -> Caps | None:
        return self._default.caps

    @property
    def peer(self) -> str | None:
        return self._default.peer

    def _session(self, address) -> Session:
        session = self.sessions.get(address)
        if session is None:
            if len(self.sessions) >= MAX_SESSIONS:
                idle = min(
                    (s for s in self.sessions.values() if s.address is not None),
                    key=lambda s: s.last_seen,
                )
                self.sessions.pop(idle.address)
                idle.close()
                self.sessions_evicted += 1
            session = self.sessions[address] = Session(address)
        session.last_seen = time.monotonic()
        return session

    # --- sending ----------------------------------------------------------------------------------
    def send(self, message, timestamp_us: int = 0, session: Session | None = None) -> None:
        session = session or self._default
        with self._write_lock:
            frame = encode_message(message, session.seq, timestamp_us)
            session.seq = (session.seq + 1) & 0xFFFF
            if session.address is not None:
                self.transport.write_to(frame, session.address)
            else:
                self.transport.write(frame)

    def _send_error(self, code: int, text: str, session: Session | None = None) -> None:
        """An ERROR frame that is always sendable (its text cut to 255 UTF-8 bytes); a failure
        to send it is logged and counted, never raised."""
        try:
            self.send(Error(code, clip_text(text)), session=session)
        except Exception as exc:
            self.send_failures += 1
            log.error("bridge: could not send an ERROR frame: %s", exc)

    # --- the reading loop -------------------------------------------------------------------------
    def serve(self, seconds: float | None = None) -> None:
        """Read and answer until `stop()` (or `seconds` pass, or stdin closes)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        per_sender = hasattr(self.transport, "read_from")
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if per_sender:
                data, address = self.transport.read_from()
                session = self._session(address) if data else self._default
            else:
                data, session = self.transport.read(), self._default
            if getattr(self.transport, "closed", False):
                break
            for frame in session.decoder.feed(data):
                self._handle(frame, session)
            self._report_overload()

    def _handle(self, frame, session: Session | None = None) -> None:
        session = session or self._default
        if frame.flags & FLAG_ACK:
            self.send(Ack(frame.seq), session=session)
        try:
            message = decode_message(frame)
        except ProtocolError as exc:
            self.bad_messages += 1
            self._send_error(1, str(exc), session)
            return
        if isinstance(message, Hello):
            session.peer = message.device_id
            self.send(Hello(self.device_id), session=session)
        elif isinstance(message, Heartbeat):
            self.send(Heartbeat(), session=session)
        elif isinstance(message, Caps):
            session.caps = message
        elif isinstance(message, (Audio, Eeg)):
            with self._cv:
                while (
                    self.lossless
                    and len(self._queue) == self._queue.maxlen
                    and not self._stop.is_set()
                ):
                    self._cv.wait(0.2)
                if len(self._queue) == self._queue.maxlen:
                    self.dropped_blocks += 1
                self._queue.append((session, frame, message))
                self._cv.notify()
        elif frame.type not in (Type.ACK, Type.ERROR, Type.AFFECT, Type.CONFIG):
            self._send_error(2, f"message type {frame.type} is not served here", session)

    def _report_overload(self) -> None:
        new = self.dropped_blocks - self._reported_drops
        if new and time.monotonic() - self._last_error_at >= 1.0:
            self._reported_drops = self.dropped_blocks
            self._last_error_at = time.monotonic()
            for session in list(self.sessions.values()):
                if session.address is not None or not per_sender_transport(self.transport):
                    self._send_error(3, f"overloaded: {new} sensor frames dropped", session)

    # --- the worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop.is_set():
                    self._cv.wait(0.2)
                if not self._queue:
                    return
                session, frame, message = self._queue.popleft()
                self._cv.notify_all()  # a lossless reader waits for the room
            try:
                self._score(session, frame, message)
            except AffectEdgeError as exc:
                # What the device sent cannot be served (a rate, a channel count): its own code,
                # 1 for a frame that breaks the protocol, 2 for one this host does not serve.
                log.error("bridge: %s", exc)
                self._send_error(1 if isinstance(exc, ProtocolError) else 2, str(exc), session)
            except Exception as exc:  # one bad frame never stops the scoring
                log.error("bridge: %s", exc)
                self._send_error(4, str(exc), session)

    def _score(self, session: Session, frame, message) -> None:
        t0 = frame.timestamp_us / 1e6
        pipelines = session.pipelines
        if isinstance(message, Audio):
            key = "speech"
            x = message.samples
            if x.size == 0:
                return self._end(session, key)
            pipe = pipelines.get(key)
            if pipe is None:
                from edge.pipelines.speech import SpeechPipeline

                pipe = SpeechPipeline(self.speech_bundle, input_rate_hz=message.rate_hz)
                pipelines[key] = pipe
            mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1).astype(np.int16)
            f = Frame(mono[None, :], t0, float(message.rate_hz), ("mono",), "audio", "bridge")
        else:
            key = "eeg"
            if message.samples.size == 0:
                return self._end(session, key)
            pipe = pipelines.get(key)
            names = self._eeg_names(session, message.samples.shape[1])
            if pipe is None:
                from edge.pipelines.eeg import EegPipeline

                pipe = EegPipeline(self.eeg_bundle, message.rate_hz, names)
                pipelines[key] = pipe
            f = Frame(message.microvolts().T, t0, float(message.rate_hz), names, "eeg", "bridge")
        for event in pipe.push(f):
            self._send_event(event, session)

    @staticmethod
    def _eeg_names(session: Session, n: int) -> tuple[str, ...]:
        if session.caps is not None:
            for s in session.caps.sensors:
                if s.kind == "eeg" and len(s.channels) == n:
                    return s.channels
        raise ProtocolError(f"EEG frames with {n} channels before a CAPS naming them")

    def _end(self, session: Session, key: str) -> None:
        pipe = session.pipelines.pop(key, None)
        if pipe is not None:
            for event in pipe.flush():
                self._send_event(event, session)
            pipe.close()

    def _send_event(self, event, session: Session) -> None:
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
            session=session,
        )
        self.affect_sent += 1

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify()
        self._worker.join(5)
        for session in self.sessions.values():
            session.close()

    def stats(self) -> dict:
        decoders = [s.decoder.stats() for s in self.sessions.values()]
        totals = {k: sum(d[k] for d in decoders) for k in decoders[0]}
        return {
            **totals,
            "senders": sum(1 for s in self.sessions.values() if s.address is not None),
            "dropped_blocks": self.dropped_blocks,
            "bad_messages": self.bad_messages,
            "affect_sent": self.affect_sent,
            "send_failures": self.send_failures,
            "link_lost": getattr(self.transport, "losses", 0),
            "reopens": getattr(self.transport, "reopens", 0),
            "write_drops": getattr(self.transport, "write_drops", 0),
        }


def per_sender_transport(transport) -> bool:
    return hasattr(transport, "read_from")
