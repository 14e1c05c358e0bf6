"""The Unix-socket sink with real sockets: many clients, a slow one dropped alone, mode 0660,
stale and foreign socket files."""

from __future__ import annotations

import json
import os
import socket
import stat
from functools import partial

import pytest

from edge.errors import ConfigError
from edge.events import AffectEvent
from edge.sinks.unix import UnixSocketSink
from tests import streams

pytestmark = pytest.mark.device


def event(i: int) -> AffectEvent:
    return AffectEvent(
        modality="eeg",
        source="test",
        model="m",
        model_version="1",
        start_s=float(i),
        end_s=i + 1.0,
        values={"level": 3.0, "pad": 0.0},
        updated=True,
        quality={"ok": True, "blink": ["AF3"]},
        latency_ms={"total": 1.0},
        seq=i,
    )


def connect(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    return s


def read_lines(s: socket.socket, n: int, timeout: float = 5.0) -> list[dict]:
    s.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return [json.loads(line) for line in buf.splitlines()[:n]]


wait_for = partial(streams.wait_for, timeout=5.0)


def test_every_client_gets_every_event_in_order_and_a_slow_one_is_dropped_alone(tmp_path):
    path = tmp_path / "affect.sock"
    with UnixSocketSink(path, max_backlog=64 * 1024) as sink:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        fast, slow = connect(path), connect(path)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert wait_for(lambda: sink.clients == 2)
        got: list[dict] = []
        for i in range(3000):
            sink.write(event(i))
            if i % 100 == 99:  # the fast client keeps up; the slow one never reads
                got += read_lines(fast, 100)
        assert [e["seq"] for e in got] == list(range(3000))
        assert sink.clients_dropped == 1 and sink.clients == 1 and sink.written == 3000
        assert got[0]["quality"]["blink"] == ["AF3"]
        fast.close()
        slow.close()
    assert not path.exists()


def test_stale_live_and_foreign_socket_files(tmp_path):
    path = tmp_path / "s.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays: a crashed run's leftover
    with UnixSocketSink(path) as sink:
        with pytest.raises(ConfigError, match="another process is serving"):
            UnixSocketSink(path)
        # That probe connected and hung up; a client gets the events written once it has been
        # accepted, so wait for both connections to be taken and the probe to be gone.
        client = connect(path)
        assert wait_for(lambda: sink.connections == 2 and sink.clients == 1)
        sink.write(event(7))
        assert read_lines(client, 1)[0]["seq"] == 7
        client.close()
        assert wait_for(lambda: sink.clients == 0)  # a hang-up is noticed
        assert sink.clients_dropped == 0
    plain = tmp_path / "file.sock"
    plain.write_text("x")
    with pytest.raises(ConfigError, match="not a socket"):
        UnixSocketSink(plain)
    with pytest.raises(ConfigError, match="does not exist"):
        UnixSocketSink(tmp_path / "none" / "s.sock")


def test_a_failure_in_the_serving_loop_drops_the_clients_and_serving_goes_on(tmp_path):
    """Once, an error in the serving thread ended it: writers then blocked on its full wake-up
    socket and the daemon could not stop. Now the clients are dropped, counted, and serving goes
    on; a writer never blocks on the wake-up."""
    path = tmp_path / "affect.sock"
    with UnixSocketSink(path) as sink:
        first = connect(path)
        assert wait_for(lambda: sink.clients == 1)
        select = sink._selector.select
        calls = []

        def failing_once(timeout=None):
            calls.append(1)
            if len(calls) == 1:
                raise OSError(9, "Bad file descriptor")
            return select(timeout)

        sink._selector.select = failing_once
        for i in range(20_000):  # far more wake-ups than a socket buffer holds, with no reader
            sink.write(event(i)) if i < 5 else sink._wake()
        assert wait_for(lambda: sink.serve_failures == 1 and sink.clients == 0)
        first.settimeout(5)
        while first.recv(65536):  # what it was sent before, then the end: its connection closed
            pass
        second = connect(path)
        assert wait_for(lambda: sink.clients == 1)
        sink.write(event(7))
        assert read_lines(second, 1)[0]["seq"] == 7
        second.close()
        first.close()
