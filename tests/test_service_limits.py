"""Resource limits and operator-facing behaviour of the service, with real sockets, processes and
file-descriptor limits: a cap on Unix-socket clients, no busy loop when accept fails, dropped and
refused clients in `status`, `status --socket` pointed at the events socket, READY only once the
sources are open, and INFO lines at the default log level."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.daemon.runner import read_status
from edge.sinks.unix import UnixSocketSink
from tests.test_unix_sink import event

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
BIN = Path(sys.executable).parent / "affect-edge"


def connect(path: Path, timeout: float = 1.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s


def test_clients_beyond_the_cap_are_refused_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.sock"
    with UnixSocketSink(path, max_clients=3) as sink:
        clients = [connect(path) for _ in range(5)]
        deadline = time.monotonic() + 5
        while sink.clients_refused < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.clients == 3 and sink.clients_refused == 2
        sink.write(event(0))
        answered = []
        for c in clients:
            try:
                answered.append(c.recv(65536))
            except TimeoutError:
                answered.append(None)
        # Three got the event; the two refused were closed at once (an empty read).
        assert sorted(a != b"" for a in answered) == [False, False, True, True, True]
        for c in clients:
            c.close()


ACCEPT_SPIN = """
import json, resource, sys, time
from edge.sinks.unix import UnixSocketSink
resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
sink = UnixSocketSink(sys.argv[1], max_clients=1000)
print("ready", flush=True)
sys.stdin.readline()            # the clients are connecting: out of descriptors from here
t0 = time.monotonic(); u0 = resource.getrusage(resource.RUSAGE_SELF)
time.sleep(1.5)
u1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (u1.ru_utime + u1.ru_stime) - (u0.ru_utime + u0.ru_stime)
print(json.dumps({"cpu_s": cpu, "wall_s": time.monotonic() - t0,
                  "accept_failures": sink.accept_failures, "clients": sink.clients}), flush=True)
sink.close()
"""


def test_accept_failing_for_lack_of_descriptors_backs_off_instead_of_spinning(tmp_path: Path):
    path = tmp_path / "events.sock"
    proc = subprocess.Popen(
        [sys.executable, "-c", ACCEPT_SPIN, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    clients = []
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 2
        while len(clients) < 50 and time.monotonic() < deadline:
            try:
                clients.append(connect(path, 0.2))
            except OSError:
                time.sleep(0.01)  # the listen queue is full for now
        proc.stdin.write("go\n")
        proc.stdin.flush()
        report = json.loads(proc.stdout.readline())
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in clients:
            c.close()
    assert report["accept_failures"] >= 1, report
    assert report["clients"] < 40
    # A spinning accept loop burns the whole 1.5 s; backing off costs a few milliseconds.
    assert report["cpu_s"] < 0.3 * report["wall_s"], report
    err = proc.stderr.read()
    assert err.count("cannot accept a client") <= 2, err[-2000:]


def test_status_shows_clients_and_refuses_the_events_socket_in_one_line(tmp_path: Path):
    status, events = tmp_path / "status.sock", tmp_path / "events.sock"
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        f"""
status_socket = "status.sock"
[speech]
source = "file:{CLIP}"
loop = true
[[sinks]]
kind = "unix"
path = "events.sock"
max_clients = 2
"""
    )
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients = []
    try:
        deadline = time.monotonic() + 30
        while not (status.exists() and events.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        clients = [connect(events) for _ in range(4)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sink = read_status(status)["sinks"][0]
            if sink.get("clients_refused") == 2:
                break
            time.sleep(0.05)
        assert sink["clients"] == 2 and sink["clients_refused"] == 2, sink
        out = subprocess.run(
            [str(BIN), "status", "--socket", str(status)], capture_output=True, text=True
        )
        assert out.returncode == 0 and "2 clients (0 dropped, 2 refused)" in out.stdout, out
        # The events socket is not the status socket: one line, exit 2, no traceback.
        out = subprocess.run(
            [str(BIN), "status", "--socket", str(events)], capture_output=True, text=True
        )
        assert out.returncode == 2, out
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert "not a daemon status socket" in out.stderr or "status_socket" in out.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in clients:
            c.close()
    err = proc.stderr.read()
    # INFO lines at the default level (no -v): what the service does is in its log.
    assert "running speech from file:" in err, err[-2000:]


def test_ready_comes_after_the_sources_opened(tmp_path: Path) -> None:
    pytest.importorskip("cysystemd")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(30)
    status = tmp_path / "status.sock"
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        f'status_socket = "status.sock"\n[speech]\nsource = "file:{CLIP}"\nloop = true\n'
        f'[eeg]\nsource = "board:synthetic"\n'
        f'[[sinks]]\nkind = "jsonl"\npath = "e.jsonl"\n'
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        first = notify.recv(256)
        # At READY every source is open: no modality is still "starting".
        states = {k: m["state"] for k, m in read_status(status)["modalities"].items()}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert first == b"READY=1"
    assert "starting" not in states.values(), states
