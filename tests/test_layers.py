"""The layers of ../shared/ARCHITECTURE.md hold: statically (import-linter) and at run time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    # The contracts live in pyproject.toml [tool.importlinter]: devices imports nothing of ours;
    # edge and firmware_bridge import no distill, quant or torch; distill imports no quant; no
    # package but the device CLI itself imports edge.cli. Judged as a whole table: every contract
    # the file names is listed KEPT (a count would pass with one dropped and another added).
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    names = [c["name"] for c in contracts["contracts"]]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    table = done.stdout + done.stderr
    print(table)  # the whole table, in the log of every run (pytest -rP or -s shows it)
    flat = " ".join(table.split())  # lint-imports wraps long names over lines
    verdicts = {name: re.search(re.escape(name) + r" (KEPT|BROKEN)", flat) for name in names}
    assert all(verdicts.values()), (
        f"contracts missing from the table: {[n for n, m in verdicts.items() if not m]}\n{table}"
    )
    broken = [n for n, m in verdicts.items() if m.group(1) != "KEPT"]
    assert not broken and done.returncode == 0, f"broken: {broken}\n{table}"
    assert len(names) >= 6 and any("edge.cli" in n for n in names)


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
