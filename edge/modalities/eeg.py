"""EEG: valence or arousal levels per window from a BrainFlow board (``board:NAME``) or a recording
(``file:PATH``: OpenBCI GUI text, CSV, BrainFlow files, EDF/BDF), through `EegPipeline`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.frontends.eeg import CYTON_RAIL_UV
from edge.modalities import Modality, file_path, register
from edge.modalities.options import (
    OptionError,
    StreamOptions,
    names,
    number,
    one_of,
    path_field,
    text,
)
from edge.runtime.registry import DEFAULTS


@dataclass(frozen=True)
class EegOptions(StreamOptions):
    #: The source's EEG channel names, in order (renames what the source calls them).
    channels: tuple[str, ...] | None = None
    #: Mains notch, Hz.
    mains: int = 50
    #: Seconds of calibration at the start (None: the bundle's).
    calibration_s: float | None = None
    #: A stored baseline (JSON) instead of calibrating.
    baseline: str | None = path_field(kind="file")
    #: Seconds between windows (None: the bundle's).
    hop_s: float | None = None
    #: Amplifier rail in µV for the railed flag.
    rail_uv: float = CYTON_RAIL_UV
    #: Score flagged windows too.
    score_flagged: bool = False
    #: Weight on the newest window, (0, 1] (1: none).
    smoothing: float = 1.0
    #: Samples per block read from the source (ms).
    block_ms: float = 100.0
    # --- recordings ----------------------------------------------------------------------------
    #: CSV: the EEG columns in order, NAME=COLUMN or COLUMN.
    csv_columns: tuple[str, ...] | None = None
    #: CSV: the time column.
    csv_time: str | None = None
    #: CSV: the time column's unit.
    csv_time_unit: str = "s"
    #: CSV without a time column: its rate (Hz).
    rate: float | None = None
    #: CSV values' unit.
    unit: str = "uV"
    # --- boards --------------------------------------------------------------------------------
    serial_port: str = ""
    mac_address: str = ""
    #: For playback_file / streaming boards: whose data it carries.
    master_board: str | None = None
    #: For the playback_file board: the file.
    board_file: str = ""

    def check(self) -> None:
        super().check()
        names("channels", self.channels)
        names("csv_columns", self.csv_columns)
        text("csv_time", self.csv_time)
        text("baseline", self.baseline)
        one_of("mains", self.mains, (50, 60))
        one_of("csv_time_unit", self.csv_time_unit, ("s", "ms"))
        number("calibration_s", self.calibration_s, 0, 3600, " seconds")
        number("hop_s", self.hop_s, 0, 3600, " seconds", lo_open=True)
        number("rail_uv", self.rail_uv, 0, 1e9, " microvolts", lo_open=True)
        number("smoothing", self.smoothing, 0, 1, lo_open=True)
        # Positive here; the range a recording may have is the reader's (devices.eeg.files).
        number("rate", self.rate, 0, math.inf, " Hz", lo_open=True)
        number("block_ms", self.block_ms, 1, 1000, " ms")
        from devices.units import UNIT_NAMES, is_unit

        if not is_unit(self.unit):
            raise OptionError("unit", f"must be one of {', '.join(UNIT_NAMES)}, got {self.unit!r}")


def open_source(uri: str, options: EegOptions, bundle: Any):
    from devices.eeg import open_eeg_file, stand_in_channels

    path = file_path(uri)
    if path is not None:
        return open_eeg_file(
            path,
            channels=options.channels,
            csv_columns=list(options.csv_columns) if options.csv_columns else None,
            csv_time=options.csv_time,
            csv_time_unit=options.csv_time_unit,
            rate_hz=options.rate,
            unit=options.unit,
            board=options.master_board,
            block_s=options.block_ms / 1000,
        )
    board = uri.split(":", 1)[1]
    channels = options.channels
    if channels is None:
        channels = stand_in_channels(board, tuple(bundle.manifest.front_end.channels))
    return board_source(board, options, channels)


def board_source(board: str, options: EegOptions, channels: tuple[str, ...] | None):
    """A BrainFlow board with the options' connection settings, its channels named `channels`."""
    from devices.eeg import BoardSource

    return BoardSource(
        board,
        serial_port=options.serial_port,
        mac_address=options.mac_address,
        file=options.board_file,
        master_board=options.master_board,
        channels=channels,
        block_s=options.block_ms / 1000,
    )


def build_pipeline(bundle, source, options: EegOptions, mode: str = "sync", on_event=None):
    from edge.frontends.eeg import Baseline
    from edge.pipelines.eeg import EegPipeline

    spec = bundle.manifest.front_end
    return EegPipeline(
        bundle,
        source.rate_hz,
        source.channels,
        engine=options.engine,
        precision=options.precision,
        hop_s=options.hop_s,
        calibration_s=options.calibration_s,
        baseline=Baseline.load(options.baseline, spec.channels) if options.baseline else None,
        rail_uv=options.rail_uv,
        mains_hz=options.mains,
        score_flagged=options.score_flagged,
        smoothing=options.smoothing,
        mode=mode,
        on_event=on_event,
    )


def sample(folder: Path, speed: float) -> tuple[str, EegOptions]:
    """The demo's input: the synthetic 14-channel recording (`edge.samples`) as a CSV in
    `folder`, calibrated on its first seconds."""
    from edge.samples import DEMO_CALIBRATION_S, EMOTIV_14, write_synthetic_csv

    options = EegOptions(
        csv_columns=tuple(EMOTIV_14),
        csv_time="t",
        calibration_s=DEMO_CALIBRATION_S,
        block_ms=62.5,
        speed=speed,
    )
    return f"file:{write_synthetic_csv(folder / 'eeg.csv')}", options


EEG = register(
    Modality(
        name="eeg",
        options=EegOptions,
        schemes=("board:",),
        default_bundle=DEFAULTS["eeg"],
        open_source=open_source,
        build_pipeline=build_pipeline,
        rank=30,
        sample=sample,
    )
)
