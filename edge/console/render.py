"""Terminal output for every command line: rich tables where `rich` is installed, aligned plain
text where not; progress bars, JSON and sparklines."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

try:  # rich is the optional `cli` extra; a bare device install prints plain text.
    from rich.console import Console
    from rich.table import Table

    class _Console(Console):
        """rich's Console, but a closed pipe (`| head`) is left to the entry point, which ends
        quietly with status 0 (rich's own handling exits with 1)."""

        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

except ImportError:  # pragma: no cover - exercised only without the extra
    Console = None  # type: ignore[assignment,misc]

_SPARK = "▁▂▃▄▅▆▇█"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    if Console is not None:
        t = Table(title=title, title_justify="left")
        for i, col in enumerate(columns):
            t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for row in cells:
            t.add_row(*row)
        # Piped output is read by scripts and logs: do not wrap it at 80 columns.
        _Console(width=None if sys.stdout.isatty() else 200).print(t)
        return
    widths = [max(len(str(col)), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print(title)
    print("  ".join(str(col).ljust(w) for col, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def line(text: str = "") -> None:
    print(text)


def note(text: str, machine_output: bool = False) -> None:
    """A remark for the person at the terminal: on stderr when stdout carries JSON."""
    print(text, file=sys.stderr if machine_output else sys.stdout)


Tick = Callable[[], None]


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[Callable[[str, int], Tick] | None]:
    """Yields `task(description, total) -> tick` drawing rich progress bars on stderr, or None."""
    if not enabled:
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bars:

        def task(description: str, total: int) -> Tick:
            tid = bars.add_task(description, total=total)
            return lambda: bars.advance(tid)

        yield task


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2)
    sys.stdout.write("\n")


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled between the series' min and max (keep it short: the
    caller bins long series first)."""
    if not len(values):
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(_SPARK[min(int((v - lo) / span * len(_SPARK)), len(_SPARK) - 1)] for v in values)
