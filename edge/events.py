"""The one record every pipeline emits: what affect was sensed, from what, over which span, how
sure, and how fast. Version 2; `event.schema.json` beside this file states it as a JSON Schema.

Derived values only: no raw audio, video or EEG ever travels in an event. Values are nested
under ``values`` (so a class called "quality" or "source" can never collide with a field).
``updated`` is False when the span held too little signal to score (too little speech, no face,
a flagged EEG window): the values then repeat the last estimate, or are empty if there is none.
Times are seconds on the source's clock, taken from the frames themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 2


@dataclass(frozen=True, slots=True)
class AffectEvent:
    modality: str
    source: str
    model: str
    model_version: str
    start_s: float
    end_s: float
    values: dict[str, float]
    updated: bool
    #: Figures and flags; EEG adds lists of the electrodes that show each flag.
    quality: dict[str, float | bool | list[str]] = field(default_factory=dict)
    #: Milliseconds per stage ("front_end", "queue", "model") and "total".
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: What in the source the values are about, where there can be several (a face: id and box).
    subject: dict[str, Any] | None = None
    #: The pipeline's running count of events: a gap means events were lost downstream.
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "seq": self.seq,
            "modality": self.modality,
            "source": self.source,
            "model": {"name": self.model, "version": self.model_version},
            "start_s": self.start_s,
            "end_s": self.end_s,
            "updated": self.updated,
            "values": dict(self.values),
            "quality": dict(self.quality),
            "latency_ms": dict(self.latency_ms),
        }
        if self.subject is not None:
            out["subject"] = dict(self.subject)
        return out

    def to_json(self) -> str:
        """One line of compact JSON (no newline inside)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AffectEvent:
        """The inverse of `to_dict` (for sinks' readers and tests)."""
        return cls(
            modality=data["modality"],
            source=data["source"],
            model=data["model"]["name"],
            model_version=data["model"]["version"],
            start_s=data["start_s"],
            end_s=data["end_s"],
            values=dict(data["values"]),
            updated=data["updated"],
            quality=dict(data.get("quality", {})),
            latency_ms=dict(data.get("latency_ms", {})),
            subject=data.get("subject"),
            seq=data.get("seq", 0),
        )


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of an event as `to_dict` writes it."""
    return json.loads(resources.files("edge").joinpath("event.schema.json").read_text())
