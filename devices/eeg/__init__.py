"""EEG sources: BrainFlow boards (`BoardSource`) and recordings (`open_eeg_file`: OpenBCI GUI text,
CSV, BrainFlow files, EDF/BDF; every other format MNE-Python reads through `MneRawSource`). Frames
hold (channels, samples) microvolts."""

from devices.eeg.board import BoardSource, board_id, stand_in_channels
from devices.eeg.files import (
    BrainFlowFileSource,
    CsvEegSource,
    EdfSource,
    OpenBCITextSource,
    open_eeg_file,
)
from devices.eeg.mne_source import MneRawSource

__all__ = [
    "BoardSource",
    "BrainFlowFileSource",
    "CsvEegSource",
    "EdfSource",
    "MneRawSource",
    "OpenBCITextSource",
    "board_id",
    "open_eeg_file",
    "stand_in_channels",
]
