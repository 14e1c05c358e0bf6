"""The bridge: sensor frames from a device in, AFFECT frames back, over any transport.

A wire link run by the one stream runner (`edge.stream.run`) like any other stream: a
`WireSource` (the link's reader: packets decoded per sender, control messages answered at once,
AUDIO and EEG blocks queued as frames), a `WirePipeline` (the speech or EEG pipeline of each
sender, built by the modality registry on its first block, sync, so the values equal the
pipeline's on the same samples) and a `WireSink` (one AFFECT frame per event, to the sender it is
about). `firmware_bridge.wire` says how each behaves: sessions per UDP sender, sequence restarts,
byte-safe ERROR replies and their codes, HEARTBEAT, the bounded queue and overload reports. On a
pipe (`lossless`, the CLI's --stdio) nothing is dropped and the stream ends when the pipe closes
and every block has been scored.
"""

from __future__ import annotations

import threading

from firmware_bridge.protocol import Caps, Decoder
from firmware_bridge.wire import (
    MAX_SESSIONS,
    Session,
    WireLink,
    WirePipeline,
    WireSink,
    WireSource,
    quality_bits,
)

__all__ = ["MAX_SESSIONS", "Bridge", "Session", "quality_bits"]


class Bridge:
    """A transport served until `stop()`: `serve()` runs the wire source, pipeline and sink
    through `edge.stream.run` on the calling thread."""

    def __init__(
        self,
        transport,
        speech_bundle=None,
        eeg_bundle=None,
        device_id: str = "affect-edge-host",
        queue: int = 64,
        lossless: bool = False,
    ) -> None:
        self.transport = transport
        self.link = WireLink(transport, device_id)
        self.source = WireSource(self.link, queue=queue, lossless=lossless)
        self.pipeline = WirePipeline(self.link, {"speech": speech_bundle, "eeg": eeg_bundle})
        self.sink = WireSink(self.link)
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.result = None

    # The first (on a serial or stdio link, the only) sender's state.
    @property
    def sessions(self) -> dict[object, Session]:
        return self.link.sessions

    @property
    def decoder(self) -> Decoder:
        return self.link.default.decoder

    @property
    def caps(self) -> Caps | None:
        return self.link.default.caps

    @property
    def peer(self) -> str | None:
        return self.link.default.peer

    @property
    def dropped_blocks(self) -> int:
        return self.source.dropped_frames

    @property
    def running(self) -> bool:
        """Whether `serve()` is running the stream."""
        return not self._idle.is_set()

    def serve(self, seconds: float | None = None) -> None:
        """Run the link until `stop()`, SIGINT/SIGTERM (on the main thread), `seconds`, or a
        pipe's end."""
        from edge.stream import run

        self._idle.clear()
        try:
            if not self._stop.is_set():
                self.result = run(
                    self.source,
                    self.pipeline,
                    [self.sink],
                    stop=self._stop,
                    live=True,
                    duration_s=seconds,
                    close_sinks=False,
                )
        finally:
            self._idle.set()

    def stop(self) -> None:
        self._stop.set()
        self._idle.wait(10)
        self.source.close()
        self.pipeline.close()

    def stats(self) -> dict:
        return {**self.link.stats(), "dropped_blocks": self.dropped_blocks}
