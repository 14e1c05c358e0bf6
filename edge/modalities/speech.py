"""Speech: arousal, dominance and valence from a microphone (``mic``, ``mic:DEVICE``) or an
audio file (``file:PATH``), through `SpeechPipeline`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.modalities import Modality, after_colon, file_path, register
from edge.modalities.options import StreamOptions, number
from edge.runtime.registry import DEFAULTS

#: Audio blocks a stream may be fed in (ms). Shorter ones are refused: a block per sample or less
#: only slows the run (1e-30 ms ran 5.7 s on the 6 s clip), and no device delivers them.
BLOCK_MS_RANGE = (0.1, 60_000.0)


@dataclass(frozen=True)
class SpeechOptions(StreamOptions):
    #: Audio block fed per call, as a device would (ms).
    block_ms: float = 10.0
    #: Seconds between estimates (None: the bundle's).
    update_s: float | None = None

    def check(self) -> None:
        super().check()
        number("block_ms", self.block_ms, *BLOCK_MS_RANGE, " ms")
        number("update_s", self.update_s, 0, math.inf, " seconds", lo_open=True)


def open_source(uri: str, options: SpeechOptions, bundles: Any):
    from devices.audio import AudioFileSource

    path = file_path(uri)
    if path is not None:
        return AudioFileSource(path, block_s=options.block_ms / 1000, mono=True)
    from devices.audio.microphone import MicrophoneSource

    device = after_colon(uri) or None
    return MicrophoneSource(int(device) if device and device.isdigit() else device)


def build_pipeline(bundle, source, options: SpeechOptions, mode: str = "sync", on_event=None):
    from edge.pipelines.speech import SpeechPipeline

    return SpeechPipeline(
        bundle,
        input_rate_hz=int(source.rate_hz),
        engine=options.engine,
        precision=options.precision,
        update_s=options.update_s,
        mode=mode,
        on_event=on_event,
    )


def sample(folder: Path, speed: float) -> tuple[str, SpeechOptions]:
    """The demo's input: the bundled clip."""
    from edge.samples import sample_clip

    return f"file:{sample_clip()}", SpeechOptions(speed=speed)


SPEECH = register(
    Modality(
        name="speech",
        options=SpeechOptions,
        schemes=("mic",),
        default_bundle=DEFAULTS["speech"],
        open_source=open_source,
        build_pipeline=build_pipeline,
        rank=10,
        sample=sample,
    )
)
