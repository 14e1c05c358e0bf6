"""`MqttSink`: events published to an MQTT broker through paho-mqtt, surviving the broker going away.

Topics: ``{prefix}/{device}/{modality}`` for events (one JSON object each, the event record), and
``{prefix}/{device}/status``, retained, which says ``online`` once connected and ``offline``
when the sink closes; the broker publishes ``offline`` itself (the last will) if the device
vanishes without closing.

Delivery: events wait in one bounded, ordered buffer (`buffer` events) and go out in order
while the client is connected; paho's network thread reconnects with a back-off (1 s doubling
to 30 s). While the broker is away the buffer fills; when it is full the oldest event is dropped
and counted in `dropped`, so memory stays bounded and the newest survive. After a reconnect the
buffered events go out first, in order. `write` never blocks on the network and never raises.

Options: QoS 0, 1 or 2; TLS (``tls=True`` with the system's CAs, or ``ca_certs``, ``certfile``,
``keyfile``); username and password.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections import deque

from edge.errors import ConfigError
from edge.events import AffectEvent

log = logging.getLogger(__name__)


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
        self.qos = qos
        self.written = 0
        self.dropped = 0
        self.reconnects = 0
        self._buffer: deque[tuple[str, bytes]] = deque(maxlen=buffer)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._ever_connected = False
        self._closed = False
        self._mqtt = mqtt
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"affect-edge-{self.device}",
        )
        if username is not None:
            client.username_pw_set(username, password)
        if tls or ca_certs or certfile:
            client.tls_set(ca_certs=ca_certs, certfile=certfile, keyfile=keyfile)
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect_async(host, int(port), keepalive=keepalive_s)
        client.loop_start()

    # --- paho's network thread ----------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason_code)
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        self._connected.set()
        self._drain()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._closed:
            log.warning("MQTT broker connection lost (%s); buffering events", reason_code)

    # --- the sink -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def write(self, event: AffectEvent) -> None:
        item = (f"{self.base}/{event.modality}", event.to_json().encode())
        with self._lock:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1  # the append pushes the oldest out
            self._buffer.append(item)
        if self._connected.is_set():
            self._drain()

    def _drain(self) -> None:
        """Publish buffered events in order while connected (any thread)."""
        with self._lock:
            while self._buffer and self._connected.is_set():
                topic, payload = self._buffer[0]
                info = self._client.publish(topic, payload, qos=self.qos)
                if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
                    break  # not connected after all: keep it, in order, for the reconnect
                self._buffer.popleft()
                self.written += 1

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def flush(self, timeout_s: float = 2.0) -> None:
        """Publish what is buffered if connected, and wait for paho to send it."""
        self._drain()
        if self._connected.is_set():
            # A marker message: once it is out, everything published before it is too.
            info = self._client.publish(self.status_topic, b"online", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self.dropped += len(self._buffer)  # never delivered
        self._buffer.clear()
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
