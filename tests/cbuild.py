"""Building the project's C under test: gcc with the flags the issues ask for (C99, every warning
an error, pedantic) and, where asked, AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE = ("-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined")

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def build_c(exe: Path, sources: Sequence[Path], include: Path, *flags: str) -> Path:
    """Compile and link `sources` into `exe` under STRICT plus `flags`; a failed build fails the
    test with the compiler's message."""
    cmd = ["gcc", *STRICT, *flags, f"-I{include}", *map(str, sources), "-o", str(exe), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return exe
