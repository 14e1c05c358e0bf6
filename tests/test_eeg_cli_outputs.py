"""What `affect-edge run eeg` shows and draws, through the real command on the OpenBCI GUI
recording in /work/shared/data: --plot (one figure, as run speech/face draw), and a table that
says when it thins its rows and never thins away a held or flagged window."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "affect-edge"
RECORDING = Path(
    "/work/shared/data/eeg-openbci/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
)  # 89 s of Cyton EEG with blinks and jaw clenches
CYTON = ("--channels", "Fp1,Fp2,C3,C4,P7,P8,O1,O2", "--engine", "onnx")

pytestmark = pytest.mark.skipif(not RECORDING.exists(), reason="shared OpenBCI recording absent")


def cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *argv], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_run_eeg_plots_the_levels_over_time(tmp_path: Path) -> None:
    done = cli("run", "eeg", str(RECORDING), *CYTON, "--plot", "levels", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("plot written to levels.png")
    assert (tmp_path / "levels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli("run", "eeg", str(RECORDING), *CYTON, "--plot", "/proc/x.png")
    assert bad.returncode == 2 and "cannot write '/proc/x.png'" in bad.stderr
    assert bad.stdout == ""  # refused before the run


def test_a_thinned_table_says_so_and_keeps_every_held_window() -> None:
    done = cli("run", "eeg", str(RECORDING), *CYTON)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    total, scored, held = map(
        int, re.search(r"(\d+) windows, (\d+) scored, (\d+) held", out).groups()
    )
    assert (total, held) == (77, 16) and scored == total - held
    rows = [ln for ln in out.splitlines() if re.match(r"│\s+\d+\.\d-", ln)]
    note = re.search(r"rows thinned: (\d+) of (\d+) windows shown", out)
    assert note and int(note.group(1)) == len(rows) < total and int(note.group(2)) == total
    assert sum("held" in r for r in rows) == held  # none hidden (a muscle window was before)
