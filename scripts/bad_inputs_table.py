"""Run every case of tests/cli_cases.py through `affect-edge` and write the README's table of bad
inputs (between <!-- bad-inputs --> and <!-- /bad-inputs -->) from what the command really did.

Usage: python scripts/bad_inputs_table.py   (make bench runs it)
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "soundfile", "cv2")
from tests.cli_cases import CASES, make_inputs, message, run_case  # noqa: E402


def main() -> None:
    rows = ["| input | exit | what the user reads |", "| --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp) / "in")
        for case in CASES:
            done = run_case(case, inputs, cwd=Path(tmp))
            text = message(case, done)
            for where in (str(inputs), tmp, str(ROOT)):
                text = text.replace(where, "…")
            text = text.replace("|", "\\|")
            rows.append(f"| {case.what} | {done.returncode} | {text} |")
    readme = ROOT / "README.md"
    body = "\n".join(
        ["Made by `python scripts/bad_inputs_table.py` (run by `make bench`).", "", *rows]
    )
    text = re.sub(
        r"(<!-- bad-inputs -->)\n.*?(<!-- /bad-inputs -->)",
        lambda m: f"{m.group(1)}\n{body}\n{m.group(2)}",
        readme.read_text(),
        flags=re.S,
    )
    readme.write_text(text)
    print(body)


if __name__ == "__main__":
    main()
