"""The wire protocol of docs/protocol.md (version 1): frames, messages, and a streaming decoder.

    frame on the wire = COBS(header | payload | CRC-32C) | 0x00

`encode_frame` builds one frame; `Decoder.feed(bytes)` takes whatever a serial port or socket
delivers (any chunking, garbage, lost bytes) and returns the good frames as `Packet`s (apart from
`devices.Frame`, a sensor block), resynchronising at the next zero byte after anything bad and
counting every kind of trouble: `garbage` (bytes that formed no frame), `bad_crc`, `oversize`,
`bad_version`, `short` (shorter than a header and CRC), and `gaps` / `lost` (sequence numbers
skipped, modulo 65536). The byte work (COBS, CRC) is compiled (`_codec.pyx`).

Messages: `Hello`, `Caps`, `Audio`, `Eeg`, `Affect`, `Config`, `Heartbeat`, `Error`, `Ack`, each
with `pack() -> bytes` and `unpack(payload)`; `decode_message(frame)` gives the right one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from devices.errors import ProtocolError
from firmware_bridge._codec import cobs_decode, cobs_encode, crc32c

VERSION = 1
HEADER = struct.Struct("<BBBBHQ")
HEADER_SIZE = HEADER.size  # 14
CRC_SIZE = 4
MAX_PAYLOAD = 4096
#: The longest COBS block a valid frame can be (header, payload, CRC, COBS overhead).
MAX_ENCODED = (HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE) * 255 // 254 + 2
FLAG_ACK = 0x01


class Type(IntEnum):
    HELLO = 1
    CAPS = 2
    AUDIO = 3
    EEG = 4
    AFFECT = 5
    CONFIG = 6
    HEARTBEAT = 7
    ERROR = 8
    ACK = 9


@dataclass(frozen=True)
class Packet:
    """One decoded wire frame (header fields and payload). Named apart from `devices.Frame`,
    the sensor block every source yields."""

    type: int
    seq: int
    timestamp_us: int
    payload: bytes
    flags: int = 0
    version: int = VERSION


def encode_frame(
    msg_type: int, seq: int, timestamp_us: int, payload: bytes = b"", flags: int = 0
) -> bytes:
    """One frame, delimiter included."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes; the protocol allows {MAX_PAYLOAD}")
    if not 0 <= seq <= 0xFFFF or not 0 <= timestamp_us < 1 << 64:
        raise ProtocolError(f"seq {seq} or timestamp {timestamp_us} out of range")
    raw = HEADER.pack(VERSION, int(msg_type), flags, 0, seq, timestamp_us) + payload
    raw += struct.pack("<I", crc32c(raw))
    return cobs_encode(raw) + b"\x00"


def parse_frame(block: bytes) -> Packet | str:
    """One COBS block (no delimiter) -> a Packet, or the name of what is wrong with it."""
    if len(block) > MAX_ENCODED:
        return "oversize"
    raw = cobs_decode(block)
    if raw is None:
        return "garbage"
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        return "short"
    body, crc = raw[:-CRC_SIZE], struct.unpack("<I", raw[-CRC_SIZE:])[0]
    if crc32c(body) != crc:
        return "bad_crc"
    version, msg_type, flags, _, seq, ts = HEADER.unpack_from(body)
    if version != VERSION:
        return "bad_version"
    if len(body) - HEADER_SIZE > MAX_PAYLOAD:
        return "oversize"
    return Packet(msg_type, seq, ts, bytes(body[HEADER_SIZE:]), flags, version)


@dataclass
class Decoder:
    """Bytes in any chunking -> good frames; every problem counted."""

    garbage: int = 0
    bad_crc: int = 0
    oversize: int = 0
    bad_version: int = 0
    short: int = 0
    gaps: int = 0
    lost: int = 0
    #: The sender's sequence went backwards: it restarted (not counted as lost frames).
    restarts: int = 0
    frames: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _skipping: bool = False
    _last_seq: int | None = None

    def feed(self, data: bytes) -> list[Packet]:
        out: list[Packet] = []
        start = 0
        n = len(data)
        while start < n:
            zero = data.find(b"\x00", start)
            if zero < 0:
                chunk = data[start:]
                if not self._skipping:
                    self._buf += chunk
                    if len(self._buf) > MAX_ENCODED:  # a frame that never ends: drop it
                        self.oversize += 1
                        self._buf.clear()
                        self._skipping = True
                break
            if self._skipping:
                self._skipping = False
            else:
                self._buf += data[start:zero]
                if self._buf:
                    self._take(bytes(self._buf), out)
                self._buf.clear()
            start = zero + 1
        return out

    def _take(self, block: bytes, out: list[Packet]) -> None:
        got = parse_frame(block)
        if isinstance(got, str):
            if got == "garbage":
                self.garbage += len(block)
            else:
                setattr(self, got, getattr(self, got) + 1)
            return
        if self._last_seq is not None:
            skipped = (got.seq - self._last_seq - 1) & 0xFFFF
            if skipped >= 0x8000:
                # Backwards (or a repeat): a sender that restarted its count, not 65,000 frames
                # lost. A gap of half the sequence space or more cannot be told from this.
                self.restarts += 1
            elif skipped:
                self.gaps += 1
                self.lost += skipped
        self._last_seq = got.seq
        self.frames += 1
        out.append(got)

    def stats(self) -> dict[str, int]:
        return {
            k: getattr(self, k)
            for k in (
                "frames",
                "garbage",
                "bad_crc",
                "oversize",
                "bad_version",
                "short",
                "gaps",
                "lost",
                "restarts",
            )
        }


# --- messages -----------------------------------------------------------------------------------
def _string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise ProtocolError(f"string of {len(data)} bytes; at most 255")
    return bytes([len(data)]) + data


def clip_text(text: str, limit: int = 255) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, on a character boundary (a wire string)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


class _Reader:
    def __init__(self, payload: bytes, what: str) -> None:
        self.data, self.pos, self.what = payload, 0, what

    def take(self, fmt: str):
        s = struct.Struct("<" + fmt)
        if self.pos + s.size > len(self.data):
            raise ProtocolError(f"{self.what} payload is truncated")
        values = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        n = self.take("B")
        if self.pos + n > len(self.data):
            raise ProtocolError(f"{self.what} payload is truncated")
        text = self.data[self.pos : self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return text

    def rest(self) -> bytes:
        return self.data[self.pos :]


@dataclass(frozen=True)
class Hello:
    device_id: str
    version: int = VERSION
    type = Type.HELLO

    def pack(self) -> bytes:
        return bytes([self.version]) + _string(self.device_id)

    @classmethod
    def unpack(cls, payload: bytes) -> Hello:
        r = _Reader(payload, "HELLO")
        version = r.take("B")
        return cls(r.string(), version)


SENSOR_KINDS = {1: "audio", 2: "eeg", 3: "camera"}


@dataclass(frozen=True)
class Sensor:
    kind: str
    rate_hz: int
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Caps:
    sensors: tuple[Sensor, ...]
    type = Type.CAPS

    def pack(self) -> bytes:
        codes = {v: k for k, v in SENSOR_KINDS.items()}
        out = bytes([len(self.sensors)])
        for s in self.sensors:
            out += struct.pack("<BIB", codes[s.kind], s.rate_hz, len(s.channels))
            out += b"".join(_string(c) for c in s.channels)
        return out

    @classmethod
    def unpack(cls, payload: bytes) -> Caps:
        r = _Reader(payload, "CAPS")
        sensors = []
        for _ in range(r.take("B")):
            kind, rate, n = r.take("BIB")
            if kind not in SENSOR_KINDS:
                raise ProtocolError(f"CAPS names an unknown sensor kind {kind}")
            sensors.append(Sensor(SENSOR_KINDS[kind], rate, tuple(r.string() for _ in range(n))))
        return cls(tuple(sensors))


@dataclass(frozen=True)
class Audio:
    rate_hz: int
    samples: np.ndarray  # (frames, channels) int16
    type = Type.AUDIO

    def pack(self) -> bytes:
        x = np.ascontiguousarray(self.samples, dtype="<i2")
        if x.ndim == 1:
            x = x[:, None]
        return struct.pack("<IB", self.rate_hz, x.shape[1]) + x.tobytes()

    @classmethod
    def unpack(cls, payload: bytes) -> Audio:
        r = _Reader(payload, "AUDIO")
        rate, channels = r.take("IB")
        body = r.rest()
        if channels == 0 or len(body) % (2 * channels):
            raise ProtocolError(
                f"AUDIO: {len(body)} bytes do not hold whole {channels}-channel samples"
            )
        return cls(rate, np.frombuffer(body, dtype="<i2").reshape(-1, channels))


@dataclass(frozen=True)
class Eeg:
    rate_hz: int
    samples: np.ndarray  # (frames, channels) integers
    scale_nv: float  # nanovolts per LSB
    fmt: int = 1  # 1 int16, 2 int24
    type = Type.EEG

    def pack(self) -> bytes:
        x = np.asarray(self.samples, dtype=np.int32)
        head = struct.pack("<HBBf", self.rate_hz, x.shape[1], self.fmt, self.scale_nv)
        if self.fmt == 1:
            return head + x.astype("<i2").tobytes()
        b = x.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        return head + b.tobytes()

    @classmethod
    def unpack(cls, payload: bytes) -> Eeg:
        r = _Reader(payload, "EEG")
        rate, channels, fmt, scale = r.take("HBBf")
        body = r.rest()
        width = {1: 2, 2: 3}.get(fmt)
        if width is None:
            raise ProtocolError(f"EEG sample format {fmt} is not 1 (int16) or 2 (int24)")
        if channels == 0 or len(body) % (width * channels):
            raise ProtocolError(f"EEG: {len(body)} bytes do not hold whole samples")
        if fmt == 1:
            x = np.frombuffer(body, dtype="<i2").astype(np.int32)
        else:
            b = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            x = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            x = np.where(x & 0x800000, x - (1 << 24), x)
        return cls(rate, x.reshape(-1, channels), scale, fmt)

    def microvolts(self) -> np.ndarray:
        return self.samples * (self.scale_nv / 1000.0)


MODALITY_CODES = {"speech": 1, "face": 2, "eeg": 3}
Q_NOT_UPDATED, Q_NOISY, Q_GAP, Q_FLAGGED, Q_BAND_LIMITED = 1, 2, 4, 8, 16


@dataclass(frozen=True)
class Affect:
    modality: str
    values: tuple[float, ...]
    quality: int = 0
    latency_us: int = 0
    window_end_us: int = 0
    type = Type.AFFECT

    def pack(self) -> bytes:
        q = np.round(np.clip(np.asarray(self.values, dtype=np.float64), 0, 1) * 65535)
        return (
            struct.pack(
                "<BBHIQ",
                MODALITY_CODES[self.modality],
                len(self.values),
                self.quality,
                min(self.latency_us, 0xFFFFFFFF),
                self.window_end_us,
            )
            + q.astype("<u2").tobytes()
        )

    @classmethod
    def unpack(cls, payload: bytes) -> Affect:
        r = _Reader(payload, "AFFECT")
        code, n, quality, latency, end = r.take("BBHIQ")
        names = {v: k for k, v in MODALITY_CODES.items()}
        if code not in names:
            raise ProtocolError(f"AFFECT names an unknown modality {code}")
        body = r.rest()
        if len(body) != 2 * n:
            raise ProtocolError(f"AFFECT says {n} values but holds {len(body)} bytes")
        values = np.frombuffer(body, dtype="<u2") / 65535.0
        return cls(names[code], tuple(float(v) for v in values), quality, latency, end)


@dataclass(frozen=True)
class Config:
    entries: tuple[tuple[str, str], ...]
    type = Type.CONFIG

    def pack(self) -> bytes:
        return bytes([len(self.entries)]) + b"".join(
            _string(k) + _string(v) for k, v in self.entries
        )

    @classmethod
    def unpack(cls, payload: bytes) -> Config:
        r = _Reader(payload, "CONFIG")
        return cls(tuple((r.string(), r.string()) for _ in range(r.take("B"))))


@dataclass(frozen=True)
class Heartbeat:
    type = Type.HEARTBEAT

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, payload: bytes) -> Heartbeat:
        return cls()


ERROR_CODES = {1: "bad frame", 2: "unsupported", 3: "overloaded", 4: "internal"}


@dataclass(frozen=True)
class Error:
    code: int
    message: str
    type = Type.ERROR

    def pack(self) -> bytes:
        # An error must always be sendable: its text is cut to the wire's limit, not refused.
        return struct.pack("<H", self.code) + _string(clip_text(self.message))

    @classmethod
    def unpack(cls, payload: bytes) -> Error:
        r = _Reader(payload, "ERROR")
        return cls(r.take("H"), r.string())


@dataclass(frozen=True)
class Ack:
    seq: int
    type = Type.ACK

    def pack(self) -> bytes:
        return struct.pack("<H", self.seq)

    @classmethod
    def unpack(cls, payload: bytes) -> Ack:
        return cls(_Reader(payload, "ACK").take("H"))


MESSAGES = {m.type: m for m in (Hello, Caps, Audio, Eeg, Affect, Config, Heartbeat, Error, Ack)}


def decode_message(frame: Packet):
    """The message a frame carries; a `ProtocolError` for an unknown type or a bad payload."""
    try:
        cls = MESSAGES[Type(frame.type)]
    except ValueError:
        raise ProtocolError(f"unknown message type {frame.type}") from None
    return cls.unpack(frame.payload)


def encode_message(message, seq: int, timestamp_us: int = 0, flags: int = 0) -> bytes:
    return encode_frame(message.type, seq, timestamp_us, message.pack(), flags)
