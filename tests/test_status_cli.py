"""`affect-edge status` on a running `affect-edge daemon` (both real processes): a file that
loops is counted as loops, not as restarts (restarts are reopenings after a failure)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
BIN = Path(sys.executable).parent / "affect-edge"


def status(sock: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN), "status", "--socket", str(sock), *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "300"},  # one line per row
    )


def test_a_looping_file_counts_loops_not_restarts(tmp_path: Path) -> None:
    sock = tmp_path / "status.sock"
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        f'status_socket = "{sock}"\n'
        f'[speech]\nsource = "file:{CLIP}"\npace = false\nloop = true\n'
        f'[[sinks]]\nkind = "jsonl"\npath = "{tmp_path / "e.jsonl"}"\n'
    )
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        speech = {}
        while time.monotonic() < deadline:
            if sock.exists() and (done := status(sock, "--json")).returncode == 0:
                speech = json.loads(done.stdout)["modalities"]["speech"]
                if speech["loops"] >= 2:
                    break
            time.sleep(0.3)
        assert speech.get("loops", 0) >= 2, speech
        assert speech["restarts"] == 0 and speech["failures"] == 0
        table = status(sock)
        assert table.returncode == 0, table.stderr
        header = next(ln for ln in table.stdout.splitlines() if "restarts" in ln)
        names = [c.strip() for c in header.strip().strip("┃").split("┃")]
        row = next(ln for ln in table.stdout.splitlines() if ln.startswith("│ speech"))
        cells = [c.strip() for c in row.strip().strip("│").split("│")]
        assert cells[names.index("restarts")] == "0"
        assert int(cells[names.index("loops")]) >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
