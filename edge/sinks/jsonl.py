"""`JsonLinesSink`: one event per line of compact JSON, to stdout or to a file.

A crash never leaves a half line behind for a reader to choke on: each line is written with one
`write` system call on a file opened for appending, and when the sink opens a file whose last
line is incomplete (a crash or power loss mid-write on an earlier run), it cuts that fragment off
before appending. Nothing before the fragment is touched.

It only ever appends to its own files, one writer at a time (an advisory lock, `flock`): the
path is opened without following a symbolic link (``O_NOFOLLOW``), must be a regular file, and a
non-empty file whose last complete line is not one of our events (a text file, a JPEG, a config)
is refused in one line, untouched.

A full disk (or a file-size limit) never tears the middle of the file: a short or failed write
is cut back to the last whole line, the event is counted in `dropped`, and the loss is logged at
most once every `LOG_EVERY_S` seconds; when space returns, the next line follows whole lines.

On stdout a closed pipe (the reader went away, as with `| head`) raises `BrokenPipeError`, so the
command can stop; any other write failure is counted in `dropped` and logged, never raised.

With ``max_bytes``, a file is rotated before a line would take it past that size: `events.jsonl`
becomes `events.jsonl.1` (and `.1` becomes `.2`, up to ``backups`` old files, the oldest
deleted), and a new file is started, so a daemon that runs for months keeps bounded disk use.
Rotation only renames whole files: every file holds whole lines.

A file moved or deleted while the sink writes (logrotate's `mv`, an `rm`) is noticed within
`CHECK_EVERY_S` and started again at its path (`reopened` counts it), so nothing more goes to a
file nobody can see.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import sys
import time
from pathlib import Path
from typing import IO

from edge.errors import ConfigError
from edge.events import AffectEvent

log = logging.getLogger(__name__)


#: Every line the sink writes starts so (`AffectEvent.to_json`): how it knows its own files.
_OURS = b'{"schema_version":'
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
#: At most one log line per this many seconds about lost events.
LOG_EVERY_S = 10.0
#: How often (at most) a write checks that the path still names the open file.
CHECK_EVERY_S = 1.0


def _is_ours(line: bytes) -> bool:
    """Whether a complete line is one of our events (compact or spaced JSON)."""
    if not line.lstrip().startswith(b"{"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "schema_version" in record and "modality" in record


def _last_lines(fd: int) -> tuple[bytes | None, int]:
    """The file's last complete line (None if it has none) and the offset where its trailing
    incomplete line starts (the size when it ends in a newline)."""
    size = os.fstat(fd).st_size
    pos, chunk, tail_start = size, 4096, None
    data = b""
    while pos > 0:
        start = max(0, pos - chunk)
        data = os.pread(fd, pos - start, start) + data
        pos = start
        if len(data) > 1 << 20:  # a 1 MiB "line" is nobody's event
            return b"", size if tail_start is None else tail_start
        if tail_start is None:
            newline = data.rfind(b"\n")
            if newline < 0:
                continue
            tail_start = pos + newline + 1
        # The last complete line ends at tail_start - 1; look for the newline before it.
        end = tail_start - 1 - pos
        before = data.rfind(b"\n", 0, end)
        if before >= 0 or pos == 0:
            return data[before + 1 : end], tail_start
    return None, 0


def _check_and_repair(fd: int, path: Path) -> int:
    """Refuse a file that is not an event file of ours; cut off a trailing fragment of an
    interrupted write. Returns the bytes removed."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    last, tail_start = _last_lines(fd)
    if last is None:
        # No complete line: only an interrupted first event of ours may be cut.
        if not os.pread(fd, len(_OURS), 0).startswith(_OURS[: min(size, len(_OURS))]):
            raise ConfigError(
                f"{path} is not an affect-edge event file (it has no JSON event lines); "
                "not appending to it: name a new file"
            )
    elif not _is_ours(last):
        raise ConfigError(
            f"{path} is not an affect-edge event file (its last line is not an event); "
            "not appending to it: name a new file"
        )
    if tail_start < size:
        os.ftruncate(fd, tail_start)
    return size - tail_start


class JsonLinesSink:
    """``target``: a file path, "-" for standard output, or an open text stream."""

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str] = "-",
        fsync: bool = False,
        max_bytes: int | None = None,
        backups: int = 3,
    ) -> None:
        if max_bytes is not None and max_bytes < 1024:
            raise ConfigError(f"max_bytes must be at least 1024, got {max_bytes}")
        if backups < 1:
            raise ConfigError(f"backups must be at least 1, got {backups}")
        self.written = 0
        self.dropped = 0
        self.rotations = 0
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self.repaired_bytes = 0
        #: Bytes of torn lines cut back after short or failed writes (a full disk).
        self.rolled_back_bytes = 0
        self._unlogged = 0
        self._last_log = -LOG_EVERY_S
        #: Times the file was started again at its path after it was moved or removed.
        self.reopened = 0
        self._checked = time.monotonic()
        self._fd: int | None = None
        self._stream: IO[str] | None = None
        if target == "-":
            self._stream = sys.stdout
            self.name = "<stdout>"
        elif hasattr(target, "write"):
            self._stream = target  # type: ignore[assignment]
            self.name = getattr(target, "name", "<stream>")
        else:
            path = Path(target)  # type: ignore[arg-type]
            self.name = str(path)
            if path.is_dir():
                raise ConfigError(f"event output {path} is a directory; name a file")
            if not path.parent.is_dir():
                raise ConfigError(
                    f"cannot write events to {path}: folder {path.parent} does not exist"
                )
            self._path = path
            try:
                self._fd, self.repaired_bytes, self._size = self._open_checked(path)
            except OSError as exc:
                raise ConfigError(f"cannot write events to {path}: {exc.strerror}") from exc
            if self.repaired_bytes:
                log.warning(
                    "%s ended in an incomplete line (%d bytes, from an interrupted run): removed",
                    path,
                    self.repaired_bytes,
                )

    def write(self, event: AffectEvent) -> None:
        line = event.to_json() + "\n"
        if self._stream is not None:
            self._stream.write(line)  # BrokenPipeError propagates: the reader is gone
            self._stream.flush()
            self.written += 1
            return
        data = line.encode()
        try:
            now = time.monotonic()
            if now - self._checked >= CHECK_EVERY_S:
                self._checked = now
                self._follow_path()
            if (
                self.max_bytes is not None
                and self._size
                and self._size + len(data) > self.max_bytes
            ):
                self._rotate()
            done = os.write(self._fd, data)
            if done < len(data):
                # A regular file short-writes only when the disk (or a size limit) is full:
                # one retry, then the torn line is cut back off.
                done += os.write(self._fd, data[done:])
                if done < len(data):
                    raise OSError(28, "No space left on device (short write)")
            self._size += len(data)
            self.written += 1
        except OSError as exc:
            self._lost(exc)
        except ConfigError as exc:  # the file could not be opened again (its folder went away)
            self._lost(OSError(errno.ENOENT, str(exc)))

    def _follow_path(self) -> None:
        """Write to what the path names now: a file deleted or moved away (logrotate's `mv` then
        SIGHUP, an `rm`) is started again at the path, and a file put there is appended to."""
        try:
            now = os.stat(self._path, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if self._fd is not None:
            was = os.fstat(self._fd)
            if now is not None and (now.st_ino, now.st_dev) == (was.st_ino, was.st_dev):
                return
        # ConfigError: the folder is gone, or the path is no regular file or no event file.
        fd, _, size = self._open_checked(self._path)
        self._replace_fd(fd, size)
        self.reopened += 1
        log.warning(
            "%s %s: writing to %s",
            self.name,
            "was moved or removed" if now is None else "is another file now",
            "a new file there" if now is None else "that file",
        )

    def _lost(self, exc: OSError) -> None:
        """One event not written: the file goes back to its last whole line, the loss is
        counted, and it is logged at most once per `LOG_EVERY_S`."""
        self.dropped += 1
        self._unlogged += 1
        with contextlib.suppress(OSError):
            size = os.fstat(self._fd).st_size
            if size > self._size:
                os.ftruncate(self._fd, self._size)
                self.rolled_back_bytes += size - self._size
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            log.error(
                "%d event(s) not written to %s: %s (%d lost so far; the file keeps whole lines)",
                self._unlogged,
                self.name,
                exc.strerror or exc,
                self.dropped,
            )
            self._unlogged = 0
            self._last_log = now

    def _replace_fd(self, fd: int, size: int) -> None:
        """Write to `fd` from now on and close the old file. The old file is closed only once
        the new one is open: a descriptor number this sink once held may by then belong to a
        source or a socket, so it never keeps, nor closes twice, one it has closed."""
        old, self._fd, self._size = self._fd, fd, size
        if old is not None:
            os.close(old)

    def _rotate(self) -> None:
        """Shift the old files up and start a new one (`_replace_fd`: even when a rename fails
        midway, no closed descriptor is kept)."""
        path = self._path
        oldest = path.with_name(f"{path.name}.{self.backups}")
        oldest.unlink(missing_ok=True)
        for k in range(self.backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{k}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{k + 1}"))
        with contextlib.suppress(FileNotFoundError):  # removed by someone: nothing to keep
            path.replace(path.with_name(f"{path.name}.1"))
        fd = self._open(path)
        self._replace_fd(fd, os.fstat(fd).st_size)
        self.rotations += 1

    @classmethod
    def _open_checked(cls, path: Path) -> tuple[int, int, int]:
        """`_open`, then `_check_and_repair`: the descriptor, the bytes of an interrupted line
        cut off, and the size; the descriptor is closed if the file is refused or unreadable."""
        fd = cls._open(path)
        try:
            repaired = _check_and_repair(fd, path)
            return fd, repaired, os.fstat(fd).st_size
        except (OSError, ConfigError):
            os.close(fd)
            raise

    @staticmethod
    def _open(path: Path) -> int:
        """The event file, opened for appending: never through a symbolic link, and only a
        regular file (not a FIFO, a device or a socket)."""
        try:
            fd = os.open(path, _OPEN_FLAGS | os.O_NONBLOCK, 0o640)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError(
                    f"cannot write events to {path}: it is a symbolic link; name the file itself"
                ) from None
            raise ConfigError(f"cannot write events to {path}: {exc.strerror}") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise ConfigError(f"cannot write events to {path}: not a regular file")
        try:  # one writer per file: two would interleave their lines and their rotations
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"cannot write events to {path}: another sink or process is writing to it; "
                "name another file"
            ) from None
        os.set_blocking(fd, True)
        return fd

    def flush(self) -> None:
        if self._stream is not None:
            self._stream.flush()
        elif self._fd is not None and self.fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            self.flush()
            os.close(self._fd)
            self._fd = None
        elif self._stream is not None:
            self._stream.flush()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
