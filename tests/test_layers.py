"""The layers of ../shared/ARCHITECTURE.md hold: statically (import-linter) and at run time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    # The contracts live in pyproject.toml [tool.importlinter]: devices imports nothing of ours;
    # edge and firmware_bridge import no distill, quant or torch; distill imports no quant.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


PROBE = """
import json, sys
from edge.cli.main import main
code = main(sys.argv[1:])
offline = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "distill", "quant"))
print(json.dumps({"code": code, "offline": offline}), file=sys.stderr)
"""


def test_device_commands_load_no_offline_code(tmp_path: Path) -> None:
    clip = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
    for argv in (["--help"], ["run", "speech", str(clip), "--json"], ["models", "list"]):
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
        )
        report = (
            json.loads(done.stderr.strip().splitlines()[-1]) if "offline" in done.stderr else None
        )
        if argv == ["--help"]:  # argparse exits before the probe prints
            assert done.returncode == 0
            continue
        assert report is not None, done.stderr
        assert report == {"code": 0, "offline": []}, (argv, report)
