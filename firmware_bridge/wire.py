"""The wire link as a source, a pipeline and a sink that `edge.stream.run` drives like any other.

    WireSource  (the link's reader thread: packets decoded per sender, control answered at once,
       |         AUDIO / EEG blocks queued as `devices.Frame`s)
       v
    WirePipeline (one pipeline per sender and modality, built by the modality registry on the
       |          sender's first block; an empty block ends that sender's stream)
       v
    WireSink    (each event as an AFFECT frame to the sender it came from)

The three share one `WireLink`: the transport, the senders' sessions and the write lock. Each
sender is a session of its own: on UDP (a transport with `read_from`) every source address gets
its own decoder (sequence numbers, losses, restarts), CAPS, pipelines and outgoing sequence, and
the replies go back to that address; at most `MAX_SESSIONS` at once (the longest idle is let go).
A frame's `source` names its session (``wire`` for a serial or stdio link, ``wire:HOST:PORT`` for
a UDP sender), and so does every event its pipeline gives, which is how the sink finds the way
back.

The reader answers control messages at once, even while a model runs: HELLO with HELLO,
HEARTBEAT with HEARTBEAT, an ACK for any frame that asks for one, CAPS remembered for the EEG
channel names. A device faster than the host fills the bounded queue: the oldest blocks are
dropped and counted (`dropped_frames`), and an ERROR frame (code 3, overloaded) says how many, at
most once a second. On a pipe (`lossless`) nothing is dropped: the reader waits for room. When
the link ends (a pipe closed) the source ends once its queue is read.

Nothing a device sends stops the stream: a packet that breaks the protocol is answered with an
ERROR frame (code 1), input this host cannot serve (an audio rate outside the speech model's
range, a channel count no CAPS named) with code 2, any other failure while scoring with code 4;
every ERROR's text is cut to the wire's 255 bytes on a UTF-8 boundary, and a failure to send
even that is logged and counted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from devices.errors import AffectEdgeError, ProtocolError
from devices.frame import Frame
from devices.source import Source
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
    Packet,
    Type,
    clip_text,
    decode_message,
    encode_message,
)

log = logging.getLogger(__name__)

#: Senders served at once on a datagram transport.
MAX_SESSIONS = 16
#: The modality that scores each kind of sensor block on the wire.
MODALITY_OF_KIND = {"audio": "speech", "eeg": "eeg"}
#: How long a reader waits for room in a full queue (lossless) before looking at `stop` again.
_WAIT_S = 0.2


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
    """One sender: its decoder, CAPS, the sequence of the frames sent back, and its name."""

    def __init__(self, address=None) -> None:
        self.address = address
        self.key = "wire" if address is None else f"wire:{address[0]}:{address[1]}"
        self.decoder = Decoder()
        self.caps: Caps | None = None
        self.peer: str | None = None
        self.seq = 0
        self.last_seen = time.monotonic()


class WireLink:
    """A transport and its senders: what the wire source, pipeline and sink share."""

    def __init__(self, transport, device_id: str = "affect-edge-host") -> None:
        self.transport = transport
        self.device_id = device_id
        self.per_sender = hasattr(transport, "read_from")
        self.sessions: dict[object, Session] = {}
        self._by_key: dict[str, Session] = {}
        #: Sessions let go since the pipeline last looked (their pipelines are closed there).
        self.evicted: deque[str] = deque()
        self.default = self.session(None)
        self.bad_messages = 0
        self.affect_sent = 0
        self.send_failures = 0
        self.sessions_evicted = 0
        self._write_lock = threading.Lock()

    def session(self, address) -> Session:
        session = self.sessions.get(address)
        if session is None:
            if len(self.sessions) >= MAX_SESSIONS:
                idle = min(
                    (s for s in self.sessions.values() if s.address is not None),
                    key=lambda s: s.last_seen,
                )
                self.sessions.pop(idle.address)
                self._by_key.pop(idle.key, None)
                self.evicted.append(idle.key)
                self.sessions_evicted += 1
            session = self.sessions[address] = Session(address)
            self._by_key[session.key] = session
        session.last_seen = time.monotonic()
        return session

    def by_key(self, key: str) -> Session | None:
        """The session a frame's or an event's `source` names (None once it was let go)."""
        return self._by_key.get(key)

    def send(self, message, timestamp_us: int = 0, session: Session | None = None) -> None:
        session = session or self.default
        with self._write_lock:
            data = encode_message(message, session.seq, timestamp_us)
            session.seq = (session.seq + 1) & 0xFFFF
            if session.address is not None:
                self.transport.write_to(data, session.address)
            else:
                self.transport.write(data)

    def send_error(self, code: int, text: str, session: Session | None = None) -> None:
        """An ERROR frame that is always sendable (its text cut to 255 UTF-8 bytes); a failure
        to send it is logged and counted, never raised."""
        try:
            self.send(Error(code, clip_text(text)), session=session)
        except Exception as exc:
            self.send_failures += 1
            log.error("wire: could not send an ERROR frame: %s", exc)

    def stats(self) -> dict[str, int]:
        decoders = [s.decoder.stats() for s in self.sessions.values()]
        totals = {k: sum(d[k] for d in decoders) for k in decoders[0]}
        return {
            **totals,
            "senders": sum(1 for s in self.sessions.values() if s.address is not None),
            "bad_messages": self.bad_messages,
            "affect_sent": self.affect_sent,
            "send_failures": self.send_failures,
            "link_lost": getattr(self.transport, "losses", 0),
            "reopens": getattr(self.transport, "reopens", 0),
            "write_drops": getattr(self.transport, "write_drops", 0),
        }


class WireSource(Source):
    """Sensor blocks from a wire link: `read()` gives them as `devices.Frame`s, in arrival order.

    A live source (a read that returns nothing means "nothing yet"); `ended` turns true once the
    link has closed (a pipe's end) and every queued block has been read."""

    kind = "wire"
    live = True

    def __init__(
        self,
        link: WireLink,
        queue: int = 64,
        lossless: bool = False,
        owns_transport: bool = False,
        source_id: str = "wire",
    ) -> None:
        super().__init__(source_id)
        self.link = link
        #: Opened for this source (from a URI): closed with it.
        self.owns_transport = owns_transport
        # A pipe can wait: the reader stops reading while the queue is full, so a recording
        # piped in at full speed is scored whole. A device on a wire cannot, so its oldest go.
        self.lossless = lossless
        self._queue: deque[Frame] = deque(maxlen=queue)
        self._cv = threading.Condition()
        self._halt = threading.Event()
        self._link_closed = False
        self._reported_drops = 0
        self._last_error_at = 0.0
        self.reader: threading.Thread | None = None

    @property
    def rate_hz(self) -> float:
        return 0.0  # blocks of several rates and kinds: each frame says its own

    @property
    def channels(self) -> tuple[str, ...]:
        return ()

    @property
    def ended(self) -> bool:
        with self._cv:
            return self._link_closed and not self._queue

    # --- the life cycle ---------------------------------------------------------------------
    def _open(self) -> None:
        pass

    def _start(self) -> None:
        self._halt.clear()
        self.reader = threading.Thread(target=self._read_link, name="wire-reader", daemon=True)
        self.reader.start()

    def _read(self, timeout_s: float | None) -> Frame | None:
        with self._cv:
            if not self._queue and not self._link_closed:
                self._cv.wait(timeout_s)
            if not self._queue:
                return None
            frame = self._queue.popleft()
            self._cv.notify_all()  # a lossless reader waits for the room
            return frame

    def _stop(self) -> None:
        self._halt.set()
        with self._cv:
            self._cv.notify_all()
        if self.reader is not None and self.reader is not threading.current_thread():
            self.reader.join(5)

    def _close(self) -> None:
        if self.owns_transport:
            self.link.transport.close()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "queued": len(self._queue), **self.link.stats()}

    # --- the link's reader thread -----------------------------------------------------------
    def _read_link(self) -> None:
        link, transport = self.link, self.link.transport
        while not self._halt.is_set():
            if link.per_sender:
                data, address = transport.read_from()
                session = link.session(address) if data else link.default
            else:
                data, session = transport.read(), link.default
            if getattr(transport, "closed", False):
                with self._cv:
                    self._link_closed = True
                    self._cv.notify_all()
                return
            for packet in session.decoder.feed(data):
                self.handle(packet, session)
            self.report_overload()

    def handle(self, packet: Packet, session: Session | None = None) -> None:
        """Answer one packet from `session` (default: the only sender of a serial or stdio link);
        a sensor block is queued for the pipeline."""
        link = self.link
        session = session or link.default
        if packet.flags & FLAG_ACK:
            link.send(Ack(packet.seq), session=session)
        try:
            message = decode_message(packet)
            frame = self._frame(message, packet, session)
        except ProtocolError as exc:
            link.bad_messages += 1
            link.send_error(1, str(exc), session)
            return
        if frame is not None:
            self._put(frame)
        elif isinstance(message, Hello):
            session.peer = message.device_id
            link.send(Hello(link.device_id), session=session)
        elif isinstance(message, Heartbeat):
            link.send(Heartbeat(), session=session)
        elif isinstance(message, Caps):
            session.caps = message
        elif packet.type not in (Type.ACK, Type.ERROR, Type.AFFECT, Type.CONFIG):
            link.send_error(2, f"message type {packet.type} is not served here", session)

    def _frame(self, message, packet: Packet, session: Session) -> Frame | None:
        """A sensor message as a frame of `session`'s stream (no samples: its end)."""
        t0 = packet.timestamp_us / 1e6
        rate = float(getattr(message, "rate_hz", 0))
        if isinstance(message, Audio):
            x = message.samples
            mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1).astype(np.int16)
            return Frame(mono[None, :], t0, rate, ("mono",), "audio", session.key, packet.seq)
        if isinstance(message, Eeg):
            n = message.samples.shape[1]
            names = self._eeg_names(session, n) if message.samples.size else ("",) * n
            uv = message.microvolts().T
            return Frame(uv, t0, rate, names, "eeg", session.key, packet.seq)
        return None

    @staticmethod
    def _eeg_names(session: Session, n: int) -> tuple[str, ...]:
        if session.caps is not None:
            for s in session.caps.sensors:
                if s.kind == "eeg" and len(s.channels) == n:
                    return s.channels
        raise ProtocolError(f"EEG frames with {n} channels before a CAPS naming them")

    def _put(self, frame: Frame) -> None:
        with self._cv:
            while self.lossless and len(self._queue) == self._queue.maxlen:
                if self._halt.is_set():
                    return
                self._cv.wait(_WAIT_S)
            if len(self._queue) == self._queue.maxlen:
                self.dropped_frames += 1
                self.dropped_samples += self._queue[0].n_samples
            self._queue.append(frame)
            self._cv.notify_all()

    def report_overload(self) -> None:
        """An ERROR frame (code 3) to every sender when blocks were dropped, at most once a
        second."""
        new = self.dropped_frames - self._reported_drops
        if new and time.monotonic() - self._last_error_at >= 1.0:
            self._reported_drops = self.dropped_frames
            self._last_error_at = time.monotonic()
            for session in list(self.link.sessions.values()):
                if session.address is not None or not self.link.per_sender:
                    self.link.send_error(3, f"overloaded: {new} sensor frames dropped", session)


class WirePipeline:
    """The pipelines of a wire link: one per sender and modality, built on its first block by
    the modality registry (`bundles`: modality name -> loaded bundle; a missing one is the
    modality's default), sync, so each sender's
    values equal its modality pipeline's on the same samples. A frame with no samples ends that
    sender's stream of its kind: the pipeline scores what it holds and the next block starts
    afresh. A block that cannot be scored is answered with an ERROR frame, never raised."""

    def __init__(
        self,
        link: WireLink,
        bundles: dict[str, Any],
        reply: WireSink | None = None,
        on_event: Callable[[Any], None] | None = None,
    ) -> None:
        self.link = link
        self.bundles = dict(bundles)
        self.pipelines: dict[tuple[str, str], Any] = {}
        #: Where the run's own sinks are not the wire's (the daemon, `affect-edge run wire`):
        #: every event is answered on the wire here first.
        self.reply = reply
        #: As every pipeline's: events handed to it as they are made, `push` returning nothing.
        self.on_event = on_event

    def _out(self, events) -> tuple:
        events = tuple(events)
        for event in events:
            if self.reply is not None:
                self.reply.write(event)
            if self.on_event is not None:
                self.on_event(event)
        return () if self.on_event is not None else events

    def _evict(self) -> None:
        while self.link.evicted:
            key = self.link.evicted.popleft()
            for k in [k for k in self.pipelines if k[0] == key]:
                with contextlib.suppress(Exception):
                    self.pipelines.pop(k).close()

    def _pipeline(self, frame: Frame):
        key = (frame.source, frame.kind)
        pipe = self.pipelines.get(key)
        if pipe is None:
            from edge import modalities

            modality = modalities.get(MODALITY_OF_KIND[frame.kind])
            stream = _StreamShape(
                int(frame.rate_hz) if frame.kind == "audio" else frame.rate_hz, frame.channels
            )
            options = modality.options()
            bundle = self.bundles.get(modality.name)
            if bundle is None:  # the modality's default, loaded once
                bundle = self.bundles[modality.name] = modality.bundles(options)
            pipe = modality.build_pipeline(bundle, stream, options, "sync")
            self.pipelines[key] = pipe
        return pipe

    def push(self, frame: Frame) -> tuple:
        self._evict()
        if not frame.n_samples:
            return self.end_stream(frame)
        try:
            events = self._pipeline(frame).push(frame)
        except Exception as exc:
            self._refuse(frame, exc)
            return ()
        return self._out(events)

    def end_stream(self, frame: Frame) -> tuple:
        """The end of `frame`'s sender's stream of its kind: what its pipeline still holds."""
        self._evict()
        pipe = self.pipelines.pop((frame.source, frame.kind), None)
        if pipe is None:
            return ()
        try:
            events = pipe.flush()
        except Exception as exc:
            self._refuse(frame, exc)
            return ()
        finally:
            with contextlib.suppress(Exception):
                pipe.close()
        return self._out(events)

    def _refuse(self, frame: Frame, exc: Exception) -> None:
        # What the device sent cannot be served (a rate, a channel count): its own code, 1 for
        # a frame that breaks the protocol, 2 for one this host does not serve, 4 otherwise.
        log.error("wire: %s", exc)
        if isinstance(exc, AffectEdgeError):
            code = 1 if isinstance(exc, ProtocolError) else 2
        else:
            code = 4
        self.link.send_error(code, str(exc), self.link.by_key(frame.source))

    def flush(self) -> tuple:
        out: list = []
        for pipe in list(self.pipelines.values()):
            with contextlib.suppress(Exception):
                out.extend(pipe.flush())
        return self._out(out)

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        for key in list(self.pipelines):
            with contextlib.suppress(Exception):
                self.pipelines.pop(key).close()

    def stats(self) -> dict[str, Any]:
        return {"pipelines": len(self.pipelines)}

    def __enter__(self) -> WirePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _StreamShape:
    """What a modality's `build_pipeline` reads of a source: its rate and channels."""

    live = False

    def __init__(self, rate_hz: float, channels: tuple[str, ...]) -> None:
        self.rate_hz = rate_hz
        self.channels = channels


class WireSink:
    """Each event as an AFFECT frame, sent to the sender whose samples it is about."""

    def __init__(self, link: WireLink) -> None:
        self.link = link

    def write(self, event) -> None:
        session = self.link.by_key(event.source)
        if session is None and event.source not in ("", "wire"):
            return  # its sender was let go
        end_us = round(event.end_s * 1e6)
        values = tuple(v for k, v in event.values.items() if k != "level")
        message = Affect(
            event.modality,
            values,
            quality_bits(event),
            int(event.latency_ms.get("total", 0.0) * 1000),
            end_us,
        )
        try:
            self.link.send(message, end_us, session=session)
        except Exception as exc:
            self.link.send_failures += 1
            log.error("wire: could not send an AFFECT frame: %s", exc)
            return
        self.link.affect_sent += 1

    def close(self) -> None:
        pass
