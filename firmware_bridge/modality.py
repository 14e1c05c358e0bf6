"""The wire as a modality of the registry (`edge.modalities`): a device on a serial port, UDP or a
pipe, or a recording of its bytes, run by `affect-edge run wire URI` and by the daemon's
``[wire]`` table like any other source.

    wire:serial:PORT     a serial port (``--baud``)
    wire:udp:HOST:PORT   datagrams; each sender a session of its own
    wire:stdio           frames on standard input, replies on standard output
    file:PATH            a recorded byte stream, played as fast as it is scored (replies dropped)

The source is a `WireSource`; the pipeline a `WirePipeline` (the speech and EEG pipelines of each
sender) that answers every event on the wire as an AFFECT frame (`WireSink`) before the run's own
sinks see it. Registered through the ``affect_edge.modalities`` entry point (edge never imports
the bridge), or by importing this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.errors import ConfigError
from edge.modalities import Modality, file_path, register
from edge.modalities.options import OptionError, StreamOptions, number, path_field, text
from edge.runtime.registry import DEFAULTS

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


def load_bundles(modality: Modality, options: WireOptions) -> dict[str, Any]:
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    return {
        name: load_bundle(find_bundle(getattr(options, key) or DEFAULTS[name]))
        for name, key in BUNDLE_OPTIONS.items()
    }


def transport(uri: str, options: WireOptions):
    """The byte link a URI names (opened); whether it is a pipe (one that can wait)."""
    from firmware_bridge import transport as t

    path = file_path(uri)
    if path is not None:
        return t.FileTransport(str(path)), True
    kind, _, where = uri.split(":", 1)[1].partition(":")
    if kind == "stdio" and not where:
        return t.StdioTransport(), True
    if kind == "udp" and where:
        return t.UdpTransport(where), False
    if kind == "serial" and where:
        return t.SerialTransport(where, options.baud), False
    raise ConfigError(f"{uri!r}: a wire link is wire:serial:PORT, wire:udp:HOST:PORT or wire:stdio")


def open_source(uri: str, options: WireOptions, bundles: Any):
    from firmware_bridge.wire import WireLink, WireSource

    link, pipe = transport(uri, options)
    lossless = pipe if options.lossless is None else options.lossless
    return WireSource(
        WireLink(link, options.device_id),
        queue=options.queue,
        lossless=lossless,
        owns_transport=True,
        source_id=uri,
    )


def build_pipeline(bundles, source, options: WireOptions, mode: str = "sync", on_event=None):
    from firmware_bridge.wire import WirePipeline, WireSink

    # Each sender's pipelines run sync on the runner's thread: the wire source's reader thread
    # already keeps the link answered while a model runs.
    return WirePipeline(source.link, bundles, reply=WireSink(source.link), on_event=on_event)


WIRE = register(
    Modality(
        name="wire",
        options=WireOptions,
        schemes=("wire:",),
        default_bundle=DEFAULTS["speech"],
        open_source=open_source,
        build_pipeline=build_pipeline,
        load_bundles=load_bundles,
        rank=90,
    )
)
