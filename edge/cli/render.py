"""Terminal output of the device CLI: `edge.console.render`, the one owner, shared with the
commands the offline halves contribute."""

from edge.console.render import (
    Console,
    Tick,
    emit_json,
    line,
    note,
    progress_bars,
    sparkline,
    table,
)

__all__ = [
    "Console",
    "Tick",
    "emit_json",
    "line",
    "note",
    "progress_bars",
    "sparkline",
    "table",
]
