"""`AnnotationsSink`: EEG events back onto the recording as MNE annotations, for MNE's browser.

Every flagged window becomes a ``BAD_<flag>`` annotation (``BAD_blink``, ``BAD_muscle``,
``BAD_disconnected``...) on the electrodes that show the flag, under the recording's own channel
labels; consecutive windows with the same flag on the same electrodes are merged into one span.
Every scored window's expected level becomes a ``level 2.79`` annotation from its start to the
next window's start (levels are not ``BAD``: MNE's ``reject_by_annotation`` leaves them alone).

- ``.fif``: the recording itself with the file's own annotations plus these, written by
  ``Raw.save`` so that ``mne.io.read_raw_fif(path).plot()`` shows them. A recording MNE reads
  (EDF/BDF, BrainVision, EEGLAB, FIF...) is streamed from disk by MNE, one buffer at a time; one
  it does not (CSV, OpenBCI text, BrainFlow files) is read again through its affect-edge source
  into memory (4 bytes per sample and channel) and saved as the channels the run read.
- ``.txt`` / ``.csv``: the annotations alone, as ``Annotations.save`` writes them (MNE's
  ``-annot.txt`` / ``-annot.csv``; MNE needs pandas for CSV, not for TXT), onsets in seconds
  from the recording's first sample; ``mne.read_annotations`` reads them back.

Events are collected while the run goes and the file is written on `close`. MNE is imported
then, never with this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.errors import ConfigError, SourceError
from edge.events import AffectEvent

log = logging.getLogger(__name__)

SUFFIXES = (".fif", ".csv", ".txt")


def merged_flags(events: list[AffectEvent], flags: tuple[str, ...]) -> list[tuple]:
    """(start_s, end_s, flag, electrodes) spans: each flag's windows, merged where consecutive
    windows show it on the same electrodes and touch or overlap."""
    open_spans: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    out = []
    for e in events:
        shown = {(k, tuple(e.quality[k])) for k in flags if e.quality.get(k)}
        for key in list(open_spans):
            span = open_spans[key]
            if key not in shown or e.start_s > span[1] + 1e-9:
                out.append((span[0], span[1], *key))
                del open_spans[key]
        for key in shown:
            if key in open_spans:
                open_spans[key][1] = max(open_spans[key][1], e.end_s)
            else:
                open_spans[key] = [e.start_s, e.end_s]
    out += [(s[0], s[1], *k) for k, s in open_spans.items()]
    return sorted(out)


def level_spans(events: list[AffectEvent]) -> list[tuple[float, float, float]]:
    """(start_s, end_s, level) of each scored window, from its start to the next window's start
    (its own end for the last), so the levels tile the recording without overlapping."""
    out = []
    for i, e in enumerate(events):
        if not e.updated or "level" not in e.values:
            continue
        end = events[i + 1].start_s if i + 1 < len(events) else e.end_s
        out.append((e.start_s, max(end, e.start_s), float(e.values["level"])))
    return out


def check_target(path: Path, recording: Path | None) -> None:
    """A one-line `ConfigError` before any work if `path` cannot take the annotations."""
    if recording is None:
        raise ConfigError("--annotate writes onto a recording: give one, not --board")
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(
            f"--annotate {path}: write .fif (the recording with its annotations) or .txt/.csv "
            "(the annotations alone)"
        )
    if path.resolve() == Path(recording).resolve():
        raise ConfigError(f"--annotate {path} is the recording itself: name a new file")
    import importlib.util

    if importlib.util.find_spec("mne") is None:
        raise ConfigError("--annotate writes MNE annotations: pip install 'affect-edge[eeg]'")
    if path.suffix.lower() == ".csv" and importlib.util.find_spec("pandas") is None:
        raise ConfigError(
            f"--annotate {path}: MNE writes -annot.csv through pandas, which is not "
            "installed; write -annot.txt (the same columns) or pip install pandas"
        )


class AnnotationsSink:
    """Collects EEG events; on `close` writes them as annotations to `path` (.fif, .txt, .csv).

    `recording`: the file the events came from. `reopen`: opens (without starting) the
    affect-edge source that read it, for its channel labels and, when MNE cannot read the file,
    its samples. `flags`: the quality flags to write, in order."""

    def __init__(
        self,
        path: str | Path,
        recording: str | Path,
        reopen: Callable[[], object],
        flags: tuple[str, ...],
    ) -> None:
        self.path = Path(path)
        self.recording = Path(recording)
        check_target(self.path, self.recording)
        self._reopen = reopen
        self.flags = flags
        self.events: list[AffectEvent] = []
        self.written = 0
        self.dropped = 0
        self._closed = False

    def write(self, event: AffectEvent) -> None:
        self.events.append(event)
        self.written += 1

    def flush(self) -> None:
        """Nothing to flush: the file is written whole on close."""

    def __enter__(self) -> AnnotationsSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        import mne  # check_target made sure it is there

        source = self._reopen()
        source.open()
        try:
            labels = dict(getattr(source, "metadata", {}).get("labels", {}))
            raw = self._raw(mne, source) if self.path.suffix.lower() == ".fif" else None
        finally:
            source.close()
        if raw is None:
            annotations = self._annotations(mne, labels, None, 0.0)
            annotations.save(self.path, overwrite=True, verbose="error")
        else:
            shift = raw.first_time if raw.annotations.orig_time is not None else 0.0
            ours = self._annotations(mne, labels, raw.annotations.orig_time, shift)
            known = set(raw.ch_names)
            missing = {c for names in ours.ch_names for c in names} - known
            if missing:  # pragma: no cover - labels come from the same file
                raise SourceError(f"{self.recording} has no channel(s) {sorted(missing)}")
            raw.set_annotations(raw.annotations + ours)
            raw.save(self.path, overwrite=True, verbose="error")
        log.info("%d annotations written to %s", len(self.events), self.path)

    def _annotations(self, mne, labels: dict[str, str], orig_time, shift: float):
        onset, duration, description, channels = [], [], [], []
        for start, end, flag, names in merged_flags(self.events, self.flags):
            onset.append(start + shift)
            duration.append(end - start)
            description.append(f"BAD_{flag}")
            channels.append([labels.get(n, n) for n in names])
        for start, end, level in level_spans(self.events):
            onset.append(start + shift)
            duration.append(end - start)
            description.append(f"level {level:.2f}")
            channels.append([])
        return mne.Annotations(onset, duration, description, orig_time, ch_names=channels)

    def _raw(self, mne, source):
        """The recording as an MNE Raw: MNE's own reader where it has one, else the samples
        read again through `source` (already open)."""
        from devices.eeg.mne_source import owns

        if owns(self.recording):
            return mne.io.read_raw(self.recording, preload=False, verbose="error")
        source.start()
        frames = [f.data for f in iter(source.read, None)]
        data = np.concatenate(frames, axis=1) if frames else np.empty((len(source.channels), 0))
        info = mne.create_info(list(source.channels), source.rate_hz, "eeg")
        return mne.io.RawArray(data * 1e-6, info, verbose="error")
