"""`AudioFileSource`: an audio file streamed from disk in blocks, as a live device would deliver it.

Any format libsndfile reads goes through `soundfile` (WAV in every sample format, including
float, WAVE_FORMAT_EXTENSIBLE, RF64, µ-law, A-law and ADPCM; FLAC; Ogg Vorbis/Opus; MP3; AIFF...).
Where `soundfile` is not installed (a bare device install), 8/16/24/32-bit integer PCM WAV is
read with the standard library instead. Either way only one block is held at a time, so memory
stays bounded for a file of any length.

Frames are float32 in [-1, 1], shape (channels, samples), stamped by their first sample's
position in the file, handed out as fast as the reader asks (`edge.stream.Paced` paces any
source to the wall clock).
"""

from __future__ import annotations

import logging
import struct
import wave
from pathlib import Path

import numpy as np

from devices.audio.wav import decode_pcm
from devices.errors import SourceError
from devices.frame import Frame
from devices.native import native_stderr
from devices.source import Source

log = logging.getLogger(__name__)


def check_audio_path(path: Path) -> None:
    """A `SourceError` that names the problem when `path` cannot be an audio file."""
    if path.is_dir():
        raise SourceError(f"{path} is a directory, not an audio file")
    if not path.exists():
        raise SourceError(f"audio file not found: {path}")
    if not path.is_file():
        raise SourceError(f"{path} is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise SourceError(
            f"cannot read {path}: no permission (make it readable: chmod u+r, or run as its owner)"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None


class _SoundfileReader:
    def __init__(self, path: Path) -> None:
        import soundfile as sf

        self._sf = sf
        try:
            self._file = sf.SoundFile(str(path))
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise SourceError(f"{path} is not readable audio ({_reason(exc)})") from exc
        self.rate_hz = int(self._file.samplerate)
        self.n_channels = int(self._file.channels)
        self.n_samples = int(self._file.frames) if self._file.seekable() else None
        self.format = f"{self._file.format}/{self._file.subtype}"
        # MP3 goes through libmpg123, which prints complaints about damaged frames itself.
        self._chatty = self._file.format == "MP3"
        self.decoder_messages: list[str] = []

    def read(self, n: int) -> np.ndarray:
        """(samples, channels) float32; fewer than n rows at the end, zero rows after it."""
        try:
            if self._chatty:
                with native_stderr(self.decoder_messages):
                    return self._file.read(n, dtype="float32", always_2d=True)
            return self._file.read(n, dtype="float32", always_2d=True)
        except (RuntimeError, self._sf.LibsndfileError) as exc:
            raise SourceError(
                f"{self._file.name}: cannot read past {self._file.tell()} samples ({_reason(exc)})"
            ) from exc

    def close(self) -> None:
        if self.decoder_messages:
            # libmpg123 complains about frames it conceals even in files that decode faithfully
            # (a libsndfile-written MP3 decodes with correlation 0.998 and hundreds of these):
            # kept for `-v`, not shouted.
            log.info(
                "%s: the MP3 decoder reported %d frame problem(s) it concealed, for example: %s",
                self._file.name,
                len(self.decoder_messages),
                self.decoder_messages[0],
            )
        self._file.close()


WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class _PcmWave(wave.Wave_read):
    """The standard library's WAV reader, also taking WAVE_FORMAT_EXTENSIBLE files whose
    sub-format is integer PCM (how 24-bit and multichannel WAVs are written; Python 3.11's
    reader refuses them as 'unknown format: 65534')."""

    def _read_fmt_chunk(self, chunk) -> None:
        try:
            tag, self._nchannels, self._framerate, _, _ = struct.unpack_from(
                "<HHLLH", chunk.read(14)
            )
            bits = struct.unpack_from("<H", chunk.read(2))[0]
            if tag == WAVE_FORMAT_EXTENSIBLE:
                # cbSize, valid bits, channel mask, then the sub-format GUID (its first 2 bytes
                # are the format code).
                tag = struct.unpack_from("<H", chunk.read(10), 8)[0]
                if tag != WAVE_FORMAT_PCM:
                    raise wave.Error(
                        f"WAVE_FORMAT_EXTENSIBLE with sub-format {tag}, not integer PCM"
                    )
        except struct.error:
            raise EOFError from None
        if tag != WAVE_FORMAT_PCM:
            raise wave.Error(f"unknown format: {tag}")
        self._sampwidth = (bits + 7) // 8
        if not self._sampwidth or not self._nchannels:
            raise wave.Error("bad sample width or channel count")
        self._framesize = self._nchannels * self._sampwidth
        self._comptype = "NONE"
        self._compname = "not compressed"


class _WaveReader:
    """Integer PCM WAV (plain or WAVE_FORMAT_EXTENSIBLE) through the standard library, for
    installs without soundfile."""

    def __init__(self, path: Path) -> None:
        try:
            self._file = _PcmWave(str(path))
        except (wave.Error, EOFError, struct.error) as exc:
            raise SourceError(
                f"{path} is not an integer PCM WAV file ({exc or 'no data'}); this install reads "
                "other formats once soundfile is installed: pip install 'affect-edge[audio]'"
            ) from exc
        self._width = self._file.getsampwidth()
        if self._width not in (1, 2, 3, 4):
            self._file.close()
            raise SourceError(f"{path}: {8 * self._width}-bit samples are not supported")
        self.rate_hz = int(self._file.getframerate())
        self.n_channels = int(self._file.getnchannels())
        self.n_samples = int(self._file.getnframes())
        self.format = f"WAV/PCM_{8 * self._width}"

    def read(self, n: int) -> np.ndarray:
        raw = self._file.readframes(n)
        usable = len(raw) - len(raw) % (self._width * self.n_channels)
        return decode_pcm(raw[:usable], self._width, self.n_channels)

    def close(self) -> None:
        self._file.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split(": ", 1)[-1] if text else type(exc).__name__


def _open_reader(path: Path):
    try:
        import soundfile  # noqa: F401 - probing whether the audio extra is installed
    except ImportError:
        return _WaveReader(path)
    except OSError:  # soundfile installed but its native library failed to load
        return _WaveReader(path)
    return _SoundfileReader(path)


class AudioFileSource(Source):
    """Stream an audio file in blocks of `block_s` seconds (or exactly `block_samples`)."""

    kind = "audio"

    def __init__(
        self,
        path: str | Path,
        block_s: float = 0.01,
        block_samples: int | None = None,
        mono: bool = False,
        source_id: str | None = None,
    ) -> None:
        super().__init__(source_id or f"file:{Path(path).name}")
        if block_samples is None and not (0 < block_s < float("inf")):
            raise SourceError(f"block_s must be a positive number of seconds, got {block_s}")
        if block_samples is not None and block_samples < 1:
            raise SourceError(f"block_samples must be >= 1, got {block_samples}")
        self.path = Path(path)
        self.block_s = block_s
        self._block_samples = block_samples
        self.mono = mono
        self._reader = None
        self._position = 0

    @property
    def rate_hz(self) -> float:
        return float(self._opened().rate_hz)

    @property
    def channels(self) -> tuple[str, ...]:
        n = self._opened().n_channels
        return ("mono",) if self.mono or n == 1 else tuple(f"ch{i}" for i in range(n))

    @property
    def file_channels(self) -> int:
        """Channels stored in the file (before any mix-down to mono)."""
        return self._opened().n_channels

    @property
    def n_samples(self) -> int | None:
        """Samples per channel in the file, where the format says (None for a stream)."""
        return self._opened().n_samples

    @property
    def duration_s(self) -> float | None:
        n = self.n_samples
        return None if n is None else n / self.rate_hz

    @property
    def format(self) -> str:
        return self._opened().format

    @property
    def block_samples(self) -> int:
        if self._block_samples is not None:
            return self._block_samples
        return max(1, round(self.rate_hz * self.block_s))

    def _opened(self):
        if self._reader is None:
            raise SourceError(f"{self.id}: the file is not open yet (use `with source:`)")
        return self._reader

    def _open(self) -> None:
        check_audio_path(self.path)
        self._reader = _open_reader(self.path)
        if self._reader.rate_hz <= 0 or self._reader.n_channels < 1:
            self._reader.close()
            raise SourceError(f"{self.path}: the header gives no usable rate or channel count")

    def _read(self, timeout_s: float | None) -> Frame | None:
        reader = self._opened()
        block = reader.read(self.block_samples)
        if block.shape[0] == 0:
            return None
        if self.mono and block.shape[1] > 1:
            data = block.mean(axis=1, dtype=np.float32)[None, :]
        else:
            data = np.ascontiguousarray(block.T)
        start = self._position
        self._position += block.shape[0]
        rate = reader.rate_hz
        return Frame(
            data, start / rate, float(rate), self.channels, "audio", self.id, self.frames_read
        )

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def read_audio(path: str | Path, mono: bool = True) -> tuple[np.ndarray, int]:
    """A whole file through `AudioFileSource`: float32 (channels, samples) and the rate in Hz.

    For tools and training, not for the device (which streams). Exactly the samples the source
    streams, so training and device read a file identically.
    """
    with AudioFileSource(path, block_samples=1 << 16, mono=mono) as src:
        blocks = [f.data for f in src]
        rate = int(src.rate_hz)
        channels = 1 if mono else src.file_channels
    if not blocks:
        return np.zeros((channels, 0), np.float32), rate
    return np.concatenate(blocks, axis=1), rate
