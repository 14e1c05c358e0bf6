"""Timelines of events as pictures (matplotlib, the optional `plot` extra).

Each event is drawn at the middle of its span, so the axis starts where the recording starts.
Long recordings are thinned to at most `MAX_POINTS` points per line (the mean of each bin, with
the bin's minimum-to-maximum range shaded), spans that held too little signal are greyed, the
legend sits outside the axes so it hides no data, and a recording with no estimate at all says
so on the picture.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.events import AffectEvent

MAX_POINTS = 600
COLORS = ("tab:red", "tab:green", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink")


def thin(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS):
    """(t, mean, low, high) per bin when there are more than max_points points; else as given."""
    if len(t) <= max_points:
        return t, y, y, y
    edges = np.linspace(0, len(t), max_points + 1).astype(int)
    parts = [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]

    def per_bin(fn, v):
        return np.array([fn(v[p]) if np.any(np.isfinite(v[p])) else np.nan for p in parts])

    return (
        np.array([t[p].mean() for p in parts]),
        per_bin(np.nanmean, y),
        per_bin(np.nanmin, y),
        per_bin(np.nanmax, y),
    )


def timeline(
    ax,
    events: Sequence[AffectEvent],
    names: Sequence[str],
    duration_s: float,
    ylabel: str,
    empty_note: str,
) -> None:
    """Draw events' values over time on one matplotlib axis."""
    t = np.array([(e.start_s + e.end_s) / 2 for e in events])
    for name, color in zip(names, COLORS, strict=False):
        y = np.array([e.values.get(name, np.nan) for e in events], dtype=float)
        tt, mean, low, high = thin(t, y)
        ax.plot(
            tt, mean, color=color, lw=1.2, marker="o" if len(tt) <= 60 else None, ms=3, label=name
        )
        if len(tt) < len(t):
            ax.fill_between(tt, low, high, color=color, alpha=0.2, lw=0)
    held = [(e.start_s, e.end_s) for e in events if not e.updated]
    for start, end in held[:: max(1, len(held) // MAX_POINTS)]:
        ax.axvspan(start, end, color="0.92", zorder=0, lw=0)
    ax.set(xlim=(0, max(duration_s, 1e-3)), ylim=(0, 1), xlabel="time (s)", ylabel=ylabel)
    if not any(e.values for e in events):
        ax.text(0.5, 0.5, empty_note, transform=ax.transAxes, ha="center", va="center", color="0.3")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def save_timeline(
    events: Sequence[AffectEvent],
    path: Path,
    title: str,
    duration_s: float,
    names: Sequence[str] = ("arousal", "dominance", "valence"),
    empty_note: str = "no speech detected: no estimate",
    ylabel: str = "estimate (0-1)",
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=110)
    timeline(ax, events, names, duration_s, ylabel, empty_note)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_three(events: Sequence[AffectEvent], path: Path, title: str) -> Path:
    """Speech A/D/V, each face's expression probabilities and the EEG level, one axis each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {m: [e for e in events if e.modality == m] for m in ("speech", "face", "eeg")}
    end = max((e.end_s for e in events), default=1.0)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), dpi=110, sharex=True)
    timeline(
        axes[0],
        by["speech"],
        ("arousal", "dominance", "valence"),
        end,
        "speech A/D/V",
        "no speech estimate",
    )
    labels = tuple(by["face"][0].values) if by["face"] else ("happy",)
    timeline(axes[1], by["face"], labels, end, "face p(expression)", "no face found")
    eeg = [
        AffectEvent(
            e.modality,
            e.source,
            e.model,
            e.model_version,
            e.start_s,
            e.end_s,
            {"level (1-5, scaled to 0-1)": (e.values["level"] - 1) / 4} if e.values else {},
            e.updated,
            e.quality,
            e.latency_ms,
            e.subject,
            e.seq,
        )
        for e in by["eeg"]
    ]
    timeline(
        axes[2],
        eeg,
        ("level (1-5, scaled to 0-1)",),
        end,
        "EEG valence level",
        "calibrating: no EEG window yet",
    )
    for e in by["eeg"]:
        flags = [
            k
            for k in ("blink", "muscle", "flat", "railed", "line_noise", "disconnected")
            if e.quality.get(k)
        ]
        if flags:
            axes[2].text(
                (e.start_s + e.end_s) / 2,
                0.05,
                ",".join(flags),
                ha="center",
                fontsize=7,
                rotation=90,
            )
    axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
