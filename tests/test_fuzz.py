"""Bounded fuzz runs of both decoders, in CI: libFuzzer on the C decoder (clang, with ASan and
UBSan) and atheris on the Python one, each seeded with the shared vectors. A crash, a sanitizer
report or a frame that does not re-encode to itself fails the run. `make test` runs each briefly
(4 s of libFuzzer, 3,000 atheris inputs); `make soak` runs them long (2 minutes, 100,000 inputs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge import vectors

ROOT = Path(__file__).resolve().parents[1]
C_DIR = ROOT / "firmware_bridge" / "c"

# libFuzzer's RSS limit reads the peak RSS of its process, and Linux carries a parent's peak over
# exec: started from a pytest process that has loaded the models (2.3 GB by the end of the suite),
# the fuzzer reports "out-of-memory" on its first input. So the RSS limit is off and a limit on any
# single allocation stands in for it (ASan's leak check still catches memory that grows).
MEMORY = ["-rss_limit_mb=0", "-malloc_limit_mb=256"]


def corpus(folder: Path) -> Path:
    folder.mkdir()
    for i, v in enumerate(vectors.vectors()):
        (folder / f"v{i}").write_bytes(v[5])
    (folder / "noise").write_bytes(b"\x13\x37\x00\x02\x01\x00" * 20)
    return folder


SHORT_AND_LONG = [
    pytest.param(4, 3000, id="short"),
    pytest.param(120, 100_000, id="long", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("seconds", "runs"), SHORT_AND_LONG)
def test_libfuzzer_on_the_c_decoder(tmp_path, seconds: int, runs: int):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (make installs it with apt)")
    exe = tmp_path / "fuzz_decoder"
    build = subprocess.run(
        [
            "clang",
            "-g",
            "-O1",
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=undefined",
            f"-I{C_DIR}",
            str(C_DIR / "affect_proto.c"),
            str(ROOT / "tests" / "fuzz" / "fuzz_decoder.c"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0 and "cannot find" in build.stderr and "fuzzer" in build.stderr:
        pytest.skip("clang has no libFuzzer runtime here (Debian: libclang-rt-14-dev)")
    assert build.returncode == 0, build.stderr
    run = subprocess.run(
        [
            str(exe),
            f"-max_total_time={seconds}",
            "-max_len=9000",
            *MEMORY,
            str(corpus(tmp_path / "corpus")),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr


@pytest.mark.parametrize(("seconds", "runs"), SHORT_AND_LONG)
def test_atheris_on_the_python_decoder(tmp_path, seconds: int, runs: int):
    pytest.importorskip("atheris")
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "fuzz" / "fuzz_python_decoder.py"),
            f"-atheris_runs={runs}",
            "-max_len=4096",
            *MEMORY,
            str(corpus(tmp_path / "corpus")),
        ],
        capture_output=True,
        text=True,
        timeout=300 + runs // 100,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Done {runs}" in run.stderr
