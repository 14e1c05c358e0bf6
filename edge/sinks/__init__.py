"""Where events go: the `Sink` protocol and its implementations (JSON lines now; the Unix socket
and MQTT come with the daemon; the wire protocol with the firmware bridge)."""

from edge.sinks.base import Sink
from edge.sinks.jsonl import JsonLinesSink

__all__ = ["JsonLinesSink", "Sink"]
