"""`JsonLinesSink`: one event per line of compact JSON, to stdout or to a file.

A crash never leaves a half line behind for a reader to choke on: each line is written with one
`write` system call on a file opened for appending, and when the sink opens a file whose last
line is incomplete (a crash or power loss mid-write on an earlier run), it cuts that fragment off
before appending. Nothing before the fragment is touched.

On stdout a closed pipe (the reader went away, as with `| head`) raises `BrokenPipeError`, so the
command can stop; any other write failure is counted in `dropped` and logged, never raised.

With ``max_bytes``, a file is rotated before a line would take it past that size: `events.jsonl`
becomes `events.jsonl.1` (and `.1` becomes `.2`, up to ``backups`` old files, the oldest
deleted), and a new file is started, so a daemon that runs for months keeps bounded disk use.
Rotation only renames whole files: every file holds whole lines.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import IO

from edge.errors import ConfigError
from edge.events import AffectEvent

log = logging.getLogger(__name__)


def _cut_partial_line(fd: int) -> int:
    """Truncate a trailing incomplete line; return the bytes removed."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    pos = size
    chunk = 4096
    while pos > 0:
        start = max(0, pos - chunk)
        data = os.pread(fd, pos - start, start)
        if pos == size and data.endswith(b"\n"):
            return 0
        newline = data.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            os.ftruncate(fd, keep)
            return size - keep
        pos = start
    os.ftruncate(fd, 0)
    return size


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
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
                self.repaired_bytes = _cut_partial_line(self._fd)
                self._size = os.fstat(self._fd).st_size
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
            if (
                self.max_bytes is not None
                and self._size
                and self._size + len(data) > self.max_bytes
            ):
                self._rotate()
            done = os.write(self._fd, data)
            while done < len(data):  # a regular file short-writes only when the disk is full
                done += os.write(self._fd, data[done:])
            self._size += len(data)
            self.written += 1
        except OSError as exc:
            self.dropped += 1
            log.error("event not written to %s: %s", self.name, exc.strerror)

    def _rotate(self) -> None:
        os.close(self._fd)
        path = self._path
        oldest = path.with_name(f"{path.name}.{self.backups}")
        oldest.unlink(missing_ok=True)
        for k in range(self.backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{k}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{k + 1}"))
        path.replace(path.with_name(f"{path.name}.1"))
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        self._size = 0
        self.rotations += 1

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
