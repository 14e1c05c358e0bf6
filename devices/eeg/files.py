"""Recorded EEG streamed from disk in blocks, as a headset would deliver it.

- `OpenBCITextSource`: the OpenBCI GUI's text format (``%`` header lines with the channel count,
  rate and board, a column header, then one comma-separated row per sample; EXG columns in µV).
- `CsvEegSource`: any CSV with a header row: the user names the channel columns (``NAME=COLUMN``
  or just ``COLUMN``), the unit, and either a time column (seconds, milliseconds since the epoch
  or ISO date-times, as consumer apps export) or the rate. Rows where every named channel is
  empty (the marker and event rows of Mind Monitor-style exports) are skipped; a row with some
  channels empty gives NaN there, which the EEG pipeline holds and flags as disconnected. An
  EmotivPRO export's first line (``key:value`` pairs before the column header) is read for the
  rate and skipped. `recognise_csv` names the columns of the consumer exports it knows
  (EmotivPRO ``EEG.AF3``..., Mind Monitor ``RAW_TP9``..., and any header whose columns are
  10-20 electrode names, as muse-lsl writes), so that those need no ``--csv-columns``.
- `BrainFlowFileSource`: BrainFlow's own file (`DataFilter.write_file`, tab-separated, no
  header): the board it came from gives its layout.
- `EdfSource`: EDF and BDF through pyedflib; each signal's physical dimension gives its unit;
  EDF+ ``BAD...`` annotations blank their spans. Every other format MNE reads (BrainVision,
  EEGLAB, GDF, Neuroscan, FIF...) goes to `devices.eeg.mne_source.MneRawSource`.

Every reader holds one block at a time (the BrainFlow file is read whole: BrainFlow has no
partial reader), stamps frames from the file's own times where it has them (so a gap or a
backward jump in the recording shows in the events), and gives microvolts. A truncated or
malformed file is a `SourceError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from devices.eeg.clock import BlockClock
from devices.errors import ConfigError, SourceError
from devices.frame import Frame
from devices.source import Source
from devices.units import unit_scale

#: Rates an EEG recording can have (Hz): consumer headsets sample at 128-512, research
#: amplifiers up to 16,384. Anything else is a mistyped --rate or a misread time column.
RATE_RANGE = (32.0, 16384.0)
#: How far a given --rate may be from the rate of the file's own time column.
RATE_AGREEMENT = 0.05


def check_rate(rate: float, where: str, said_by: str) -> float:
    """`rate` if it is one an EEG recording can have, else a one-line `ConfigError`."""
    lo, hi = RATE_RANGE
    if not (math.isfinite(rate) and lo <= rate <= hi):
        raise ConfigError(
            f"{where}: {said_by} gives {rate:.6g} Hz, outside the {lo:g}-{hi:,.0f} Hz that EEG is "
            "recorded at; give the recording's real rate (--rate)"
        )
    return float(rate)


def _check_path(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise SourceError(f"EEG file not found: {path}")
    if not path.is_file():
        raise SourceError(f"{path} is not a regular file")
    return path


class _BlockFileSource(Source):
    """Common frame cutting: subclasses yield (times or None, (channels, n) µV) chunks."""

    kind = "eeg"

    def __init__(self, path: Path, block_s: float, source_id: str | None) -> None:
        super().__init__(source_id or str(path))
        self.path = _check_path(path)
        if not block_s > 0:
            raise ConfigError(f"block_s must be > 0, got {block_s}")
        self.block_s = float(block_s)
        self._rate = 0.0
        self._names: tuple[str, ...] = ()
        # Exports round their times: 0.1 s of disagreement is jitter, more is a gap or a jump.
        self._clock = BlockClock(0.1)

    @property
    def rate_hz(self) -> float:
        return self._rate

    @property
    def channels(self) -> tuple[str, ...]:
        return self._names

    @property
    def block(self) -> int:
        return max(1, round(self.block_s * self._rate))

    def open(self) -> None:
        super().open()
        try:
            check_rate(self._rate, str(self.path), self._rate_said_by())
        except ConfigError:
            self.close()
            raise

    def _rate_said_by(self) -> str:
        return "its header"

    def _frame(self, data: np.ndarray, times: np.ndarray | None) -> Frame:
        own = float(times[0]) if times is not None and len(times) else None
        start = self._clock.start(own, data.shape[1], self._rate)
        return Frame(data, start, self._rate, self._names, "eeg", self.id, self.frames_read)


class _ChunkedFileSource(_BlockFileSource):
    """A recording read a chunk at a time (`_fill` loads `_chunk`, channels x samples, starting
    at sample `_chunk_at`) and handed out in blocks of `block` samples up to `_n`."""

    def _read(self, timeout_s: float | None) -> Frame | None:
        if self._pos >= self._n:
            return None
        if self._pos >= self._chunk_at + self._chunk.shape[1]:
            self._fill()
        at = self._pos - self._chunk_at
        n = min(self.block, self._chunk.shape[1] - at)
        data = np.ascontiguousarray(self._chunk[:, at : at + n])
        self._pos += n
        return self._frame(data, None)


class OpenBCITextSource(_BlockFileSource):
    """The OpenBCI GUI's recorded text (v5/v6): EXG channels in µV, the Timestamp column in ms."""

    def __init__(
        self,
        path: str | Path,
        channels: tuple[str, ...] | None = None,
        block_s: float = 0.1,
        source_id: str | None = None,
    ) -> None:
        super().__init__(Path(path), block_s, source_id)
        self._rename = channels

    def _open(self) -> None:
        self._file = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        rate, header, self._line = None, None, 0
        for line in self._file:
            self._line += 1
            if line.startswith("%"):
                if "Sample Rate" in line:
                    try:
                        rate = float(line.split("=")[1].split()[0])
                    except (IndexError, ValueError):
                        raise SourceError(
                            f"{self.path}:{self._line}: unreadable sample rate"
                        ) from None
                continue
            header = [c.strip() for c in line.split(",")]
            break
        if rate is None or header is None:
            raise SourceError(
                f"{self.path} is not an OpenBCI GUI recording (no '%Sample Rate' header)"
            )
        exg = [i for i, c in enumerate(header) if c.startswith("EXG Channel")]
        if not exg:
            raise SourceError(f"{self.path}: the header names no 'EXG Channel' columns")
        self._cols = exg
        self._ts = header.index("Timestamp") if "Timestamp" in header else None
        self._width = len(header)
        self._rate = rate
        names = tuple(header[i] for i in exg)
        if self._rename is not None:
            if len(self._rename) != len(names):
                raise ConfigError(
                    f"{self.path} has {len(names)} EXG channels; {len(self._rename)} names were given"
                )
            names = tuple(self._rename)
        self._names = names

    def _read(self, timeout_s: float | None) -> Frame | None:
        rows, times = [], []
        for line in self._file:
            self._line += 1
            if not line.strip() or line.startswith("%"):
                continue
            parts = line.split(",")
            if len(parts) < self._width - 1:
                raise SourceError(
                    f"{self.path}:{self._line}: {len(parts)} columns, expected {self._width} "
                    "(a truncated file?)"
                )
            try:
                rows.append([float(parts[i]) for i in self._cols])
                if self._ts is not None:
                    times.append(float(parts[self._ts]))
            except ValueError:
                raise SourceError(f"{self.path}:{self._line}: a value is not a number") from None
            if len(rows) >= self.block:
                break
        if not rows:
            return None
        data = np.array(rows, dtype=np.float64).T
        t = np.array(times) / 1000.0 if times else None  # the GUI writes milliseconds
        return self._frame(data, t)

    def _close(self) -> None:
        self._file.close()


#: A 10-20 / 10-10 electrode name as a column header: Fp1, AF7, Fz, FC5, T7, TP10, POz, O2, A1...
ELECTRODE = re.compile(r"^(fp|af|f|fc|ft|c|t|tp|cp|p|po|o|i|a|m)(z|[1-9]|10)$", re.IGNORECASE)
#: Time columns recognised by name (seconds, or ISO date-times).
TIME_COLUMNS = ("timestamp", "timestamps", "time", "t", "time_s", "time (s)")
#: EmotivPRO's ``EEG.*`` columns that are not electrodes.
EMOTIV_NOT_EEG = frozenset(
    {
        "counter",
        "interpolated",
        "interpolate",
        "rawcq",
        "battery",
        "batterypercent",
        "markerhardware",
        "highbitflex",
        "saturationflag",
    }
)


@dataclass(frozen=True)
class CsvLayout:
    """What `recognise_csv` read from a CSV's header: which app wrote it, its EEG columns as
    ``NAME=COLUMN``, and its time column (None: the rate must come from elsewhere)."""

    app: str
    columns: tuple[str, ...]
    time_column: str | None

    @property
    def headers(self) -> tuple[str, ...]:
        """The EEG columns as the file names them."""
        return tuple(c.split("=", 1)[-1] for c in self.columns)


def read_header(f) -> tuple[str, dict[str, str], str]:
    """A CSV's first line, an EmotivPRO export's key:value pairs from it (empty otherwise), and
    the column header: the second line after such pairs, else the first."""
    first = f.readline()
    meta = read_metadata(first) or {}
    return first, meta, f.readline() if meta else first


def read_metadata(line: str) -> dict[str, str] | None:
    """The ``key:value, key:value`` pairs of an EmotivPRO export's first line, or None when the
    line is not such a line (a column header has no colons)."""
    cells = [c.strip() for c in line.strip().split(",") if c.strip()]
    if len(cells) < 2 or not all(":" in c for c in cells):
        return None
    pairs = [c.split(":", 1) for c in cells]
    if any(not k.strip() or _is_number(k) for k, _ in pairs):
        return None
    return {k.strip().lower(): v.strip() for k, v in pairs}


def metadata_rate(meta: dict[str, str]) -> float | None:
    """The EEG rate an EmotivPRO first line gives: ``sampling rate:128`` or, in older exports,
    ``sampling rate:eeg_128;mot_64;...``."""
    text = meta.get("sampling rate") or meta.get("sampling") or ""
    found = re.search(r"eeg_(\d+(?:\.\d+)?)", text) or re.match(r"\s*(\d+(?:\.\d+)?)", text)
    return float(found.group(1)) if found and float(found.group(1)) > 0 else None


def recognise_csv(header: list[str]) -> CsvLayout | None:
    """The EEG and time columns of a consumer app's CSV export, from its column header, or None.

    EmotivPRO: ``EEG.<electrode>`` columns (not its counter, battery or marker ones) and
    ``Timestamp``. Mind Monitor (Muse): ``RAW_<electrode>`` columns (not ``AUX``) and
    ``TimeStamp``. Otherwise, columns named as 10-20 electrodes (muse-lsl's ``TP9,AF7,AF8,TP10``)
    with a time column named ``timestamps``, ``time``... if there is one."""
    names = [h.strip() for h in header]
    lower = {h.lower(): h for h in names}
    time = next((lower[t] for t in TIME_COLUMNS if t in lower), None)
    emotiv = [
        h
        for h in names
        if h.lower().startswith("eeg.") and h[4:].lower() not in EMOTIV_NOT_EEG and h[4:]
    ]
    if emotiv:
        return CsvLayout("EmotivPRO", tuple(f"{h[4:]}={h}" for h in emotiv), time)
    muse = [h for h in names if h.upper().startswith("RAW_") and ELECTRODE.match(h[4:])]
    if muse:
        return CsvLayout("Mind Monitor", tuple(f"{h[4:]}={h}" for h in muse), time)
    plain = [h for h in names if ELECTRODE.match(h)]
    if plain:
        return CsvLayout("electrode-named columns", tuple(plain), time)
    return None


def estimate_rate(times: np.ndarray) -> float | None:
    """Samples per second from a recording's first times, robust to what exports do to them:
    rounding (to the millisecond), jitter, one time for a whole packet (an app that stamps a
    Muse's Bluetooth packets on arrival gives 12 samples one time), and a gap. The first row of
    each distinct stamp, split where the time steps back or over three times its median step per
    sample; time regressed on the row number over the longest stretch. A rate within 1% of a
    whole number of Hz is that number (headsets sample at whole rates). None if time stands
    still."""
    t = np.asarray(times, dtype=np.float64)
    row = np.arange(len(t))
    first = np.r_[True, np.diff(t) != 0]
    t, row = t[first], row[first]
    if len(t) < 2:
        return None
    step = np.diff(t) / np.diff(row)
    rough = float(np.median(step))
    if not rough > 0:
        return None
    stretches = np.split(np.arange(len(t)), np.flatnonzero((step <= 0) | (step > 3 * rough)) + 1)
    longest = max(stretches, key=lambda s: row[s[-1]] - row[s[0]])
    if len(longest) < 2:
        return None
    slope = float(np.polyfit(row[longest], t[longest], 1)[0])
    if not slope > 0:
        return None
    rate = 1.0 / slope
    return float(round(rate)) if abs(rate - round(rate)) < 0.01 * rate else rate


def sniff_delimiter(header: str) -> str:
    """Tab, semicolon or comma: whichever a header line holds most of (comma on a tie)."""
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.strip()).timestamp()


class CsvEegSource(_BlockFileSource):
    """A CSV with a header row; ``columns`` are ``NAME=COLUMN`` or ``COLUMN`` entries, in order."""

    def __init__(
        self,
        path: str | Path,
        columns: list[str],
        unit: str = "uV",
        time_column: str | None = None,
        time_unit: str = "s",
        rate_hz: float | None = None,
        block_s: float = 0.1,
        delimiter: str | None = None,
        source_id: str | None = None,
    ) -> None:
        super().__init__(Path(path), block_s, source_id)
        if not columns:
            raise ConfigError("name the CSV's EEG columns (NAME=COLUMN or COLUMN, comma-separated)")
        pairs = [c.split("=", 1) if "=" in c else [c, c] for c in columns]
        self._names = tuple(p[0].strip() for p in pairs)
        self._wanted = [p[1].strip() for p in pairs]
        self.scale = unit_scale(unit, str(path))
        self.time_column = time_column
        if time_unit not in ("s", "ms"):
            raise ConfigError(f"time unit must be 's' or 'ms', got {time_unit!r}")
        self._time_scale = 1e-3 if time_unit == "ms" else 1.0
        self._given_rate = rate_hz
        self._delimiter = delimiter
        #: An EmotivPRO export's first-line key:value pairs (read on opening; empty otherwise).
        self.metadata: dict[str, str] = {}
        #: The export `recognise_csv` took the columns from (None: the caller named them).
        self.layout: CsvLayout | None = None

    def _open(self) -> None:
        self._file = open(self.path, newline="", encoding="utf-8-sig", errors="replace")  # noqa: SIM115
        first, self.metadata, head = read_header(self._file)
        if not first.strip():
            raise SourceError(f"{self.path} is empty")
        self._line = 2 if self.metadata else 1
        if not head.strip():
            raise SourceError(f"{self.path}: no column header after its first line")
        delimiter = self._delimiter or sniff_delimiter(head)
        header = [h.strip() for h in next(csv.reader(io.StringIO(head), delimiter=delimiter))]
        missing = [w for w in self._wanted if w not in header]
        if missing:
            raise SourceError(
                f"{self.path} has no column(s) {', '.join(missing)}; its columns: {', '.join(header)}"
            )
        self._cols = [header.index(w) for w in self._wanted]
        self._tcol = None
        if self.time_column is not None:
            if self.time_column not in header:
                raise SourceError(
                    f"{self.path} has no time column {self.time_column!r}; its columns: "
                    f"{', '.join(header)}"
                )
            self._tcol = header.index(self.time_column)
        header_line = self._line
        given = self._given_rate or metadata_rate(self.metadata)
        if given is not None:
            # A rate given on the command line (or in the export's first line) is checked
            # before anything is read at it: the block size follows from it.
            check_rate(float(given), str(self.path), self._rate_said_by())
        elif self._tcol is None:
            raise ConfigError(
                f"{self.path}: no rate: give the CSV's time column (--csv-time) or rate (--rate)"
            )
        # The first rows (at most 2,000, whatever the rate): there must be some, and their
        # times give the rate or check the one given; then read from the start.
        pos = self._file.tell()
        self._reader = csv.reader(self._file, delimiter=delimiter)
        first = self._rows(2000)
        if not first:
            raise SourceError(
                f"{self.path} has a column header and no rows of data (an export that was "
                "stopped before it recorded?)"
            )
        timed = None
        if self._tcol is not None:
            timed = estimate_rate(np.array([t for t, _ in first]))
        if given is not None:
            self._rate = float(given)
            if timed is not None and abs(self._rate - timed) > RATE_AGREEMENT * timed:
                raise SourceError(
                    f"{self.path}: {self._rate_said_by()} gives {self._rate:g} Hz but its time "
                    f"column {self.time_column!r} gives {timed:.5g} Hz (over "
                    f"{RATE_AGREEMENT:.0%} apart); give the right --rate, or none to use the times"
                )
        else:
            if timed is None:
                raise SourceError(f"{self.path}: the time column does not advance; give --rate")
            if timed < 10.0:
                raise SourceError(
                    f"{self.path}: its time column gives {timed:.3g} samples per second; if its "
                    "times are milliseconds, say so (--csv-time-unit ms), or give --rate"
                )
            self._rate = timed
        self._file.seek(pos)
        self._reader = csv.reader(self._file, delimiter=delimiter)
        self._line = header_line

    def _rate_said_by(self) -> str:
        if self._given_rate:
            return "--rate"
        if metadata_rate(self.metadata):
            return "its first line"
        return f"its time column {self.time_column!r}"

    def _rows(self, n: int) -> list[tuple[float | None, list[float]]]:
        out = []
        for parts in self._reader:
            self._line += 1
            if not parts or not any(p.strip() for p in parts):
                continue
            try:
                cells = [parts[i].strip() for i in self._cols]
            except IndexError:
                raise SourceError(
                    f"{self.path}:{self._line}: {len(parts)} columns (a truncated row?)"
                ) from None
            if not any(cells):
                continue  # a marker or event row
            try:
                values = [float(c) if c else math.nan for c in cells]
                t = None
                if self._tcol is not None:
                    t = _parse_time(parts[self._tcol]) * self._time_scale
            except (ValueError, IndexError):
                raise SourceError(
                    f"{self.path}:{self._line}: not a number or time in {parts[: max(self._cols) + 1]}"
                ) from None
            out.append((t, values))
            if len(out) >= n:
                break
        return out

    def _read(self, timeout_s: float | None) -> Frame | None:
        rows = self._rows(self.block)
        if not rows:
            return None
        data = np.array([v for _, v in rows], dtype=np.float64).T * self.scale
        times = np.array([t for t, _ in rows]) if self._tcol is not None else None
        return self._frame(data, times)

    def _close(self) -> None:
        self._file.close()


class BrainFlowFileSource(_BlockFileSource):
    """A file BrainFlow wrote (`DataFilter.write_file`) from `board`; EEG rows in µV."""

    def __init__(
        self,
        path: str | Path,
        board: str | int = "synthetic",
        channels: tuple[str, ...] | None = None,
        block_s: float = 0.1,
        source_id: str | None = None,
    ) -> None:
        from devices.eeg.board import board_id, board_layout

        super().__init__(Path(path), block_s, source_id)
        self._board = board
        self._rate, self._rows, names, self._ts_row = board_layout(board_id(board))
        if channels is not None and len(channels) != len(names):
            raise ConfigError(
                f"the board has {len(names)} EEG channels; {len(channels)} names given"
            )
        self._names = tuple(channels) if channels is not None else names

    def _open(self) -> None:
        from brainflow.data_filter import DataFilter

        try:
            data = DataFilter.read_file(str(self.path))
        except Exception as exc:
            raise SourceError(f"{self.path} is not a BrainFlow file ({exc})") from None
        data = np.atleast_2d(data)
        need = max(*self._rows, self._ts_row) + 1
        if data.shape[0] < need:
            raise SourceError(
                f"{self.path} has {data.shape[0]} columns; a BrainFlow file of board "
                f"{self._board} has {need}: for another board's file give --master-board; a "
                "CSV needs a header row naming its columns (AF3,F7,...,time)"
            )
        self._data = data
        self._pos = 0

    def _read(self, timeout_s: float | None) -> Frame | None:
        if self._pos >= self._data.shape[1]:
            return None
        chunk = self._data[:, self._pos : self._pos + self.block]
        self._pos += chunk.shape[1]
        return self._frame(np.ascontiguousarray(chunk[self._rows]), chunk[self._ts_row])

    def _close(self) -> None:
        self._data = None


#: What EDF/BDF labels put around an electrode's name: a signal-type prefix ("EEG Fp1") and a
#: reference suffix ("Fp1-REF", "Fp1-LE" linked ears, "-A1"/"-M2" an ear or mastoid, "-AVG").
_LABEL_PREFIX = re.compile(r"^\s*eeg[\s:_-]+", re.IGNORECASE)
_LABEL_REFERENCE = re.compile(
    r"[\s]*[-_/:]\s*(ref|le|re|lm|rm|a1|a2|m1|m2|a1a2|m1m2|avg|av|ar|car|ave|aref)\s*$",
    re.IGNORECASE,
)


def electrode_label(label: str) -> str:
    """An EDF/BDF signal label as the electrode it records: ``EEG Fp1-REF``, ``FP1-LE``,
    ``EEG FP1`` and ``Fp1-A1`` are all ``Fp1`` (prefix and reference stripped, case folded to
    the 10-20 spelling). A label that is not an electrode (``ECG``, ``Resp``) keeps its text."""
    name = _LABEL_REFERENCE.sub("", _LABEL_PREFIX.sub("", label.strip())).strip()
    if not ELECTRODE.match(name):
        return label.strip()
    letters = name.rstrip("0123456789zZ")
    spelled = "Fp" if letters.lower() == "fp" else letters.upper()
    rest = name[len(letters) :]
    return spelled + ("z" if rest.lower() == "z" else rest)


def electrode_names(labels: list[str], standard: dict[str, str] | None = None) -> list[str]:
    """Each label as the electrode it records (`electrode_label`; spelled as `standard`, a
    montage's names by their lower case, spells it), or the label itself when it is not one; two
    labels of one electrode (``Fp1-A1``, ``Fp1-A2``) keep their own text."""
    standard = standard or {}
    names = [standard.get(electrode_label(x).lower(), electrode_label(x)) for x in labels]
    seen = [n.lower() for n in names]
    return [
        n if seen.count(n.lower()) == 1 else x.strip() for n, x in zip(names, labels, strict=True)
    ]


def choose_channels(
    where: str,
    labels: list[str],
    names: list[str],
    wanted: list[str] | None,
    default: list[int],
    noun: str = "channel",
) -> tuple[list[int], list[str]]:
    """Indices and names of the channels to stream: `default` (indices), or the `wanted` ones
    (``--channels``), each a channel (its label or its electrode name) or ``NAME=CHANNEL``
    (streamed as NAME)."""
    if not wanted:
        return list(default), [names[i] for i in default]
    pairs = [w.split("=", 1) if "=" in w else [w, w] for w in wanted]
    lookup: dict[str, int] = {}
    for i, (label, name) in enumerate(zip(labels, names, strict=True)):
        for key in (label, name, electrode_label(label)):
            lookup.setdefault(key.strip().lower(), i)
    missing = [p[1] for p in pairs if p[1].strip().lower() not in lookup]
    if missing:
        raise SourceError(
            f"{where} has no {noun}(s) {', '.join(missing)}; it has {', '.join(labels)}"
        )
    idx = [lookup[p[1].strip().lower()] for p in pairs]
    chosen = [
        p[0].strip() if "=" in w else names[i] for i, w, p in zip(idx, wanted, pairs, strict=True)
    ]
    return idx, chosen


def is_bad(description: str) -> bool:
    """Whether an annotation marks its span unusable: MNE's rule (``reject_by_annotation``), a
    description starting with ``bad`` in any case (``BAD_blink``, ``bad_ACQ_SKIP``)."""
    return description.strip().lower().startswith("bad")


def blank_spans(data: np.ndarray, start: int, spans: list[tuple[int, int, list[int]]]) -> None:
    """NaN, in place, over the parts of `spans` ((first, end) samples of the recording and the
    rows they cover) that fall in `data`, which holds samples ``start ...`` of the recording."""
    stop = start + data.shape[1]
    for first, end, rows in spans:
        lo, hi = max(first, start), min(end, stop)
        if lo < hi and rows:
            data[np.ix_(rows, np.arange(lo - start, hi - start))] = np.nan


class EdfSource(_ChunkedFileSource):
    """EDF/EDF+/BDF through pyedflib: the signals named in `signals` (default: every signal at
    the most common rate), converted from each one's physical dimension to µV, read from disk
    ``read_s`` seconds at a time (one pyedflib call per signal and chunk: per 0.1 s block it
    was 20 times slower). An EDF+ annotation whose description starts with ``bad`` (MNE's rule)
    blanks its span to NaN, which the EEG pipeline holds and flags ``disconnected``; every
    annotation is listed in ``metadata["annotations"]``."""

    def __init__(
        self,
        path: str | Path,
        signals: list[str] | None = None,
        block_s: float = 0.1,
        source_id: str | None = None,
        read_s: float = 10.0,
    ) -> None:
        super().__init__(Path(path), block_s, source_id)
        if not read_s >= block_s:
            raise ConfigError(f"read_s must be at least block_s ({block_s} s), got {read_s}")
        self.read_s = float(read_s)
        self._wanted = signals
        #: The file's own label of each channel, by the name the channel is given.
        self.metadata: dict[str, dict[str, str]] = {"labels": {}}

    def _open(self) -> None:
        try:
            import pyedflib
        except ImportError as exc:  # pragma: no cover - the eeg extra installs it
            raise SourceError(
                "EDF/BDF files need pyedflib: pip install 'affect-edge[eeg]'"
            ) from exc
        try:
            self._edf = pyedflib.EdfReader(str(self.path))
        except OSError as exc:
            raise SourceError(f"{self.path} is not a readable EDF/BDF file ({exc})") from None
        labels = [s.strip() for s in self._edf.getSignalLabels()]
        rates = [float(self._edf.getSampleFrequency(i)) for i in range(len(labels))]
        names_all = electrode_names(labels)
        common = max(set(rates), key=rates.count)
        idx, names = choose_channels(
            str(self.path),
            labels,
            names_all,
            self._wanted,
            [i for i, r in enumerate(rates) if r == common],
            noun="signal",
        )
        self.metadata = {"labels": {n: labels[i] for n, i in zip(names, idx, strict=True)}}
        chosen = {rates[i] for i in idx}
        if len(chosen) != 1:
            raise SourceError(
                f"{self.path}: the chosen signals have different rates ({sorted(chosen)} Hz); "
                "choose signals of one rate"
            )
        self._idx = idx
        self._names = tuple(names)
        self._rate = chosen.pop()
        self._scale = [
            unit_scale(self._edf.getPhysicalDimension(i) or "uV", f"{self.path} signal {labels[i]}")
            for i in idx
        ]
        self._n = int(min(self._edf.getNSamples()[i] for i in idx))
        self._pos = 0
        self._chunk, self._chunk_at = np.empty((len(idx), 0)), 0
        onsets, durations, texts = self._edf.readAnnotations()
        self.metadata["annotations"] = [
            {"onset_s": float(o), "duration_s": float(max(d, 0.0)), "description": str(t)}
            for o, d, t in zip(onsets, durations, texts, strict=True)
        ]
        every = list(range(len(idx)))
        self._bad_spans = [
            (round(o * self._rate), round(o * self._rate) + max(1, round(d * self._rate)), every)
            for o, d, t in zip(onsets, durations, texts, strict=True)
            if is_bad(str(t))
        ]

    def _fill(self) -> None:
        start = self._chunk_at + self._chunk.shape[1]
        n = min(self._n - start, max(1, round(self.read_s * self._rate)))
        self._chunk = np.stack(
            [
                self._edf.readSignal(i, start, n) * s
                for i, s in zip(self._idx, self._scale, strict=True)
            ]
        )
        self._chunk_at = start
        blank_spans(self._chunk, start, self._bad_spans)

    def _close(self) -> None:
        self._edf.close()


#: The first bytes of files users hand to an EEG command by mistake, and what to call them.
_MAGIC = (
    (b"RIFF", b"WAVE", "a WAV audio file (speech: affect-edge run speech FILE)"),
    (b"RIFF", b"AVI ", "an AVI video"),
    (b"fLaC", b"", "a FLAC audio file (speech: affect-edge run speech FILE)"),
    (b"OggS", b"", "an Ogg audio file (speech: affect-edge run speech FILE)"),
    (b"ID3", b"", "an MP3 audio file (speech: affect-edge run speech FILE)"),
    (b"\x89PNG", b"", "a PNG image (faces: affect-edge run face FILE)"),
    (b"\xff\xd8\xff", b"", "a JPEG image (faces: affect-edge run face FILE)"),
    (b"PK\x03\x04", b"", "a zip archive"),
)


def binary_kind(path: Path) -> str | None:
    """What a file that is not text is ("a WAV audio file", "a binary file"), or None for text:
    the text readers would otherwise quote its raw bytes back as a CSV header."""
    with open(path, "rb") as f:
        head = f.read(4096)
    for magic, at_8, what in _MAGIC:
        if head.startswith(magic) and (not at_8 or head[8:12] == at_8):
            return what
    return "a binary file" if b"\x00" in head else None


def open_eeg_file(
    path: str | Path,
    channels: tuple[str, ...] | None = None,
    csv_columns: list[str] | None = None,
    csv_time: str | None = None,
    csv_time_unit: str = "s",
    rate_hz: float | None = None,
    unit: str = "uV",
    board: str | int | None = None,
    block_s: float = 0.1,
) -> Source:
    """The right reader for a recording, by its suffix and first line; a CSV whose columns are not
    named (`csv_columns`) is read by the layout `recognise_csv` finds in its header."""
    from devices.eeg.mne_source import MneRawSource, owns

    path = _check_path(Path(path))
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return EdfSource(path, list(channels) if channels else None, block_s)
    if owns(path):
        return MneRawSource(path, list(channels) if channels else None, block_s)
    if (kind := binary_kind(path)) is not None:
        raise ConfigError(
            f"{path} is {kind}, not an EEG recording: EEG is read from OpenBCI GUI .txt, CSV and "
            "BrainFlow files, EDF/BDF, and the formats MNE reads (.vhdr, .set, .fif, ...)"
        )
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        first, _, head = read_header(f)
    if first.startswith("%OpenBCI") or first.startswith("%"):
        return OpenBCITextSource(path, channels, block_s)
    cells = first.replace("\t", ",").split(",")
    numeric = bool(first.strip()) and all(_is_number(c) for c in cells if c.strip())
    if numeric and "\t" not in first and csv_columns is None:
        # BrainFlow writes tabs; a comma- or semicolon-separated table of numbers is a CSV
        # that lost its header.
        raise ConfigError(
            f"{path} has no header row (its first line is {len(cells)} numbers): add a first "
            "line naming the columns (electrodes such as AF3,F7,... and a time column), then "
            "run it again"
        )
    if numeric and csv_columns is None:
        return BrainFlowFileSource(
            path, board if board is not None else "synthetic", channels, block_s
        )
    if csv_columns is None:
        layout = recognise_csv(
            next(csv.reader(io.StringIO(head), delimiter=sniff_delimiter(head)), [])
        )
        if layout is None:
            raise ConfigError(
                f"{path} looks like a CSV with a header: name its EEG columns with --csv-columns "
                f"(NAME=COLUMN,...) and its time column (--csv-time) or rate (--rate); "
                f"its columns: {head.strip()[:200]}"
            )
        csv_columns = list(layout.columns)
        if csv_time is None:
            # With --rate too: the times stamp the frames and check the rate given.
            csv_time = layout.time_column
        if channels:
            if len(channels) != len(csv_columns):
                raise ConfigError(
                    f"--channels names {len(channels)} channels; {path} has {len(csv_columns)} "
                    f"EEG columns ({', '.join(layout.headers)})"
                )
            csv_columns = [f"{n}={c}" for n, c in zip(channels, layout.headers, strict=True)]
        source = CsvEegSource(path, csv_columns, unit, csv_time, csv_time_unit, rate_hz, block_s)
        source.layout = layout
        return source
    return CsvEegSource(path, csv_columns, unit, csv_time, csv_time_unit, rate_hz, block_s)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
