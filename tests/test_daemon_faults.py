"""The service under faults, through real processes: a reload whose outputs do not open keeps the
running config (nginx's way), a failed start exits non-zero with one line, and `--check` refuses
every bad value the daemon would use, naming the key, without a traceback."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.daemon.config import load_config
from edge.daemon.runner import read_status
from edge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
FACE = ROOT / "edge" / "data" / "samples" / "face_astronaut.jpg"
BIN = Path(sys.executable).parent / "affect-edge"


def wait_until(predicate, timeout_s: float = 20.0, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert lines, "no error message"
    return lines[-1]


def test_a_reload_whose_outputs_do_not_open_keeps_the_running_config(tmp_path):
    status, events = tmp_path / "status.sock", tmp_path / "events.jsonl"
    base = f"""
status_socket = "status.sock"
[speech]
source = "file:{CLIP}"
loop = true
speed = 4
[[sinks]]
kind = "jsonl"
path = "events.jsonl"
"""
    cfg = tmp_path / "d.toml"
    cfg.write_text(base)
    # A file that is not a socket where the new config wants its Unix socket: `--check` passes
    # (the folder exists) but the sink cannot open.
    (tmp_path / "taken").write_text("not a socket\n")
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",  # relative paths are the config file's, not the working directory's
    )
    try:
        assert wait_until(lambda: status.exists() and events.exists() and events.stat().st_size)
        bad = base + '[[sinks]]\nkind = "unix"\npath = "taken"\n'
        cfg.write_text(bad)
        check = subprocess.run(
            [str(BIN), "daemon", "--config", str(cfg), "--check"], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None, "the daemon stopped after a refused reload"
        snap = read_status(status)
        assert snap["reloads"] == 0
        assert snap["modalities"]["speech"]["state"] == "running"
        size = events.stat().st_size
        assert wait_until(lambda: events.stat().st_size > size, 10), "events stopped"
        # A good reload afterwards still works, and the bus counters survive it.
        delivered = snap["bus"]["delivered"]
        cfg.write_text(base.replace("speed = 4", "speed = 5"))
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: read_status(status)["reloads"] == 1, 10)
        assert read_status(status)["bus"]["delivered"] >= delivered
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert code == 0, err[-2000:]
    assert "reload refused" in err and "taken exists and is not a socket" in err, err[-2000:]
    assert "Traceback" not in err
    lines = events.read_text().splitlines()
    assert all(json.loads(line)["modality"] in ("speech", "system") for line in lines)


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ('kind = "unix"\npath = "taken"', "taken exists and is not a socket"),
        ('kind = "mqtt"\nport = -1', r"port: must be in [1, 65535], got -1"),
        ('kind = "mqtt"\nport = 70000', r"port: must be in [1, 65535], got 70000"),
    ],
)
def test_a_failed_start_exits_non_zero_with_one_line(tmp_path, sink, message):
    (tmp_path / "taken").write_text("x\n")
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[speech]\nsource = "file:{CLIP}"\n[[sinks]]\n{sink}\n')
    out = subprocess.run(
        [str(BIN), "daemon", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert message in one_line_error(out.stderr)
    assert (tmp_path / "taken").read_text() == "x\n"


# --- --check: generated bad configs ----------------------------------------------------------

GOOD = {
    "speech": {"source": f"file:{CLIP}"},
    "face": {"source": f"file:{FACE}"},
    "eeg": {"source": "board:synthetic"},
}
SINKS = {
    "jsonl": {"kind": "jsonl", "path": "events.jsonl"},
    "unix": {"kind": "unix", "path": "events.sock"},
    "mqtt": {"kind": "mqtt", "host": "127.0.0.1"},
}
NONFINITE = [math.nan, math.inf, -math.inf]
#: Values the daemon cannot use, per (table, key): each must be refused naming the key.
BAD: dict[tuple[str, str], list] = {
    ("top", "queue"): [0, -1, 10**12],
    ("top", "report_s"): [*NONFINITE, -1, 0.001, 1e9],
    ("top", "status_socket"): ["", "no-such-folder/status.sock"],
    ("speech", "speed"): [*NONFINITE, 0, -1, 1e-300, 1e9],
    ("speech", "block_ms"): [*NONFINITE, 0, -5, 1e6],
    ("speech", "bundle"): ["", "no-such-bundle", "./missing/bundle.zip"],
    ("speech", "source"): ["file:missing.wav", "camera:0", "board:x"],
    ("face", "detect_every"): [0, -3],
    ("face", "smoothing"): [*NONFINITE, -0.1, 0, 5],
    ("face", "still_fps"): [*NONFINITE, 0, -5],
    ("face", "still_s"): [*NONFINITE, -1],
    ("face", "speed"): [0, math.nan],
    ("eeg", "rate"): [*NONFINITE, -250, 0],
    ("eeg", "unit"): ["furlongs", ""],
    ("eeg", "calibration_s"): [*NONFINITE, -5],
    ("eeg", "channels"): [[], ["1", "2"], ["AF3", "AF3"], [""]],
    ("eeg", "csv_columns"): [["3"], []],
    ("eeg", "mains"): [0, 55, -50],
    ("eeg", "block_ms"): [0, math.inf],
    ("eeg", "baseline"): ["missing-baseline.npz"],
    ("eeg", "source"): ["board:", "mic"],
    ("jsonl", "max_bytes"): [0, -1, 100],
    ("jsonl", "backups"): [0, -2],
    ("jsonl", "path"): ["", "no-such-folder/e.jsonl"],
    ("unix", "max_backlog"): [-1, 0],
    ("unix", "max_clients"): [0, -1],
    ("unix", "path"): ["no-such-folder/e.sock"],
    ("mqtt", "port"): [-1, 0, 70000],
    ("mqtt", "qos"): [3, -1],
    ("mqtt", "buffer"): [0, -1],
    ("mqtt", "ca_certs"): ["missing-ca.pem"],
    ("mqtt", "certfile"): ["missing-cert.pem"],
    ("mqtt", "host"): [""],
    ("mqtt", "prefix"): ["a/+/b", ""],
    ("mqtt", "keepalive_s"): [0, -1],
}
FLOAT_KEYS = {
    "report_s",
    "speed",
    "block_ms",
    "smoothing",
    "still_fps",
    "still_s",
    "rate",
    "calibration_s",
}
# Wrong types for every key are refused too.
WRONG_TYPE = ["text", True, 1.5, [1], {"a": 1}]


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"


def render(top: dict, modalities: dict, sinks: list) -> str:
    out = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    for name, table in modalities.items():
        out.append(f"[{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    for sink in sinks:
        out.append("[[sinks]]")
        out += [f"{k} = {toml_value(v)}" for k, v in sink.items()]
    return "\n".join(out) + "\n"


def bad_config(table: str, key: str, value) -> str:
    top: dict = {}
    modalities = {"speech": dict(GOOD["speech"])}
    sinks = [dict(SINKS["jsonl"])]
    if table == "top":
        top[key] = value
    elif table in GOOD:
        modalities[table] = {**GOOD[table], key: value}
    else:
        sinks.append({**SINKS[table], key: value})
    return render(top, modalities, sinks)


CASES = [(t, k, v) for (t, k), values in BAD.items() for v in values]


def test_every_good_base_passes(tmp_path):
    text = render({}, dict(GOOD), list(SINKS.values()))
    config = load_config(_write(tmp_path, text))
    assert [m.name for m in config.modalities] == ["speech", "face", "eeg"]
    # Relative paths are the config file's.
    assert config.sinks[0]["path"] == str(tmp_path / "events.jsonl")


def _write(folder: Path, text: str) -> Path:
    path = folder / "gen.toml"
    path.write_text(text)
    return path


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(
    case=st.sampled_from(CASES)
    | st.tuples(
        st.sampled_from(sorted({(t, k) for t, k in BAD})),
        st.sampled_from(WRONG_TYPE),
    ).map(lambda pair: (pair[0][0], pair[0][1], pair[1])),
)
def test_check_refuses_generated_bad_configs_naming_the_key(tmp_path, case):
    table, key, value = case
    if value == "text" and isinstance(BAD[(table, key)][0], str):
        return  # a string is the right type there; its bad values are listed in BAD
    if value == 1.5 and key in FLOAT_KEYS:
        return  # a number with a fraction is the right type there
    if isinstance(value, list) and key in ("channels", "csv_columns"):
        value = [{"a": 1}]
    path = _write(tmp_path, bad_config(table, key, value))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert key in message, (case, message)


def test_check_through_the_cli_says_one_line_and_exits_2(tmp_path):
    # A sample through the real command (each run is a process start, so only a few).
    for table, key, value in [
        ("top", "report_s", math.inf),
        ("face", "still_fps", 0),
        ("mqtt", "ca_certs", "missing-ca.pem"),
        ("eeg", "unit", "furlongs"),
    ]:
        path = _write(tmp_path, bad_config(table, key, value))
        out = subprocess.run(
            [str(BIN), "daemon", "--config", str(path), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (key, value, out.stdout, out.stderr)
        assert key in one_line_error(out.stderr), (key, out.stderr)


@pytest.mark.parametrize("name", ["affect-x86-host.toml", "affect-openbci-cyton.toml"])
def test_the_shipped_example_configs_pass_check(name):
    # /run/affect-edge is made by systemd (RuntimeDirectory=) when the service starts.
    config = load_config(ROOT / "contrib" / name)
    assert config.modalities and config.sinks


def test_the_status_socket_answers_from_start_and_outlives_a_failed_snapshot(tmp_path: Path):
    """A client that connects while the daemon is still starting waits for a whole snapshot (the
    daemon once answered it from half-built state, and the failure ended the serving thread for
    good: every later `affect-edge status` timed out)."""
    import threading

    from edge.daemon.status import StatusServer

    calls = []

    def snapshot() -> dict:
        calls.append(1)
        if len(calls) == 2:
            raise AttributeError("'Daemon' object has no attribute 'bus'")
        return {"pid": 1, "modalities": {}, "bus": {}, "sinks": [], "call": len(calls)}

    server = StatusServer(str(tmp_path / "s.sock"), snapshot)
    got: list = []
    early = threading.Thread(target=lambda: got.append(read_status(server.path, timeout_s=10)))
    try:
        early.start()
        time.sleep(0.3)
        assert not got and not calls  # bound, waiting in the backlog, not answered yet
        server.start()
        early.join(10)
        assert got and got[0]["call"] == 1
        with pytest.raises(ConfigError, match="is not a daemon status socket"):
            read_status(server.path)  # the snapshot that failed: the connection closes empty
        assert read_status(server.path)["call"] == 3  # and the next one is answered
    finally:
        server.close()


def speech_config(folder: Path, events: str, status: bool, loop: bool = True) -> Path:
    """d.toml in `folder`: the sample clip as speech, one JSON-lines file, a status socket."""
    cfg = folder / "d.toml"
    cfg.write_text(
        ('status_socket = "s.sock"\n' if status else "")
        + f'[speech]\nsource = "file:{CLIP}"\n'
        + ("loop = true\n" if loop else "")
        + f'[[sinks]]\nkind = "jsonl"\npath = "{folder / events}"\n'
    )
    return cfg


def test_a_removed_status_socket_comes_back_on_reload(tmp_path: Path):
    """`rm status.sock` then SIGHUP: the reload puts the socket back (it was rebuilt only when
    the config named another path), and closing never removes a socket that is not its own."""
    from edge.daemon.runner import Daemon

    cfg = speech_config(tmp_path, "out.jsonl", status=True)
    daemon = Daemon(load_config(cfg))
    try:
        sock = tmp_path / "s.sock"
        assert read_status(sock)["pid"]
        sock.unlink()
        with pytest.raises(ConfigError, match="no daemon status socket"):
            read_status(sock)
        daemon.reload(load_config(cfg))
        assert read_status(sock)["reloads"] == 1
    finally:
        daemon.close()
    assert not (tmp_path / "s.sock").exists()


def test_a_stop_asked_for_while_starting_is_kept(tmp_path: Path):
    """SIGTERM while the config and models load (before the service loop) used to kill the
    process (exit 143); the handlers are now installed first and the stop is honoured."""
    import os

    from edge.daemon.service import Signals, serve

    cfg = speech_config(tmp_path, "out.jsonl", status=False)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        signals = Signals()
        os.kill(os.getpid(), signal.SIGTERM)  # handled: sets the stop, the test goes on
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.stop.is_set() and signals.reload.is_set()
        assert serve(load_config(cfg), cfg, None, signals) == 0
        assert not (tmp_path / "out.jsonl").exists()  # stopped before anything opened
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_a_daemon_refused_for_a_served_status_socket_leaves_no_event_file(tmp_path: Path):
    from edge.daemon.runner import Daemon
    from edge.daemon.status import StatusServer

    cfg = speech_config(tmp_path, "second.jsonl", status=True, loop=False)
    first = StatusServer(str(tmp_path / "s.sock"), dict).start()
    try:
        with pytest.raises(ConfigError, match="another process is serving this socket"):
            Daemon(load_config(cfg))
        assert not (tmp_path / "second.jsonl").exists()
    finally:
        first.close()
