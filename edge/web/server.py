"""`WebServer`: the live page and its event stream, attached to the daemon's bus as a sink.

The bus thread calls `write(event)` for every event, as it does for the other sinks: the event is
formatted once (the sinks' JSON schema, with the time the server took it) and appended to each
browser's own bounded backlog; nothing in `write` waits on a browser. Tornado's event loop, on
its own thread, hands each backlog to its connection (Server-Sent Events). A browser whose backlog
would pass `max_backlog` bytes is disconnected alone and counted in `clients_dropped`; the bus,
the other sinks and the other browsers go on. Once a second, while a browser is attached, a
`status` message carries the daemon's figures (`Daemon.snapshot`, trimmed to what the page
shows: no paths, no configuration).

Why Tornado: one package with no dependencies (1.1 MB installed without its tests; the C speedup
is optional), maintained since 2009 and used by Jupyter; its HTTP server streams responses with
flow control (`flush()` resolves when the kernel took the bytes, which is what a per-browser
backlog needs), listens on TCP and Unix sockets alike, and runs on an asyncio loop in one thread,
so a Raspberry Pi pays one thread and a few MiB for it.

Safety: loopback by default (another address needs a token, checked in constant time, then kept
in an HttpOnly SameSite=Strict cookie); every request's Host header must name this machine
(`WebConfig.hosts`), which refuses DNS rebinding; no CORS header is ever sent; a strict
Content-Security-Policy (scripts, styles and connections from this origin only); GET and HEAD
only. Only events (derived values) and status figures leave the daemon: no sink ever sees a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.events import AffectEvent
from edge.web.config import WebConfig

log = logging.getLogger(__name__)

#: Seconds of past events a browser gets when it connects (so a page opened late is not empty).
HISTORY_S = 120.0
#: At most this many past events per modality are kept for that.
HISTORY_MAX = {"speech": 600, "face": 2000, "eeg": 600, "system": 120}
COOKIE = "affect_edge_token"
#: The kernel's send buffer per browser (Linux doubles it). Left to autotune, a browser that
#: stopped reading would hold about 4 MB of kernel memory on loopback before its backlog grew.
SEND_BUFFER = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATIC = {
    "app.js": "application/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


def _static(name: str) -> bytes:
    return resources.files("edge.web").joinpath("static", name).read_bytes()


def host_name(header: str | None) -> str | None:
    """The host of a Host header, lower case, without port or trailing dot; None if malformed."""
    if not header or len(header) > 255 or any(c in header for c in " /\\@\x00"):
        return None
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return None
        rest = header[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return header[1:end].lower()
    name, _, port = header.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".").lower() or None


class _Client:
    """One browser's stream: its backlog (bytes waiting) and a wake-up for its writer."""

    __slots__ = ("backlog", "connection", "drop", "wake")

    def __init__(self, connection, wake: asyncio.Event) -> None:
        self.connection = connection
        self.backlog = bytearray()
        self.drop = False
        self.wake = wake


class WebServer:
    """The page and the event stream; a sink of the daemon's bus (see the module's text)."""

    def __init__(
        self,
        config: WebConfig,
        snapshot: Callable[[], dict[str, Any]] | None = None,
        profile: str | None = None,
    ) -> None:
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        self.config = config
        self.written = 0
        self.dropped = 0
        #: Browsers disconnected because they fell `max_backlog` bytes behind.
        self.clients_dropped = 0
        #: Streams opened so far; requests refused (foreign Host, no token, too many browsers).
        self.connections = 0
        self.refused = 0
        self._snapshot = snapshot
        self._profile = profile
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._clients: list[_Client] = []
        self._history: dict[str, deque[tuple[float, bytes]]] = {}
        self._status_line: bytes | None = None
        self._last_cpu: tuple[float, float] | None = None
        self._wake_pending = False
        self._closing = False
        self._page = _static("index.html")
        self._assets = {name: _static(name) for name in STATIC}
        self._hosts = config.hosts()
        self._budgets = self._load_budgets(profile)
        sockets: list[socket.socket] = []
        try:
            if config.tcp:
                sockets += bind_sockets(config.port, config.address, reuse_port=False)
            if config.socket:
                from edge.sinks.unix import listen_unix

                unix = listen_unix(Path(config.socket), 0o660, 16)
                unix.setblocking(False)
                sockets.append(unix)
        except OSError as exc:
            for s in sockets:
                s.close()
            where = f"{config.address}:{config.port}" if config.tcp else config.socket
            raise ConfigError(
                f"web: cannot listen on {where} ({exc.strerror or exc}); "
                "choose another port (web.port) or stop what holds it"
            ) from None
        self.port = next((s.getsockname()[1] for s in sockets if s.family != socket.AF_UNIX), None)
        self._sockets = sockets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._http: HTTPServer | None = None
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        where = [self.url.split("?")[0]] if self.url else []
        where += [f"unix:{config.socket}"] if config.socket else []
        log.info("web: the live page is at %s", " and ".join(where))

    # --- what the page is told once ---------------------------------------------------------------
    @property
    def url(self) -> str | None:
        """The page's address on loopback TCP (None when only the Unix socket is served)."""
        if self.port is None:
            return None
        host = self.config.address
        host = f"[{host}]" if ":" in host else host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        token = f"?token={self.config.token}" if self.config.token else ""
        return f"http://{host}:{self.port}/{token}"

    @staticmethod
    def _load_budgets(profile: str | None) -> dict[str, Any]:
        """Each modality's p99 budget and the factor from this host's latency to the target."""
        if not profile:
            return {}
        from devices.profile import load_profile
        from edge.runtime.budget import latency_scale

        try:
            p = load_profile(profile)
        except Exception:  # a profile the daemon itself validated; never fatal here
            return {}
        scale, basis = latency_scale(p)
        out: dict[str, Any] = {"_scale": scale, "_basis": basis, "_profile": p}
        for name in ("speech", "face", "eeg"):
            b = p.budget(name)
            if b is not None:
                out[name] = {"p99_ms": b.latency_p99_ms, "rss_bytes": b.rss_bytes}
        return out

    def _hello(self) -> dict[str, Any]:
        from edge import __version__

        return {
            "device": self.config.name,
            "profile": self._profile,
            "version": __version__,
            "history_s": HISTORY_S,
            "now": round(time.monotonic() - self._started, 3),
            "latency_scale": self._budgets.get("_scale"),
            "latency_basis": self._budgets.get("_basis"),
            "budgets": {k: v for k, v in self._budgets.items() if not k.startswith("_")},
        }

    # --- the sink side (the bus thread) -------------------------------------------------------------
    def write(self, event: AffectEvent) -> None:
        t = round(time.monotonic() - self._started, 3)
        data = json.dumps(
            {"t": t, "event": event.to_dict()}, separators=(",", ":"), allow_nan=False
        )
        message = f"event: affect\ndata: {data}\n\n".encode()
        with self._lock:
            history = self._history.get(event.modality)
            if history is None:
                history = self._history[event.modality] = deque(
                    maxlen=HISTORY_MAX.get(event.modality, 600)
                )
            history.append((t, message))
            self._append(message)
        self.written += 1

    def _append(self, message: bytes) -> None:
        """Queue `message` for every browser (lock held); wake the loop once."""
        if not self._clients:
            return
        for client in self._clients:
            if client.drop:
                continue
            if len(client.backlog) + len(message) > self.config.max_backlog:
                client.drop = True
                client.backlog.clear()
                continue
            client.backlog += message
        if not self._wake_pending and self._loop is not None and not self._closing:
            self._wake_pending = True
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        with self._lock:
            self._wake_pending = False
            clients = list(self._clients)
        for client in clients:
            if client.drop:
                self._disconnect(client, "it fell behind (max_backlog)")
            client.wake.set()

    def _disconnect(self, client: _Client, why: str) -> None:
        with self._lock:
            if client not in self._clients:
                return
            self._clients.remove(client)
        self.clients_dropped += 1
        log.warning("web: dropped a browser: %s", why)
        with contextlib.suppress(Exception):
            client.connection.close()
        client.wake.set()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def flush(self) -> None:
        pass

    # --- the status figures, once a second while someone watches --------------------------------------
    def _status(self) -> dict[str, Any] | None:
        if self._snapshot is None:
            return None
        try:
            snap = self._snapshot()
        except Exception:  # the daemon is still starting or swapping its workers
            return None
        now = time.monotonic()
        cpu = snap.get("cpu_s")
        share = None
        if cpu is not None and self._last_cpu is not None and now > self._last_cpu[0]:
            share = round((cpu - self._last_cpu[1]) / (now - self._last_cpu[0]), 4)
        if cpu is not None:
            self._last_cpu = (now, cpu)
        from edge.runtime.budget import verdict

        profile = self._budgets.get("_profile")
        scale = self._budgets.get("_scale")
        modalities = {}
        for name, m in snap.get("modalities", {}).items():
            pipe = m.get("pipeline", {})
            lat = pipe.get("model_latency", {})
            p99 = lat.get("p99_ms")
            budget = self._budgets.get(name, {}).get("p99_ms")
            on_target = p99 * scale if p99 is not None and scale is not None else None
            modalities[name] = {
                "state": m.get("state"),
                "model": m.get("model"),
                "frames": m.get("frames"),
                "events": pipe.get("events"),
                "dropped_windows": pipe.get("dropped_windows"),
                "restarts": m.get("restarts"),
                "loops": m.get("loops"),
                "failures": m.get("failures"),
                "last_error": m.get("last_error"),
                "p50_ms": lat.get("p50_ms"),
                "p99_ms": p99,
                "p99_target_ms": on_target,
                "budget_p99_ms": budget,
                "ok": verdict(name, lat, profile).ok,  # judged as everywhere else
            }
        bus = snap.get("bus", {})
        sinks = snap.get("sinks", [])
        return {
            "t": round(now - self._started, 3),
            "uptime_s": snap.get("uptime_s"),
            "reloads": snap.get("reloads"),
            "cpu_share": share,
            "rss_mb": round(snap["rss_bytes"] / 2**20, 1) if snap.get("rss_bytes") else None,
            "rss_budget_mb": round(
                sum(v.get("rss_bytes") or 0 for k, v in self._budgets.items() if k in modalities)
                / 2**20,
                1,
            )
            or None,
            "modalities": modalities,
            "bus": {k: bus.get(k) for k in ("delivered", "dropped", "waiting")},
            "sinks_dropped": sum(int(s.get("dropped") or 0) for s in sinks),
            "web": {
                "clients": self.clients,
                "clients_dropped": self.clients_dropped,
                "refused": self.refused,
            },
        }

    def _tick(self) -> None:
        with self._lock:
            watched = bool(self._clients)
        if not watched:
            # Keep the CPU baseline current (the daemon's cpu_s is this process's CPU time), so
            # the first status a new page gets already has a CPU share, not "measuring".
            from edge.runtime.memory import cpu_seconds

            self._last_cpu = (time.monotonic(), round(cpu_seconds(), 3))
            return
        status = self._status()
        if status is None:
            return
        line = json.dumps(status, separators=(",", ":"), default=str)
        message = f"event: status\ndata: {line}\n\n".encode()
        with self._lock:
            self._status_line = message
            self._append(message)

    # --- the HTTP side (tornado's thread) ---------------------------------------------------------
    def _serve(self) -> None:
        from tornado.httpserver import HTTPServer
        from tornado.ioloop import PeriodicCallback

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = _application(self)
        self._http = HTTPServer(app, xheaders=False, idle_connection_timeout=60)
        self._http.add_sockets(self._sockets)
        ticker = PeriodicCallback(self._tick, 1000)
        ticker.start()
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            ticker.stop()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _open_stream(self, connection) -> tuple[_Client, bytes] | None:
        """Register a browser; returns its client and what it is sent first (None: too many)."""
        wake = asyncio.Event()
        client = _Client(connection, wake)
        now = time.monotonic() - self._started
        with self._lock:
            if len(self._clients) >= self.config.max_clients:
                return None
            hello = json.dumps(self._hello(), separators=(",", ":"))
            parts = [b"retry: 2000\n\n", f"event: hello\ndata: {hello}\n\n".encode()]
            past = sorted(
                (item for h in self._history.values() for item in h if item[0] >= now - HISTORY_S),
                key=lambda item: item[0],
            )
            parts += [m for _, m in past]
            if self._status_line is not None:
                parts.append(self._status_line)
            self._clients.append(client)
            self.connections += 1
        return client, b"".join(parts)

    def _close_stream(self, client: _Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    async def _next(self, client: _Client) -> bytes | None:
        while True:
            with self._lock:
                if client.drop or self._closing:
                    return None
                if client.backlog:
                    data = bytes(client.backlog)
                    client.backlog.clear()
                    return data
                client.wake.clear()
            await client.wake.wait()

    def host_ok(self, header: str | None) -> bool:
        name = host_name(header)
        return name is not None and name in self._hosts

    def token_ok(self, offered: str | None) -> bool:
        if not self.config.token:
            return True
        return offered is not None and hmac.compare_digest(
            offered.encode(), self.config.token.encode()
        )

    # --- the end ------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            done = threading.Event()

            def stop() -> None:
                if self._http is not None:
                    self._http.stop()
                with self._lock:
                    clients = list(self._clients)
                    self._clients.clear()
                for client in clients:
                    with contextlib.suppress(Exception):
                        client.connection.close()
                    client.wake.set()

                async def finish() -> None:
                    if self._http is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(self._http.close_all_connections(), 1.0)
                    loop.stop()
                    done.set()

                loop.create_task(finish())

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop)
            done.wait(2)
            self._thread.join(2)
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()
        if self.config.socket:
            with contextlib.suppress(FileNotFoundError):
                Path(self.config.socket).unlink()

    def __enter__(self) -> WebServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _application(server: WebServer):
    from tornado.iostream import StreamClosedError
    from tornado.web import Application, RequestHandler

    class Base(RequestHandler):
        SUPPORTED_METHODS = ("GET", "HEAD")  # type: ignore[assignment]

        def set_default_headers(self) -> None:
            self.clear_header("Server")
            self.set_header("Content-Security-Policy", CSP)
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("X-Frame-Options", "DENY")
            self.set_header("Referrer-Policy", "no-referrer")
            self.set_header("Cross-Origin-Resource-Policy", "same-origin")
            self.set_header("Cache-Control", "no-store")

        def prepare(self) -> None:
            if not server.host_ok(self.request.headers.get("Host")):
                server.refused += 1
                self._refuse(403, "refused: the Host header does not name this machine")
                return
            offered = (
                self.get_query_argument("token", None)
                or self.get_cookie(COOKIE)
                or self.request.headers.get("Authorization", "").removeprefix("Bearer ")
                or None
            )
            if not server.token_ok(offered):
                server.refused += 1
                self._refuse(401, "refused: this page needs its token (open /?token=...)")
                return
            if server.config.token and self.get_query_argument("token", None):
                self.set_cookie(COOKIE, offered, httponly=True, samesite="Strict", path="/")

        def _refuse(self, code: int, text: str) -> None:
            self.set_status(code)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(text + "\n")

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"{status_code} {self._reason}\n")

    class Page(Base):
        def get(self) -> None:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(server._page)

    class Asset(Base):
        def get(self, name: str) -> None:
            if name not in STATIC:
                self.send_error(404)
                return
            self.set_header("Content-Type", STATIC[name])
            self.finish(server._assets[name])

    class Events(Base):
        client: _Client | None = None

        async def get(self) -> None:
            opened = server._open_stream(self.request.connection)
            if opened is None:
                server.refused += 1
                self._refuse(503, "refused: too many browsers are watching (web.max_clients)")
                return
            self.client, first = opened
            sock = getattr(self.request.connection.stream, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("X-Accel-Buffering", "no")
            try:
                self.write(first)
                await self.flush()
                while (data := await server._next(self.client)) is not None:
                    self.write(data)
                    await self.flush()
            except StreamClosedError:
                pass
            finally:
                server._close_stream(self.client)

        def on_connection_close(self) -> None:
            if self.client is not None:
                server._close_stream(self.client)
                self.client.wake.set()

    def log_request(handler: RequestHandler) -> None:
        status = handler.get_status()
        if status >= 400:
            log.info(
                "web: %s %s -> %d (Host %r)",
                handler.request.method,
                handler.request.path,
                status,
                handler.request.headers.get("Host"),
            )

    return Application(
        [
            (r"/", Page),
            (r"/static/([a-z]+\.[a-z]+)", Asset),
            (r"/events", Events),
        ],
        log_function=log_request,
        compress_response=False,
        xsrf_cookies=False,
    )
