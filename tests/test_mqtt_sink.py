"""The MQTT sink against a real broker (Debian's mosquitto on a loopback port): topics, order,
the retained status and last will, and the broker away at start and mid-run."""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edge.events import AffectEvent
from tests.streams import wait_for

mqtt = pytest.importorskip("paho.mqtt.client")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
if not Path(MOSQUITTO).is_file():
    pytest.skip("mosquitto is not installed (make installs it with apt)", allow_module_level=True)

from edge.sinks.mqtt import MqttSink  # noqa: E402


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A port the kernel hands out for
    binding to 0 can meanwhile become some client's source port (under `pytest -n 2`, another
    worker's, or the sink's own retries connecting to itself), and a broker started on it later
    then cannot bind."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


class Broker:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:  # (again, if its bind failed)
                self.proc = subprocess.Popen(
                    [MOSQUITTO, "-c", str(self.conf)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    b.stop()


class Listener:
    """A subscriber on the same broker, collecting (topic, payload) in arrival order."""

    def __init__(self, port: int, topic: str = "affect-edge/#") -> None:
        self.got: list[tuple[str, bytes, bool]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: (
            c.subscribe(topic, qos=1),
            self.ready.set(),
        )
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload, m.retain))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(5)
        time.sleep(0.2)

    def events(self) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.got if not t.endswith("/status")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def event(i: int, modality: str = "speech") -> AffectEvent:
    return AffectEvent(
        modality=modality,
        source="test",
        model="m",
        model_version="1",
        start_s=float(i),
        end_s=i + 1.0,
        values={"arousal": 0.5},
        updated=True,
        latency_ms={"total": 1.0},
        seq=i,
    )


def test_events_arrive_in_order_on_per_modality_topics_with_a_status(broker):
    broker.start()
    listener = Listener(broker.port)
    with MqttSink("127.0.0.1", broker.port, device="dev1") as sink:
        assert sink.wait_connected(5)
        for i in range(50):
            sink.write(event(i, "speech" if i % 2 else "eeg"))
        sink.flush()
        assert wait_for(lambda: len(listener.events()) == 50)
        assert sink.written == 50 and sink.dropped == 0
    topics = {t for t, _, _ in listener.got}
    assert topics == {"affect-edge/dev1/speech", "affect-edge/dev1/eeg", "affect-edge/dev1/status"}
    assert [e["seq"] for e in listener.events()] == list(range(50))
    statuses = [p for t, p, _ in listener.got if t.endswith("/status")]
    assert statuses[0] == b"online" and wait_for(lambda: listener.got[-1][1] == b"offline")
    listener.close()


def test_the_broker_away_at_start_then_lost_mid_run(broker):
    sink = MqttSink("127.0.0.1", broker.port, device="dev2", buffer=30)
    try:
        for i in range(10):  # no broker yet: buffered, in order
            sink.write(event(i))
        assert not sink.connected and sink.buffered == 10
        broker.start()
        listener = Listener(broker.port)
        assert sink.wait_connected(10)
        assert wait_for(lambda: len(listener.events()) == 10)
        # The sink counts an event written once the broker's PUBACK is in (it may trail the
        # listener's copy).
        assert wait_for(lambda: sink.buffered == 0 and sink.written == 10)
        listener.close()
        broker.stop()
        assert wait_for(lambda: not sink.connected)
        for i in range(10, 50):  # 40 events while away: the 30 newest are kept
            sink.write(event(i))
        assert sink.buffered == 30 and sink.dropped == 10
        broker.start()
        listener = Listener(broker.port)
        assert wait_for(lambda: sink.connected, 15)
        assert wait_for(lambda: len(listener.events()) == 30, 15)
        assert [e["seq"] for e in listener.events()] == list(range(20, 50))
        assert wait_for(lambda: sink.written == 40)
        assert sink.reconnects >= 1
        listener.close()
    finally:
        sink.close()


def test_the_last_will_says_offline_when_the_device_vanishes(broker):
    broker.start()
    sink = MqttSink("127.0.0.1", broker.port, device="dev3", keepalive_s=1)
    assert sink.wait_connected(5)
    listener = Listener(broker.port, "affect-edge/dev3/status")
    assert wait_for(lambda: any(p == b"online" for _, p, _ in listener.got))
    # The device dies without a goodbye: its socket just closes.
    sink._client._sock.close()
    assert wait_for(lambda: listener.got[-1][1] == b"offline", 10)
    sink._closed = True
    sink._client.loop_stop()
    listener.close()


def test_bad_options_are_refused():
    from edge.errors import ConfigError

    with pytest.raises(ConfigError, match="QoS"):
        MqttSink(qos=3)
    with pytest.raises(ConfigError, match=r"'\+' or '#'"):
        MqttSink(device="a+b")


def test_the_daemon_publishes_through_a_broker_that_comes_late_and_goes_away(broker, tmp_path):
    """Fault test through the daemon: no broker at start, then one, then none, then one again."""
    from edge.daemon.config import load_config
    from edge.daemon.runner import Daemon

    clip = Path(__file__).resolve().parents[1] / "edge" / "data" / "samples" / "speech_en.wav"
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        f'report_s = 0\n[speech]\nsource = "file:{clip}"\nloop = true\nspeed = 4\n'
        f'[[sinks]]\nkind = "mqtt"\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f'device = "d4"\nbuffer = 1000\n'
    )

    class Order:
        written = dropped = 0

        def __init__(self) -> None:
            self.seen: list[bytes] = []

        def write(self, event):
            self.seen.append(event.to_json().encode())

        def flush(self):
            pass

        def close(self):
            pass

    order = Order()
    daemon = Daemon(load_config(cfg), extra_sinks=(order,))
    mqtt_sink = daemon.sinks[0]
    try:
        assert wait_for(lambda: mqtt_sink.buffered >= 5)  # events wait for a broker
        broker.start()
        listener = Listener(broker.port, "affect-edge/d4/speech")
        assert wait_for(lambda: len(listener.events()) >= 10, 15)
        broker.stop()
        listener.close()
        assert wait_for(lambda: not mqtt_sink.connected)
        assert wait_for(lambda: mqtt_sink.buffered >= 5)
        broker.start()
        listener = Listener(broker.port, "affect-edge/d4/speech")
        assert wait_for(lambda: mqtt_sink.connected and mqtt_sink.buffered == 0, 15)
        time.sleep(0.5)
    finally:
        daemon.close()
    got = [p for t, p, _ in listener.got]
    # After the reconnect the buffered events come first, then the live ones: in the order the
    # daemon published them (a looping file restarts its pipeline, so seq alone does not say).
    where = [order.seen.index(p) for p in got]
    assert len(where) >= 5 and where == sorted(where)
    assert where == list(range(where[0], where[0] + len(where)))  # none lost in between
    assert mqtt_sink.dropped == 0
    listener.close()
