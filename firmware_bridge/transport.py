"""Byte links to a device: a serial port (pyserial), UDP, standard input/output, and a recording
of one (`FileTransport`).

Each transport has `read() -> bytes` (what arrived within about 50 ms, possibly nothing),
`write(bytes)` and `close()`. A serial port that disappears (a USB adapter unplugged) is
reopened with doubling back-off, up to 5 s between tries, for as long as the bridge runs;
`reopens` counts the successful reopens and `write` drops (and counts) what it cannot send
meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import sys
import time

from devices.errors import ConfigError, SourceError

log = logging.getLogger(__name__)


class SerialTransport:
    def __init__(self, port: str, baud: int = 921_600) -> None:
        try:
            import serial
        except ImportError as exc:  # pragma: no cover - the bridge extra installs it
            raise ConfigError(
                "the serial link needs pyserial: pip install 'affect-edge[bridge]'"
            ) from exc
        self._serial_mod = serial
        self.port, self.baud = port, baud
        self.reopens = 0
        self.losses = 0
        self.write_drops = 0
        self._backoff = 0.1
        self._next_try = 0.0
        self._ser = None
        self._open(first=True)

    def _open(self, first: bool = False) -> None:
        try:
            self._ser = self._serial_mod.Serial(self.port, self.baud, timeout=0.05)
        except (OSError, self._serial_mod.SerialException) as exc:
            if first:
                raise SourceError(f"cannot open serial port {self.port}: {exc}") from None
            self._ser = None
            self._next_try = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, 5.0)
            return
        if not first:
            self.reopens += 1
            log.warning("serial port %s is back", self.port)
        self._backoff = 0.1

    def _lost(self, exc: Exception) -> None:
        log.warning("serial port %s lost: %s; reopening", self.port, exc)
        self.losses += 1
        with contextlib.suppress(Exception):
            self._ser.close()
        self._ser = None
        self._next_try = time.monotonic() + self._backoff

    def read(self) -> bytes:
        if self._ser is None:
            if time.monotonic() < self._next_try:
                time.sleep(0.05)
                return b""
            self._open()
            if self._ser is None:
                return b""
        try:
            first = self._ser.read(1)
            if not first:
                return b""
            waiting = self._ser.in_waiting
            return first + (self._ser.read(waiting) if waiting else b"")
        except (OSError, self._serial_mod.SerialException) as exc:
            self._lost(exc)
            return b""

    def write(self, data: bytes) -> None:
        if self._ser is None:
            self.write_drops += 1
            return
        try:
            self._ser.write(data)
        except (OSError, self._serial_mod.SerialException) as exc:
            self.write_drops += 1
            self._lost(exc)

    def close(self) -> None:
        if self._ser is not None:
            self._ser.close()
            self._ser = None


class UdpTransport:
    """Listens on host:port (loopback by default); answers whoever sent the last datagram."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.bind((host or "127.0.0.1", int(port)))
        except (ValueError, OSError) as exc:
            raise ConfigError(f"cannot listen on UDP {address}: {exc}") from None
        self._sock.settimeout(0.05)
        self.address = self._sock.getsockname()
        self._peer = None
        self.reopens = 0
        self.write_drops = 0

    def read(self) -> bytes:
        try:
            data, self._peer = self._sock.recvfrom(65536)
        except TimeoutError:
            return b""
        return data

    def read_from(self) -> tuple[bytes, tuple | None]:
        """One datagram and who sent it (b"", None when nothing came): the bridge keeps one
        session per sender."""
        try:
            data, peer = self._sock.recvfrom(65536)
        except TimeoutError:
            return b"", None
        self._peer = peer
        return data, peer

    def write(self, data: bytes) -> None:
        if self._peer is None:
            self.write_drops += 1
            return
        self.write_to(data, self._peer)

    def write_to(self, data: bytes, peer) -> None:
        try:
            self._sock.sendto(data, peer)  # whole frames: a frame never spans datagrams
        except OSError:
            self.write_drops += 1

    def close(self) -> None:
        self._sock.close()


class StdioTransport:
    """Frames on standard input, replies on standard output (for a pipe or a socat link)."""

    def __init__(self) -> None:
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self.reopens = 0
        self.write_drops = 0
        self.closed = False

    def read(self) -> bytes:
        ready, _, _ = select.select([self._in], [], [], 0.05)
        if not ready:
            return b""
        data = os.read(self._in.fileno(), 65536)
        if not data:
            self.closed = True
        return data

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()

    def close(self) -> None:
        pass


class FileTransport:
    """A recorded byte stream (what a device sent, captured from its link) played back as fast
    as it is read; it closes at the end of the file. Replies have nowhere to go: they are
    counted in `write_drops`."""

    def __init__(self, path: str, chunk: int = 4096) -> None:
        try:
            self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ConfigError(f"cannot read the wire recording {path}: {exc}") from None
        self.chunk = chunk
        self.reopens = 0
        self.write_drops = 0
        self.closed = False

    def read(self) -> bytes:
        data = self._file.read(self.chunk)
        if not data:
            self.closed = True
        return data

    def write(self, data: bytes) -> None:
        self.write_drops += 1

    def close(self) -> None:
        self._file.close()


def open_uri(uri: str, baud: int = 921_600):
    """The byte link a URI names (opened); whether it is a pipe (one that can wait)."""
    if uri.startswith("file:"):
        return FileTransport(uri[5:]), True
    kind, _, where = uri.split(":", 1)[1].partition(":")
    if kind == "stdio" and not where:
        return StdioTransport(), True
    if kind == "udp" and where:
        return UdpTransport(where), False
    if kind == "serial" and where:
        return SerialTransport(where, baud), False
    raise ConfigError(f"{uri!r}: a wire link is wire:serial:PORT, wire:udp:HOST:PORT or wire:stdio")
