"""`BoardSource`: a BrainFlow board (live headset, synthetic, playback file or network stream).

Boards are named as BrainFlow's `BoardIds` are, with or without `_BOARD` and in any case
("synthetic", "cyton", "MUSE_2_BOARD"), or by number. The session follows BrainFlow's own life
cycle (prepare_session, start_stream, get_board_data, stop_stream, release_session) through
`devices.source.Source`. Frames hold the board's EEG rows in microvolts (BrainFlow's unit),
named as the board describes them unless `channels` renames them in order.

Time: each frame's start is the board's timestamp of its first sample, measured from the first
sample of the session. BrainFlow stamps packets, not samples, so consecutive blocks jitter; a
block is stamped as the continuation of the last one unless the board's timestamp differs from
that by more than `gap_tolerance_s` (a real gap: samples lost on the radio link, a reconnect).

Loss: when no sample arrives for `stall_s` (a headset out of range, a dongle pulled) or
BrainFlow raises while reading, the session is released and prepared again, waiting
`backoff_s`, then twice that, and so on, up to `reconnect_attempts` times; after that `read`
raises a `SourceError`. `reconnects` counts the successful ones.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time

import numpy as np

from devices.eeg.clock import BlockClock
from devices.errors import ConfigError, SourceError
from devices.frame import Frame
from devices.source import Source

log = logging.getLogger(__name__)


def _brainflow():
    try:
        from brainflow.board_shim import (
            BoardControllerDLL,
            BoardIds,
            BoardShim,
            BrainFlowError,
            BrainFlowInputParams,
        )
    except ImportError as exc:  # pragma: no cover - the eeg extra installs it
        raise SourceError("EEG boards need BrainFlow: pip install 'affect-edge[eeg]'") from exc
    try:
        # BrainFlow loads its C++ library on first use; its Linux wheel carries x86-64 builds only,
        # so on a Raspberry Pi or a Jetson this is where a board would fail, as a bare OSError.
        BoardControllerDLL.get_instance()
    except OSError as exc:
        raise SourceError(
            f"BrainFlow's board library does not load on this {platform.machine()} machine "
            f"({exc}); its Linux wheel carries x86-64 libraries only: on arm64 build BrainFlow "
            "from source, or read a recording (affect-edge run eeg FILE)"
        ) from None
    return BoardIds, BoardShim, BrainFlowError, BrainFlowInputParams


def board_id(name: str | int) -> int:
    """BrainFlow's board id for a name ("synthetic", "cyton", "MUSE_2_BOARD") or a number."""
    BoardIds = _brainflow()[0]
    if isinstance(name, int) or str(name).lstrip("-").isdigit():
        value = int(name)
        if value not in {b.value for b in BoardIds}:
            raise ConfigError(f"BrainFlow has no board number {value}")
        return value
    key = str(name).strip().upper().replace("-", "_")
    for candidate in (key, key + "_BOARD"):
        if candidate in BoardIds.__members__:
            return BoardIds[candidate].value
    known = sorted(b.name.removesuffix("_BOARD").lower() for b in BoardIds if b.value >= -3)
    raise ConfigError(f"unknown BrainFlow board {name!r}; known: {', '.join(known)}")


def board_layout(board: int) -> tuple[float, list[int], tuple[str, ...], int]:
    """(rate, EEG rows, EEG names, timestamp row) of a board, from BrainFlow's description."""
    BoardShim = _brainflow()[1]
    descr = BoardShim.get_board_descr(board)
    rows = list(descr.get("eeg_channels", []))
    if not rows:
        raise ConfigError(f"BrainFlow board {board} ({descr.get('name')}) has no EEG channels")
    names = descr.get("eeg_names", "")
    names = tuple(names.split(",")) if names else tuple(f"EEG{i + 1}" for i in range(len(rows)))
    return float(descr["sampling_rate"]), rows, names, int(descr["timestamp_channel"])


def stand_in_channels(board: str | int, wanted: tuple[str, ...]) -> tuple[str, ...] | None:
    """For BrainFlow's synthetic board (a test signal, not a headset): its channel names with the
    first ones renamed to `wanted`, so a model that needs those electrodes can be fed from it.
    None for any other board, whose channels are what they are."""
    if board_id(board) != -1:  # SYNTHETIC_BOARD
        return None
    names = board_layout(-1)[2]
    return tuple(wanted) + names[len(wanted) :]


class BoardSource(Source):
    kind = "eeg"
    live = True

    def __init__(
        self,
        board: str | int = "synthetic",
        serial_port: str = "",
        mac_address: str = "",
        ip_address: str = "",
        ip_port: int = 0,
        file: str = "",
        master_board: str | int | None = None,
        channels: tuple[str, ...] | None = None,
        block_s: float = 0.1,
        stall_s: float = 5.0,
        reconnect_attempts: int = 5,
        backoff_s: float = 0.5,
        gap_tolerance_s: float = 0.25,
        source_id: str | None = None,
    ) -> None:
        _, BoardShim, _, BrainFlowInputParams = _brainflow()
        self.board = board_id(board)
        params = BrainFlowInputParams()
        params.serial_port = serial_port
        params.mac_address = mac_address
        params.ip_address = ip_address
        params.ip_port = int(ip_port)
        params.file = str(file)
        # Playback and streaming boards replay another board's data: its layout is the data's.
        layout_board = self.board
        if master_board is not None:
            params.master_board = layout_board = board_id(master_board)
        elif self.board in (-3, -2):  # PLAYBACK_FILE_BOARD, STREAMING_BOARD
            raise ConfigError("a playback or streaming board needs master_board (whose data it is)")
        self._params = params
        self._rate, self._rows, names, self._ts_row = board_layout(layout_board)
        if channels is not None and len(channels) != len(names):
            raise ConfigError(
                f"the board has {len(names)} EEG channels ({', '.join(names)}); "
                f"{len(channels)} names were given"
            )
        self._names = tuple(channels) if channels is not None else names
        self.block_s = float(block_s)
        self.stall_s = float(stall_s)
        self.reconnect_attempts = int(reconnect_attempts)
        self.backoff_s = float(backoff_s)
        self.gap_tolerance_s = float(gap_tolerance_s)
        self._clock = BlockClock(gap_tolerance_s)
        self.reconnects = 0
        self._shim: object | None = None
        self._retired: list[object] = []
        self._BoardShim = BoardShim
        BoardShim.disable_board_logger()
        super().__init__(source_id or f"brainflow:{board}")

    @property
    def rate_hz(self) -> float:
        return self._rate

    @property
    def channels(self) -> tuple[str, ...]:
        return self._names

    def _prepare(self) -> None:
        shim = self._BoardShim(self.board, self._params)
        try:
            shim.prepare_session()
        except Exception as exc:
            raise SourceError(
                f"{self.id}: could not open the board ({exc}){self._hint(exc)}"
            ) from exc
        self._shim = shim

    def _hint(self, exc: Exception) -> str:
        """What to give when BrainFlow refuses the connection parameters (its
        INVALID_ARGUMENTS_ERROR names no parameter)."""
        p = self._params
        if "UNABLE_TO_OPEN_PORT_ERROR" in str(exc) and p.serial_port:
            return (
                f": serial port {p.serial_port} cannot be opened (is the dongle plugged in and "
                "the name right? on Linux the user needs the dialout group)"
            )
        if "INVALID_ARGUMENTS_ERROR" not in str(exc) or p.serial_port or p.mac_address:
            return ""
        return (
            ": the board needs its connection: a serial port (--serial-port, the daemon's "
            "serial_port: /dev/ttyUSB0 for a Cyton or Ganglion dongle on Linux, COM3 on "
            "Windows) or, for a Bluetooth board, --mac-address"
        )

    def _open(self) -> None:
        self._prepare()
        self._clock.reset()
        self._last_data = time.monotonic()
        self._since_data = 0  # reconnects since the last sample arrived

    def _start(self) -> None:
        try:
            self._shim.start_stream()
        except Exception as exc:
            raise SourceError(f"{self.id}: could not start streaming ({exc})") from exc
        self._last_data = time.monotonic()

    def _release(self) -> None:
        shim, self._shim = self._shim, None
        if shim is None:
            return
        for step in ("stop_stream", "release_session"):
            with contextlib.suppress(Exception):
                getattr(shim, step)()
        # BrainFlow keys sessions by board and parameters, and a BoardShim releases "its"
        # session when it is garbage-collected: a dropped handle would release the session
        # a reconnect has just made. Old handles are kept until the source closes.
        self._retired.append(shim)

    def _reconnect(self, why: str) -> None:
        log.warning("%s: %s; reconnecting", self.id, why)
        self._release()
        wait = self.backoff_s
        for attempt in range(1, self.reconnect_attempts + 1):
            time.sleep(wait)
            try:
                self._prepare()
                self._shim.start_stream()
            except Exception as exc:
                log.warning("%s: reconnect %d failed: %s", self.id, attempt, exc)
                self._release()
                wait *= 2
                continue
            self.reconnects += 1
            self._last_data = time.monotonic()
            self._since_data += 1
            if self._since_data > self.reconnect_attempts:
                break
            return
        raise SourceError(
            f"{self.id}: the board was lost ({why}) and {self.reconnect_attempts} reconnects failed"
        )

    def _read(self, timeout_s: float | None) -> Frame | None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if self._shim is None:
                self._reconnect("the session was released")
            try:
                data = self._shim.get_board_data()
            except Exception as exc:
                self._reconnect(f"reading failed ({exc})")
                continue
            if data.shape[1]:
                self._last_data = time.monotonic()
                self._since_data = 0
                return self._frame(data)
            if time.monotonic() - self._last_data > self.stall_s:
                self._reconnect(f"no data for {self.stall_s:g} s")
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(self.block_s)

    def _frame(self, data: np.ndarray) -> Frame:
        eeg = np.ascontiguousarray(data[self._rows], dtype=np.float64)
        start = self._clock.start(float(data[self._ts_row, 0]), eeg.shape[1], self._rate)
        return Frame(eeg, start, self._rate, self._names, "eeg", self.id, self.frames_read)

    def _stop(self) -> None:
        if self._shim is not None:
            with contextlib.suppress(Exception):
                self._shim.stop_stream()

    def _close(self) -> None:
        self._release()
        self._retired.clear()

    def stats(self) -> dict:
        out = super().stats()
        out["reconnects"] = self.reconnects
        return out
