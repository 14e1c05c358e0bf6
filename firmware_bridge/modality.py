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

from typing import Any

from edge.modalities import Modality, register
from edge.runtime.registry import DEFAULTS
from firmware_bridge.options import BUNDLE_OPTIONS, WireOptions


def load_bundles(modality: Modality, options: WireOptions) -> dict[str, Any]:
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    return {
        name: load_bundle(find_bundle(getattr(options, key) or DEFAULTS[name]))
        for name, key in BUNDLE_OPTIONS.items()
    }


def open_source(uri: str, options: WireOptions, bundles: Any):
    from firmware_bridge.transport import open_uri
    from firmware_bridge.wire import WireLink, WireSource

    link, pipe = open_uri(uri, options.baud)
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
