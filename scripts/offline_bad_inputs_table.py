"""Run every case of tests/offline_cases.py through `affect-edge` and write the README's table of
hostile inputs to the offline commands (between <!-- offline-bad-inputs --> and
<!-- /offline-bad-inputs -->) from what the command really printed.

Usage: .venv/bin/python scripts/offline_bad_inputs_table.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "torch")
from tests.offline_cases import CASES, make_inputs, run_case  # noqa: E402


def main() -> None:
    rows = ["| input | exit | what the user reads |", "| --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp) / "in")
        for case in CASES:
            done = run_case(case, inputs)
            line = next(
                (ln for ln in done.stderr.splitlines() if ": error: " in ln),
                done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "",
            )
            for where in (str(inputs), tmp, str(ROOT)):
                line = line.replace(where, "…")
            rows.append(f"| {case.what} | {done.returncode} | {line.replace('|', chr(92) + '|')} |")
    readme = ROOT / "README.md"
    body = "\n".join(["Made by `.venv/bin/python scripts/offline_bad_inputs_table.py`.", "", *rows])
    text = re.sub(
        r"(<!-- offline-bad-inputs -->)\n.*?(<!-- /offline-bad-inputs -->)",
        lambda m: f"{m.group(1)}\n{body}\n{m.group(2)}",
        readme.read_text(),
        flags=re.S,
    )
    readme.write_text(text)


if __name__ == "__main__":
    main()
