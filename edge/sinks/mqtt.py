"""`MqttSink`: events published to an MQTT broker through paho-mqtt, surviving the broker going away.

Topics: ``{prefix}/{device}/{modality}`` for events (one JSON object each, the event record), and
``{prefix}/{device}/status``, retained, which says ``online`` once connected and ``offline``
when the sink closes; the broker publishes ``offline`` itself (the last will) if the device
vanishes without closing.

Delivery: events wait in one bounded, ordered buffer that the sink owns (`buffer` events); a
sender thread hands them to paho in order, at most `WINDOW` at a time (paho's own queue is
bounded to that too, `max_queued_messages_set`), and an event counts as `written` only once the
broker confirmed it: its PUBACK/PUBCOMP at QoS 1 and 2; at QoS 0, which has no acknowledgement,
a QoS 1 marker (the retained ``online`` status) sent after it and acknowledged, which the broker
can only have read after the event on the same connection. paho's network thread reconnects
with a back-off (1 s doubling to 30 s). While the broker is away or hung, the window stays full
and the buffer fills; when it is full the oldest event is dropped and counted in `dropped`, so
memory stays bounded and the newest survive. After a reconnect, what paho still holds goes out
first (it resends QoS 1/2 messages), then the buffer, in order. At QoS 0 the events written to a
connection that then broke without confirming them are counted in `dropped` (some may in fact
have arrived: QoS 0 cannot tell), and those paho had not yet written go out again. Every
connection failure is logged with its reason (refused, unreachable, TLS, authorisation), once
per distinct reason. `write` never blocks on the network and never raises.

Options: QoS 0, 1 or 2; TLS (``tls=True`` with the system's CAs, or ``ca_certs``, ``certfile``,
``keyfile``); username and password.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import OrderedDict, deque

from edge.errors import ConfigError
from edge.events import AffectEvent

log = logging.getLogger(__name__)

#: Events handed to paho and not yet confirmed, at most.
WINDOW = 64


class MqttSink:
    def __init__(
        self,
        host: str = "localhost",
        port: int = 1883,
        prefix: str = "affect-edge",
        device: str | None = None,
        qos: int = 1,
        buffer: int = 1000,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_certs: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        keepalive_s: int = 30,
        client_id: str | None = None,
    ) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError as exc:  # pragma: no cover - the mqtt extra installs it
            raise ConfigError(
                "the MQTT sink needs paho-mqtt: pip install 'affect-edge[mqtt]'"
            ) from exc
        if qos not in (0, 1, 2):
            raise ConfigError(f"MQTT QoS must be 0, 1 or 2, got {qos}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(f"MQTT port must be in [1, 65535], got {port!r}")
        if buffer < 1:
            raise ConfigError(f"the MQTT buffer must hold at least one event, got {buffer}")
        for part in (prefix, device or ""):
            if any(c in part for c in "+#"):
                raise ConfigError(f"MQTT topic parts may not hold '+' or '#': {part!r}")
        self.device = device or socket.gethostname()
        self.base = f"{prefix.rstrip('/')}/{self.device}"
        self.status_topic = f"{self.base}/status"
        self.host, self.port = host, int(port)
        self.qos = qos
        self.written = 0
        self.dropped = 0
        self.reconnects = 0
        #: Connection attempts that failed (refused, unreachable, TLS, authorisation).
        self.connect_failures = 0
        self.last_error: str | None = None
        self._window = min(WINDOW, buffer)
        self._buffer: deque[tuple[str, bytes]] = deque(maxlen=buffer)
        # Handed to paho, not yet confirmed: mid -> [topic, payload, written to the socket].
        self._inflight: OrderedDict[int, list] = OrderedDict()
        self._marker: tuple[int, int] | None = None  # QoS 0: (marker mid, events before it)
        self._resync = False  # after a reconnect at QoS 1/2: paho's resends go first
        self._acked: deque[int] = deque()  # mids paho reported published (any thread)
        self._seen_disconnects = 0
        self._disconnects = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._connected = threading.Event()
        self._ever_connected = False
        self._closed = False
        self._logged_reason: str | None = None
        self._mqtt = mqtt
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"affect-edge-{self.device}",
        )
        if username is not None:
            client.username_pw_set(username, password)
        if tls or ca_certs or certfile:
            try:
                client.tls_set(ca_certs=ca_certs, certfile=certfile, keyfile=keyfile)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"MQTT TLS settings: {exc}") from None
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        # paho's own queue holds at most the window (and the status markers beside it).
        client.max_inflight_messages_set(self._window + 2)
        client.max_queued_messages_set(self._window + 4)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        self._catch_socket_errors(client)
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()
        try:
            client.connect_async(host, self.port, keepalive=keepalive_s)
        except (OSError, ValueError) as exc:
            self._stop_sender()
            raise ConfigError(f"MQTT broker {host}:{self.port}: {exc}") from None
        client.loop_start()

    def _catch_socket_errors(self, client) -> None:
        """Keep the reason of a failed connection attempt (paho's reconnect loop swallows it:
        refused, unreachable, a TLS certificate it does not trust) so that it can be logged."""
        create = getattr(client, "_create_socket", None)
        if create is None:  # pragma: no cover - another paho: failures are logged without why
            return

        def create_socket(*args, **kwargs):
            try:
                return create(*args, **kwargs)
            except OSError as exc:
                self.last_error = _describe(exc)
                raise

        client._create_socket = create_socket

    # --- paho's network thread: record and wake the sender, never take the sink's lock ---------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.connect_failures += 1
            self._log_failure(f"the broker refused the connection: {reason_code}")
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._logged_reason = None
        log.info("MQTT connected to %s:%d", self.host, self.port)
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self._connected.set()
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self.connect_failures += 1
        self._log_failure(self.last_error or "connection failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self._disconnects += 1
        self._wake.set()
        if not self._closed and self._ever_connected:
            log.warning(
                "MQTT connection to %s:%d lost (%s); buffering events",
                self.host,
                self.port,
                reason_code,
            )

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acked.append(mid)
        self._wake.set()

    def _log_failure(self, why: str) -> None:
        self.last_error = why
        if why != self._logged_reason:  # once per distinct reason, not once per retry
            self._logged_reason = why
            log.error("MQTT broker %s:%d: %s (retrying)", self.host, self.port, why)

    # --- the sender thread ------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._closed:
            self._wake.wait(0.5)
            self._wake.clear()
            self._pump()

    def _pump(self) -> None:
        """Account for confirmations and lost connections, then hand buffered events to paho in
        order while connected and the window has room."""
        with self._lock:
            while self._acked:
                self._confirm(self._acked.popleft())
            if self._disconnects != self._seen_disconnects:
                self._seen_disconnects = self._disconnects
                self._connection_broke()
            if self._resync and not self._inflight:
                self._resync = False
            if not self._connected.is_set() or self._resync:
                return
            mqtt = self._mqtt
            while self._buffer and len(self._inflight) < self._window:
                topic, payload = self._buffer[0]
                info = self._client.publish(topic, payload, qos=self.qos)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # not connected after all: it stays first, for the reconnect
                self._buffer.popleft()
                self._inflight[info.mid] = [topic, payload, False]
            if self.qos == 0 and self._inflight and self._marker is None:
                info = self._client.publish(self.status_topic, b"online", qos=1, retain=True)
                if info.rc == mqtt.MQTT_ERR_SUCCESS:
                    self._marker = (info.mid, len(self._inflight))

    def _confirm(self, mid: int) -> None:
        if self.qos == 0:
            if mid in self._inflight:
                self._inflight[mid][2] = True  # written to the socket; not yet confirmed
            elif self._marker is not None and mid == self._marker[0]:
                for _ in range(min(self._marker[1], len(self._inflight))):
                    self._inflight.popitem(last=False)
                    self.written += 1
                self._marker = None
        elif self._inflight.pop(mid, None) is not None:
            self.written += 1

    def _connection_broke(self) -> None:
        if self.qos == 0:
            # paho drops QoS 0 packets it had not written: they go back first, in order. Those
            # written but not confirmed may be lost with the connection: counted.
            unsent = [(t, p) for t, p, written in self._inflight.values() if not written]
            lost = len(self._inflight) - len(unsent)
            if lost:
                self.dropped += lost
                log.warning(
                    "MQTT: %d QoS 0 event(s) written to a connection that broke before the "
                    "broker confirmed them: counted as lost",
                    lost,
                )
            self._inflight.clear()
            self._marker = None
            for item in reversed(unsent):
                if len(self._buffer) == self._buffer.maxlen:
                    self.dropped += 1
                    continue
                self._buffer.appendleft(item)
        elif self._inflight:
            self._resync = True  # paho resends these after the reconnect, before anything new

    # --- the sink -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def buffered(self) -> int:
        """Events not yet confirmed by the broker (waiting in the buffer or with paho)."""
        return len(self._buffer) + len(self._inflight)

    def write(self, event: AffectEvent) -> None:
        item = (f"{self.base}/{event.modality}", event.to_json().encode())
        with self._lock:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1  # the append pushes the oldest out
            self._buffer.append(item)
        self._wake.set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def flush(self, timeout_s: float = 2.0) -> None:
        """Wait (up to `timeout_s`) until the broker confirmed every buffered event."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._connected.is_set():
            self._wake.set()
            self._pump()
            with self._lock:
                if not self._buffer and not self._inflight:
                    return
            time.sleep(0.005)

    def _stop_sender(self) -> None:
        self._closed = True
        self._wake.set()
        self._sender.join(2)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._stop_sender()
        with self._lock:
            while self._acked:
                self._confirm(self._acked.popleft())
            self.dropped += len(self._buffer) + len(self._inflight)  # never confirmed
            self._buffer.clear()
            self._inflight.clear()
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(exc: OSError) -> str:
    """A failed connection's reason, in words."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no broker listening there)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the broker's name ({exc.strerror})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out connecting"
    return exc.strerror or str(exc) or type(exc).__name__
