"""`--record DIR`: the raw frames a modality's source delivered, kept on disk (off by default).

Nothing raw is written unless the daemon is given ``--record DIR``. Each source session becomes
one file: audio as WAV (soundfile), EEG as CSV (time in seconds, then one column per channel in
µV), video as MP4 (OpenCV). A file is written under a hidden ``.part`` name and renamed into
place when the session closes, so a reader never sees a half-written recording under its real
name (a crash leaves only the hidden ``.NAME.part.SUFFIX``).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np

from devices.frame import Frame
from edge.errors import ConfigError

SUFFIX = {"audio": ".wav", "eeg": ".csv", "video": ".mp4"}


class Recorder:
    def __init__(self, folder: str | Path, modality: str) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"--record: folder {self.folder} does not exist")
        self.modality = modality
        self.path: Path | None = None
        self._part: Path | None = None
        self._writer = None
        self.frames = 0

    def _open(self, frame: Frame) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        name = f"{self.modality}-{stamp}-{os.getpid()}{SUFFIX[frame.kind]}"
        self.path = self.folder / name
        # Hidden, and still ending in the real suffix (OpenCV picks the container by it).
        self._part = self.folder / f".{self.path.stem}.part{self.path.suffix}"
        if frame.kind == "audio":
            import soundfile as sf

            self._writer = sf.SoundFile(
                self._part,
                "w",
                samplerate=int(frame.rate_hz),
                channels=len(frame.channels),
                format="WAV",
                subtype="PCM_16" if frame.data.dtype == np.int16 else "FLOAT",
            )
        elif frame.kind == "eeg":
            self._writer = open(self._part, "w")  # noqa: SIM115 - closed in close()
            self._writer.write("time_s," + ",".join(frame.channels) + "\n")
        else:
            import cv2

            h, w = frame.data.shape[:2]
            fps = frame.rate_hz if frame.rate_hz > 0 else 15.0
            self._writer = cv2.VideoWriter(
                str(self._part), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h)
            )

    def write(self, frame: Frame) -> None:
        if self._writer is None:
            self._open(frame)
        if frame.kind == "audio":
            self._writer.write(frame.data.T)
        elif frame.kind == "eeg":
            t = frame.start_s + np.arange(frame.n_samples) / frame.rate_hz
            rows = np.column_stack([t, frame.data.T])
            np.savetxt(self._writer, rows, fmt="%.6f", delimiter=",")
        else:
            self._writer.write(frame.data)
        self.frames += 1

    def close(self) -> Path | None:
        if self._writer is None:
            return None
        with contextlib.suppress(Exception):
            if hasattr(self._writer, "release"):
                self._writer.release()
            else:
                self._writer.close()
        self._writer = None
        os.replace(self._part, self.path)
        return self.path
