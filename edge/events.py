"""The one record the pipelines emit: what affect was sensed, over which span, how sure, how fast."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class AffectEvent:
    """Derived values only: no raw audio, video or EEG ever travels in an event.

    ``values`` maps output names (arousal, dominance, valence; or class names) to numbers, or is
    empty while nothing has been sensed yet. ``voiced`` is False when the window held too little
    speech (or face, or clean EEG) to update: the values then repeat the last estimate.
    """

    modality: str
    start_s: float
    end_s: float
    values: dict[str, float]
    voiced: bool
    quality: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(self.values)
        return out
