"""Where events go: the `Sink` protocol and its implementations: JSON lines (stdout or a file),
a Unix domain socket for local apps, and MQTT (paho-mqtt, imported only when used); the wire
protocol comes with the firmware bridge."""

from edge.sinks.base import Sink
from edge.sinks.jsonl import JsonLinesSink
from edge.sinks.unix import UnixSocketSink

__all__ = ["JsonLinesSink", "Sink", "UnixSocketSink"]
