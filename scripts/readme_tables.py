"""Copy the measured tables from bench/results/NAME.md into README.md between its markers.

README.md holds `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->` pairs; everything between a pair
is replaced by the table and notes of bench/results/NAME.md, so the README quotes the latest
`make bench` run and never a number typed by hand. Run by `make bench`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def body(name: str) -> str:
    lines = (ROOT / "bench" / "results" / f"{name}.md").read_text().splitlines()
    made = next((ln for ln in lines if ln.startswith("Made by")), "")
    table = [ln for ln in lines if ln.startswith("|")]
    notes = [ln for ln in lines if ln.startswith("- ")]
    return "\n".join([made, "", *table, "", *notes])


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name in re.findall(r"<!-- bench:(\w+) -->", text):
        if (ROOT / "bench" / "results" / f"{name}.md").is_file():
            text = re.sub(
                rf"(<!-- bench:{name} -->)\n.*?(<!-- /bench:{name} -->)",
                lambda m, n=name: f"{m.group(1)}\n{body(n)}\n{m.group(2)}",
                text,
                flags=re.S,
            )
    readme.write_text(text)


if __name__ == "__main__":
    main()
