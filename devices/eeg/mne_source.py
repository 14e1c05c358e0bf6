"""Any recording MNE-Python reads (BrainVision, EEGLAB, GDF, Neuroscan, FIF, EDF/BDF...), streamed.

`MneRawSource` opens the file with ``mne.io.read_raw(preload=False)``: only the header is read on
opening, and the samples are fetched ``read_s`` seconds at a time (``Raw.get_data(start, stop)``),
so memory stays bounded by one chunk whatever the recording's length; frames of ``block_s`` are
cut from the chunk. What the file says is used as it says it:

- **channel types** from the file: only ``eeg`` channels are streamed (EOG, ECG, stim, misc...
  are listed in `metadata` and left out);
- **units**: MNE gives volts; frames hold microvolts;
- **names**: each label is read as the 10-20 electrode it records (``EEG Fp1-REF``, ``FP1-LE``,
  ``Fp1`` -> ``Fp1``), spelled as MNE's standard 10-20 montage spells it; the file's own labels
  stay in ``metadata["labels"]``;
- **bad channels** (``info["bads"]``) and **bad spans** (annotations whose description starts
  with ``bad``, as MNE's ``reject_by_annotation`` reads them; ``BAD_ACQ_SKIP`` included, and
  only the annotation's channels where it names some) are delivered as NaN: the EEG pipeline
  holds such samples and flags the windows ``disconnected`` on those electrodes, so nothing the
  recording marked as unusable is scored;
- every annotation is kept in ``metadata["annotations"]`` (onset and duration in seconds from
  the first sample, description, channels).

MNE is imported when a source opens, never at import time, and only here: the speech and face
paths never load it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from devices.eeg.files import (
    _ChunkedFileSource,
    blank_spans,
    choose_channels,
    electrode_names,
    is_bad,
)
from devices.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

#: Suffixes MNE reads (``mne.io.read_raw``). ``.txt``, ``.csv`` and ``.dat`` stay with the
#: OpenBCI/CSV/BrainFlow readers (MNE's readers of those suffixes are for other systems' exports).
#: ``open_eeg_file`` gives ``.edf``/``.bdf`` to pyedflib's `EdfSource`, the lighter reader on a
#: device (README, EEG formats); they are listed for ``--annotate``, which re-reads them with MNE.
MNE_SUFFIXES = (
    ".vhdr",
    ".ahdr",
    ".set",
    ".gdf",
    ".cnt",
    ".fif",
    ".fif.gz",
    ".edf",
    ".bdf",
    ".mff",
    ".nxe",
    ".cdt",
    ".eeg",
    ".nedf",
    ".snirf",
    ".mefd",
)

#: MNE's standard 10-20 montage (named ``standard_1020`` before MNE 1.13).
MONTAGES = ("colin27_1020", "standard_1020")


def owns(path: Path) -> bool:
    """Whether `path` is a recording this source reads (by its suffix)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in MNE_SUFFIXES)


def standard_names() -> dict[str, str]:
    """The electrodes of MNE's standard 10-20 montage, by their lower-case name."""
    import mne

    for name in MONTAGES:
        if name in mne.channels.get_builtin_montages():
            return {n.lower(): n for n in mne.channels.make_standard_montage(name).ch_names}
    raise SourceError(f"MNE {mne.__version__} has none of the montages {', '.join(MONTAGES)}")


class MneRawSource(_ChunkedFileSource):
    """A recording through ``mne.io.read_raw(preload=False)``, ``read_s`` seconds per disk read.

    ``channels``: None streams the file's EEG channels; otherwise the channels to stream, each a
    label, an electrode name or ``NAME=CHANNEL``."""

    def __init__(
        self,
        path: str | Path,
        channels: list[str] | None = None,
        block_s: float = 0.1,
        read_s: float = 10.0,
        source_id: str | None = None,
    ) -> None:
        super().__init__(Path(path), block_s, source_id)
        if not read_s >= block_s:
            raise ConfigError(f"read_s must be at least block_s ({block_s} s), got {read_s}")
        self.read_s = float(read_s)
        self._wanted = list(channels) if channels else None
        #: The file's labels (by the name each channel is given), types, bad channels,
        #: annotations, and MNE's reader.
        self.metadata: dict = {"labels": {}}

    def _open(self) -> None:
        try:
            import mne
        except ImportError:
            raise SourceError(
                f"{self.path}: this format is read by MNE-Python: pip install 'affect-edge[eeg]'"
            ) from None
        try:
            raw = mne.io.read_raw(self.path, preload=False, verbose="error")
        except Exception as exc:  # MNE raises many kinds for a file it cannot parse
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(f"{self.path} is not a recording MNE can read ({first})") from None
        labels = list(raw.ch_names)
        types = raw.get_channel_types()
        names = electrode_names(labels, standard_names())
        eeg = [i for i, t in enumerate(types) if t == "eeg"]
        if not eeg and not self._wanted:
            kinds = ", ".join(sorted(set(types)))
            raise SourceError(f"{self.path} has no EEG channels (its channels are {kinds})")
        idx, chosen = choose_channels(str(self.path), labels, names, self._wanted, eeg)
        self._raw, self._idx = raw, idx
        self._names = tuple(chosen)
        self._rate = float(raw.info["sfreq"])
        self._n = int(raw.n_times)
        self._pos = 0
        self._chunk = np.empty((len(idx), 0))
        self._chunk_at = 0
        bads = set(raw.info["bads"])
        self._bad_rows = [k for k, i in enumerate(idx) if labels[i] in bads]
        ann = raw.annotations
        # Each annotation's first sample, counted from the recording's first sample.
        starts = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
        self._bad_spans = self._spans(ann, starts, labels, idx)
        self.metadata = {
            "labels": {n: labels[i] for n, i in zip(chosen, idx, strict=True)},
            "types": dict(zip(labels, types, strict=True)),
            "bads": sorted(bads),
            "annotations": [
                {
                    "onset_s": int(first) / self._rate,
                    "duration_s": float(a["duration"]),
                    "description": str(a["description"]),
                    "channels": list(a.get("ch_names", ()) or ()),
                }
                for a, first in zip(ann, starts, strict=True)
            ],
            "reader": type(raw).__name__,
        }
        log.debug(
            "%s: %s, %d channels at %g Hz", self.path, type(raw).__name__, len(idx), self._rate
        )
        if self._bad_rows or self._bad_spans:
            log.info(
                "%s: bad channel(s) %s and %d BAD span(s) are read as NaN (held, flagged "
                "disconnected)",
                self.path,
                ", ".join(self._names[k] for k in self._bad_rows) or "none",
                len(self._bad_spans),
            )

    def _spans(
        self, ann, starts: np.ndarray, labels: list[str], idx: list[int]
    ) -> list[tuple[int, int, list[int]]]:
        """(first, end) samples and rows of each bad annotation: the rows it names, or all rows
        when it names no channel."""
        row_of = {labels[i]: k for k, i in enumerate(idx)}
        out = []
        for a, first in zip(ann, starts, strict=True):
            if not is_bad(str(a["description"])):
                continue
            end = int(first) + max(1, round(float(a["duration"]) * self._rate))
            named = list(a.get("ch_names", ()) or ())
            rows = [row_of[c] for c in named if c in row_of] if named else list(range(len(idx)))
            if rows and end > 0 and first < self._n:
                out.append((max(0, int(first)), min(end, self._n), rows))
        return out

    def _fill(self) -> None:
        """The next ``read_s`` seconds from disk, in µV, with bad channels and spans as NaN."""
        start = self._chunk_at + self._chunk.shape[1]
        stop = min(self._n, start + max(1, round(self.read_s * self._rate)))
        try:
            data = self._raw.get_data(picks=self._idx, start=start, stop=stop, units="uV")
        except Exception as exc:
            raise SourceError(f"{self.path}: samples {start}-{stop} unreadable ({exc})") from None
        data = np.asarray(data, dtype=np.float64)
        if self._bad_rows:
            data[self._bad_rows] = np.nan
        blank_spans(data, start, self._bad_spans)
        self._chunk, self._chunk_at = data, start

    def _close(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.close()
        self._raw = None
