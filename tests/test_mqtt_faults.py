"""The MQTT sink's promises under a hung broker and failed connections, against a real mosquitto:
paho's own queue stays bounded, events arrive in order across the outage, every loss is counted
(at QoS 0 and 1), and every failed connection says why in the log."""

from __future__ import annotations

import getpass
import logging
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edge.sinks.mqtt import WINDOW, MqttSink
from tests.streams import wait_for
from tests.test_mqtt_sink import Broker, Listener, event


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    if b.proc is not None:
        b.proc.send_signal(signal.SIGCONT)
    b.stop()


def paho_holds(sink: MqttSink) -> int:
    """Messages in paho's own queues (QoS 1/2 messages and raw packets waiting to be written)."""
    client = sink._client
    return len(client._out_messages) + len(client._out_packet)


@pytest.mark.parametrize("qos", [0, 1])
def test_a_hung_then_killed_broker_keeps_order_bounds_and_counts(broker, qos):
    broker.start()
    first = Listener(broker.port, "affect-edge/hung/#")
    sink = MqttSink("127.0.0.1", broker.port, device="hung", qos=qos, buffer=200, keepalive_s=5)
    try:
        assert sink.wait_connected(5)
        for i in range(100):
            sink.write(event(i))
        assert wait_for(lambda: len(first.events()) == 100, 10)
        broker.proc.send_signal(signal.SIGSTOP)  # hung: the TCP connection stays open
        most = 0
        for i in range(100, 900):
            sink.write(event(i))
            if i % 50 == 0:
                time.sleep(0.05)
                most = max(most, paho_holds(sink))
        time.sleep(0.3)
        most = max(most, paho_holds(sink))
        assert most <= WINDOW + 8, most  # paho's queue is bounded by the sink's window
        assert sink.buffered <= 200 + WINDOW
        broker.proc.kill()
        broker.proc.wait(5)
        broker.proc = None
        first.close()
        broker.start()
        second = Listener(broker.port, "affect-edge/hung/#")
        assert wait_for(lambda: sink.connected and sink.buffered == 0, 15)
        sink.close()
        time.sleep(0.3)
        got = [e["seq"] for e in first.events()] + [e["seq"] for e in second.events()]
        second.close()
    finally:
        sink.close()
    assert got == sorted(set(got)), "out of order or repeated"
    lost = 900 - len(got)
    assert lost > 0 and sink.written == len(got) if qos == 1 else True
    if qos == 1:
        assert sink.dropped == lost  # exactly the events that did not arrive
    else:
        assert sink.dropped >= lost  # QoS 0 cannot tell; no loss goes uncounted
        assert sink.dropped - lost <= WINDOW
    assert got[:100] == list(range(100)) and got[-1] == 899  # the newest survive


def _tls_broker(folder: Path, port: int) -> tuple[Path, subprocess.Popen]:
    key, cert = folder / "server.key", folder / "server.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    conf = folder / "tls.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\ncertfile {cert}\nkeyfile {key}\n"
        # Started as root, mosquitto would drop to its own user, who cannot read the key here.
        f"user {getpass.getuser()}\n"
    )
    proc = subprocess.Popen(
        [Broker.__init__.__globals__["MOSQUITTO"], "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return cert, proc


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


def test_every_connection_failure_says_why(broker, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.sinks.mqtt")
    # Nobody listening.
    sink = MqttSink("127.0.0.1", broker.port, device="f1")
    try:
        assert wait_for(lambda: sink.connect_failures >= 2, 10)
    finally:
        sink.close()
    refused = [r for r in caplog.records if "connection refused" in r.getMessage()]
    assert len(refused) == 1, caplog.text  # once per reason, not once per retry
    # A broker whose certificate the sink does not trust (the system's CAs).
    caplog.clear()
    (tmp_path / "tls").mkdir()
    _, proc = _tls_broker(tmp_path / "tls", broker.port)
    try:
        assert wait_for(lambda: _accepts(broker.port), 10)
        sink = MqttSink("127.0.0.1", broker.port, device="f2", tls=True)
        try:
            assert wait_for(lambda: sink.connect_failures >= 1, 10)
        finally:
            sink.close()
    finally:
        proc.terminate()
        proc.wait(5)
    assert "TLS" in caplog.text and "not trusted" in caplog.text, caplog.text
    # A broker that wants a password.
    caplog.clear()
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {tmp_path / 'none.pw'}\nuser {getpass.getuser()}\n"
    )
    (tmp_path / "none.pw").write_text("")
    broker.start()
    sink = MqttSink("127.0.0.1", broker.port, device="f3", username="u", password="p")
    try:
        assert wait_for(lambda: sink.connect_failures >= 1, 10)
    finally:
        sink.close()
    assert "refused the connection" in caplog.text, caplog.text
    assert sink.last_error and "authori" in sink.last_error.lower() + caplog.text.lower()
