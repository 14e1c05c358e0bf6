"""Holding back what native libraries print on fd 2, so it never lands in the middle of our output.

C libraries (LiteRT announcing its XNNPACK delegate, libmpg123 complaining about frames it
conceals) write to the process's fd 2 directly, past Python's `sys.stderr`. `native_stderr`
points fd 2 at a temporary file while a block runs and hands back the lines written there; the
caller decides which to drop, log or re-emit. Where stderr is not a real file (captured by a
test runner), nothing is redirected and nothing is collected.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr(into: list[str]) -> Iterator[None]:
    """Collect the lines native code writes to fd 2 during the block into `into`."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as trap:
        os.dup2(trap.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            trap.seek(0)
            into.extend(
                line for line in trap.read().decode(errors="replace").splitlines() if line.strip()
            )
