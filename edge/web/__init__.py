"""The live local view: a read-only page of what the device senses, fed by the daemon's bus.

`WebServer` (`server.py`) is a sink of the daemon's event bus (it takes events as the other sinks
do and never holds the bus up) that also serves one page (`static/`, shipped in the wheel,
nothing loaded from the internet) and a Server-Sent Events stream. `WebConfig` (`config.py`) is
the daemon's optional `[web]` table. Tornado (the `web` extra) is imported only when a server
is opened.
"""

from edge.web.config import WebConfig, parse_web

__all__ = ["WebConfig", "WebServer", "parse_web"]


def __getattr__(name: str):
    if name == "WebServer":
        from edge.web.server import WebServer

        return WebServer
    raise AttributeError(name)
