"""The wire link's options (`affect-edge bridge`'s flags, `affect-edge run wire`'s and the daemon's
``[wire]`` table): one frozen class, each default in one place."""

from __future__ import annotations

from dataclasses import dataclass

from edge.modalities.options import OptionError, StreamOptions, number, path_field, text

#: The modality that scores each kind of block, and the option naming its bundle.
BUNDLE_OPTIONS = {"speech": "speech_bundle", "eeg": "eeg_bundle"}


@dataclass(frozen=True)
class WireOptions(StreamOptions):
    #: Speech bundle for AUDIO frames (None: the shipped one).
    speech_bundle: str | None = path_field(kind="bundle")
    #: EEG bundle for EEG frames (None: the shipped one).
    eeg_bundle: str | None = path_field(kind="bundle")
    #: Sensor frames waiting at most.
    queue: int = 64
    #: Wait for room rather than drop the oldest (None: a pipe or a recording waits, a device
    #: link drops).
    lossless: bool | None = None
    #: Serial speed.
    baud: int = 921_600
    #: The name this host gives in HELLO.
    device_id: str = "affect-edge-host"

    def check(self) -> None:
        super().check()
        if self.bundle is not None:
            raise OptionError(
                "bundle", "the wire serves several modalities: give speech_bundle and eeg_bundle"
            )
        text("speech_bundle", self.speech_bundle)
        text("eeg_bundle", self.eeg_bundle)
        text("device_id", self.device_id)
        number("queue", self.queue, 1, 1_000_000)
        number("baud", self.baud, 50, 20_000_000, " baud")
