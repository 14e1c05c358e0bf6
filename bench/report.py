"""Write a benchmark's rows as JSON and as a Markdown table under bench/results/."""

from __future__ import annotations

import json
from pathlib import Path

from bench.timing import fmt_time

RESULTS = Path(__file__).resolve().parent / "results"


def header(title: str, command: str, machine: dict, what: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Made by `{command}` on {machine['date']}: {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}, NumPy {machine['numpy']}. {what}",
        "",
    ]


def write_table(
    name: str,
    title: str,
    command: str,
    machine: dict,
    what: str,
    columns: list[str],
    rows: list[list[str]],
    data: dict,
    notes: list[str],
) -> Path:
    """A Markdown table with free columns, plus the raw figures as JSON."""
    RESULTS.mkdir(exist_ok=True)
    payload = {"title": title, "command": command, "machine": machine, **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = header(title, command, machine, what)
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    lines += ["", *[f"- {n}" for n in notes], ""]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines))
    return path


def write(
    name: str, title: str, command: str, machine: dict, rows: list[dict], notes: list[str]
) -> Path:
    """Ours-vs-comparator rows {case, ours, ours_s, comparator, comparator_s, target}."""
    for row in rows:
        row["ratio"] = row["comparator_s"] / row["ours_s"]
    table = [
        [
            r["case"],
            r["ours"],
            fmt_time(r["ours_s"]),
            r["comparator"],
            fmt_time(r["comparator_s"]),
            f"{r['ratio']:.1f}x",
            r["target"],
        ]
        for r in rows
    ]
    what = (
        "Medians of repeated runs, ours and the comparator taking turns; ratio = comparator time / "
        "our time (above 1: ours is faster)."
    )
    return write_table(
        name,
        title,
        command,
        machine,
        what,
        ["case", "ours", "median", "comparator", "median", "ratio", "target"],
        table,
        {"rows": rows},
        notes,
    )
