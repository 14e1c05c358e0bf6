"""`UnixSocketSink`: events as JSON lines to every client of a Unix domain socket.

Local apps (a hearing-aid companion, a dashboard, `affect-edge status`) connect to the socket
and read one event per line. The socket file is created with mode 0660 (owner and group only);
no network port is opened. Each client has its own bounded backlog (`max_backlog` bytes): a
client that stops reading is disconnected alone when its backlog is full, counted in
`clients_dropped`, and everyone else goes on. One I/O thread serves every client with
non-blocking sends; `write` only formats the line once and appends it to each backlog.

At most `max_clients` clients at once (each may hold up to `max_backlog` bytes): one more is
accepted and closed at once, counted in `clients_refused`. When accepting fails (out of file
descriptors, say), the listening socket is left alone for a back-off (0.05 s doubling to 2 s)
instead of spinning a core on it, and the failure is logged once per back-off run.

A stale socket file left by a crashed run is replaced; a socket that another live process is
listening on is an error rather than stolen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import stat
import threading
import time
from pathlib import Path

from edge.errors import ConfigError
from edge.events import AffectEvent

log = logging.getLogger(__name__)

MAX_ACCEPT_BACKOFF_S = 2.0


class _Client:
    __slots__ = ("backlog", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.backlog = bytearray()


def listen_unix(path: Path, mode: int = 0o660, backlog: int = 16) -> socket.socket:
    """A listening Unix socket at `path`, created with `mode`. A stale socket file (nobody
    listens) is replaced; a live one, or a file that is not a socket, is a `ConfigError`."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(f"{path} exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: nobody listens
        else:
            raise ConfigError(f"{path}: another process is serving this socket")
        finally:
            probe.close()
    if not path.parent.is_dir():
        raise ConfigError(f"folder {path.parent} does not exist")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)
    try:
        server.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, mode)
    server.listen(backlog)
    return server


class UnixSocketSink:
    def __init__(
        self,
        path: str | Path,
        mode: int = 0o660,
        max_backlog: int = 1 << 20,
        max_clients: int = 64,
    ) -> None:
        if max_clients < 1:
            raise ConfigError(f"max_clients must be at least 1, got {max_clients}")
        self.path = Path(path)
        self.written = 0
        self.dropped = 0
        self.clients_dropped = 0
        #: Connections closed at once because `max_clients` were connected.
        self.clients_refused = 0
        #: Times accepting a connection failed (out of file descriptors, say).
        self.accept_failures = 0
        self.max_clients = int(max_clients)
        self._accept_backoff = 0.0
        self._accept_paused_until: float | None = None
        #: Connections accepted so far (clients that hung up included).
        self.connections = 0
        self.max_backlog = int(max_backlog)
        self._server = listen_unix(self.path, mode, 16)
        self._server.setblocking(False)
        self._clients: dict[int, _Client] = {}
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        # Never blocks a writer: a full wake pipe already holds the wake-up.
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self.serve_failures = 0
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="unix-sink", daemon=True)
        self._thread.start()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def write(self, event: AffectEvent) -> None:
        line = (event.to_json() + "\n").encode()
        with self._lock:
            for client in list(self._clients.values()):
                if len(client.backlog) + len(line) > self.max_backlog:
                    self._drop(client, "it stopped reading")
                    continue
                client.backlog += line
        self.written += 1
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _drop(self, client: _Client, why: str) -> None:
        """Disconnect one client (lock held)."""
        fd = client.sock.fileno()
        self._clients.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(client.sock)
        client.sock.close()
        self.clients_dropped += 1
        log.warning("unix sink: dropped a client of %s: %s", self.path, why)

    def _serve(self) -> None:
        """The serving loop; an unexpected error drops the clients (they reconnect) and serving
        goes on, rather than the thread ending with writers still queueing for it."""
        while not self._closing:
            try:
                self._serve_once()
            except Exception:
                self.serve_failures += 1
                if self.serve_failures == 1 or self.serve_failures % 100 == 0:
                    log.exception(
                        "unix sink %s: serving failed (%d so far); its clients are dropped",
                        self.path,
                        self.serve_failures,
                    )
                with self._lock:
                    for client in self._clients.values():
                        with contextlib.suppress(Exception):
                            self._selector.unregister(client.sock)
                        with contextlib.suppress(OSError):
                            client.sock.close()
                    self.clients_dropped += len(self._clients)
                    self._clients.clear()
                time.sleep(0.1)

    def _serve_once(self) -> None:
        if self._accept_paused_until is not None and time.monotonic() >= self._accept_paused_until:
            self._accept_paused_until = None
            self._selector.register(self._server, selectors.EVENT_READ)
        with self._lock:
            for client in self._clients.values():
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.backlog else 0)
                self._selector.modify(client.sock, events, client)
        for key, mask in self._selector.select(timeout=0.5):
            if key.fileobj is self._server:
                self._accept()
            elif key.fileobj is self._wake_r:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            else:
                self._service(key.data, mask)

    def _accept(self) -> None:
        try:
            sock, _ = self._server.accept()
        except BlockingIOError:
            return
        except OSError as exc:
            # The connection waits in the listen queue and the socket stays readable: stop
            # watching it for a while rather than spin.
            self.accept_failures += 1
            first = self._accept_backoff == 0.0
            self._accept_backoff = min(max(0.05, self._accept_backoff * 2), MAX_ACCEPT_BACKOFF_S)
            self._accept_paused_until = time.monotonic() + self._accept_backoff
            self._selector.unregister(self._server)
            if first:
                log.error("unix sink %s: cannot accept a client (%s); backing off", self.path, exc)
            return
        self._accept_backoff = 0.0
        if len(self._clients) >= self.max_clients:
            sock.close()
            self.clients_refused += 1
            if self.clients_refused == 1 or self.clients_refused % 100 == 0:
                log.warning(
                    "unix sink %s: %d clients connected (max_clients); refused %d so far",
                    self.path,
                    len(self._clients),
                    self.clients_refused,
                )
            return
        sock.setblocking(False)
        client = _Client(sock)
        with self._lock:
            self._clients[sock.fileno()] = client
            self._selector.register(sock, selectors.EVENT_READ, client)
            self.connections += 1

    def _service(self, client: _Client, mask: int) -> None:
        with self._lock:
            if client.sock.fileno() not in self._clients:
                return
            if mask & selectors.EVENT_READ:
                try:
                    data = client.sock.recv(4096)
                except BlockingIOError:
                    data = b"x"
                except OSError:
                    data = b""
                if not data:  # the client hung up
                    self._clients.pop(client.sock.fileno(), None)
                    self._selector.unregister(client.sock)
                    client.sock.close()
                    return
            if mask & selectors.EVENT_WRITE and client.backlog:
                try:
                    sent = client.sock.send(client.backlog)
                except BlockingIOError:
                    return
                except OSError:
                    self._drop(client, "the connection broke")
                    return
                del client.backlog[:sent]

    def flush(self, timeout_s: float = 2.0) -> None:
        """Wait (up to `timeout_s`) until every client's backlog is handed to the kernel."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not any(c.backlog for c in self._clients.values()):
                    return
            self._wake()
            time.sleep(0.005)

    def close(self) -> None:
        if self._closing:
            return
        self.flush()
        self._closing = True
        self._wake()
        self._thread.join(timeout=2)
        with self._lock:
            for client in list(self._clients.values()):
                client.sock.close()
            self._clients.clear()
        self._selector.close()
        self._server.close()
        self._wake_r.close()
        self._wake_w.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> UnixSocketSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
