"""Write a benchmark's rows as JSON and as a Markdown table under bench/results/."""

from __future__ import annotations

import json
from pathlib import Path

from bench.timing import fmt_time

RESULTS = Path(__file__).resolve().parent / "results"


def write(
    name: str, title: str, command: str, machine: dict, rows: list[dict], notes: list[str]
) -> Path:
    """rows: {case, ours, ours_s, comparator, comparator_s, target}; ratio = comparator / ours."""
    RESULTS.mkdir(exist_ok=True)
    for row in rows:
        row["ratio"] = row["comparator_s"] / row["ours_s"]
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"title": title, "command": command, "machine": machine, "rows": rows}, indent=2)
        + "\n"
    )
    lines = [
        f"# {title}",
        "",
        f"Made by `{command}` on {machine['date']}: {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}, NumPy {machine['numpy']}. Medians of repeated runs; ratio = "
        "comparator time / our time (above 1: ours is faster).",
        "",
        "| case | ours | median | comparator | median | ratio | target |",
        "| --- | --- | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['ours']} | {fmt_time(r['ours_s'])} | {r['comparator']} | "
            f"{fmt_time(r['comparator_s'])} | {r['ratio']:.1f}x | {r['target']} |"
        )
    lines += ["", *[f"- {n}" for n in notes], ""]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines))
    return path
