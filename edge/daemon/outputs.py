"""The daemon's outputs: sinks opened from their config entries, kept or retuned across a reload,
and the per-sink figures `status` shows."""

from __future__ import annotations

import contextlib
from typing import Any


def open_sink(spec: dict[str, Any]):
    kind = spec["kind"]
    if kind == "jsonl":
        from edge.sinks import JsonLinesSink

        return JsonLinesSink(
            spec["path"], max_bytes=spec.get("max_bytes"), backups=spec.get("backups", 3)
        )
    if kind == "unix":
        from edge.sinks.unix import UnixSocketSink

        return UnixSocketSink(
            spec["path"],
            max_backlog=spec.get("max_backlog", 1 << 20),
            max_clients=spec.get("max_clients", 64),
        )
    from edge.sinks.mqtt import MqttSink

    options = {k: v for k, v in spec.items() if k != "kind"}
    return MqttSink(**options)


def same_sink(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a reload keeps the running sink for `new`: a file or socket at the same path
    (its size limits are changed in place; opening it twice would clash), or an identical
    MQTT connection."""
    if old["kind"] != new["kind"]:
        return False
    if new["kind"] in ("jsonl", "unix"):
        return old["path"] == new["path"]
    return old == new


def retune_sink(sink, spec: dict[str, Any]) -> None:
    """A kept sink takes the new config's limits."""
    if spec["kind"] == "jsonl":
        sink.max_bytes = spec.get("max_bytes")
        sink.backups = spec.get("backups", 3)
    elif spec["kind"] == "unix":
        sink.max_backlog = int(spec.get("max_backlog", 1 << 20))
        if hasattr(sink, "max_clients"):
            sink.max_clients = int(spec.get("max_clients", sink.max_clients))


#: Per-sink figures `status` shows where a sink has them.
_SINK_FIGURES = (
    "clients",
    "clients_dropped",
    "clients_refused",
    "accept_failures",
    "serve_failures",
    "buffered",
    "connected",
    "reconnects",
    "connect_failures",
    "rotations",
    "reopened",
    "rolled_back_bytes",
)


def sink_snapshot(sink) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": type(sink).__name__,
        "written": getattr(sink, "written", 0),
        "dropped": getattr(sink, "dropped", 0),
    }
    for key in _SINK_FIGURES:
        with contextlib.suppress(Exception):
            if hasattr(sink, key):
                out[key] = getattr(sink, key)
    return out
