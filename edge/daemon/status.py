"""The status socket: a Unix socket (mode 0660) answering each connection with one JSON line.

Per modality its state, frames, events, restarts and last error, the pipeline's figures (latency
per stage, dropped windows), the bus and the sinks' counts, and the process's RSS and CPU time;
`read_status` is what `affect-edge status` reads it with.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

log = logging.getLogger(__name__)


class StatusServer:
    """A Unix socket (mode 0660) answering each connection with one JSON snapshot line.

    The socket is bound at once (a path that cannot be bound fails the daemon's start), and
    answered from `start()` on: a client that connects in between waits in the backlog until the
    daemon has what a snapshot reads."""

    def __init__(self, path: str, snapshot) -> None:
        from edge.sinks.unix import listen_unix

        self.path = Path(path)
        self._sock = listen_unix(self.path, 0o660, 4)
        self._inode = _inode(self.path)
        self._sock.settimeout(0.5)
        self._snapshot = snapshot
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="status", daemon=True)

    def lost(self) -> bool:
        """Whether the path no longer names this server's socket (removed, or replaced)."""
        return _inode(self.path) != self._inode

    def start(self) -> StatusServer:
        if not self._thread.is_alive() and not self._closing:
            self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if self._closing:
                conn.close()
                break
            with conn, contextlib.suppress(OSError):
                try:
                    line = json.dumps(self._snapshot(), default=str) + "\n"
                except Exception:  # a snapshot that failed must not end the serving thread
                    log.exception("status socket %s: the snapshot failed", self.path)
                    continue
                conn.sendall(line.encode())

    def close(self) -> None:
        self._closing = True
        # Wake the accept at once (it waits up to 0.5 s otherwise: half of a SIGTERM's stop).
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as poke:
            poke.settimeout(0.2)
            poke.connect(str(self.path))
        if self._thread.is_alive():
            self._thread.join(2)
        self._sock.close()
        if not self.lost():  # never another server's socket put at the same path since
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def read_status(path: str | Path, timeout_s: float = 2.0) -> dict[str, Any]:
    """One snapshot from a daemon's status socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except FileNotFoundError:
        raise ConfigError(f"no daemon status socket at {path}") from None
    except TimeoutError:
        raise ConfigError(
            f"{path} sent no status within {timeout_s:g} s: the daemon is not answering "
            "(stopped or overloaded), or this is not its status_socket (an events socket?)"
        ) from None
    except ConnectionRefusedError:
        raise ConfigError(
            f"no daemon is serving {path}: the daemon is not running (the socket file is left "
            "from an earlier run)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the daemon's status at {path} ({exc})") from None
    finally:
        s.close()
    try:
        snap = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        snap = None
    if not isinstance(snap, dict) or not {"pid", "modalities", "bus", "sinks"} <= snap.keys():
        raise ConfigError(
            f"{path} is not a daemon status socket (it sent something else: an events socket?); "
            "give the status_socket from the daemon's config"
        )
    return snap
