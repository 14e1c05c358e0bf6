"""The daemon: config validation, all three modalities to the sinks, a failing source restarted
while the others go on, status, SIGHUP with a broken then a good config, SIGTERM, and privacy
(no listening network port, no file written but the sinks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from distill.dreamer import EMOTIV_14, synthetic_trial
from edge.daemon.config import load_config
from edge.daemon.runner import Daemon, read_status
from edge.errors import ConfigError
from tests.streams import wait_for

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
FACE = ROOT / "edge" / "data" / "samples" / "face_astronaut.jpg"
BIN = Path(sys.executable).parent / "affect-edge"


def eeg_csv(path: Path, seconds: float = 16) -> Path:
    rng = np.random.default_rng(0)
    x = synthetic_trial(rng, seconds, 3, 3, np.ones(14), False, EMOTIV_14)
    lines = ["t," + ",".join(EMOTIV_14)]
    lines += [f"{i / 128:.5f}," + ",".join(f"{v:.2f}" for v in row) for i, row in enumerate(x)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def three_modalities(tmp_path: Path) -> str:
    """The daemon tables of the sample clip, the sample face and a 14-channel EEG export."""
    return f"""[speech]
source = "file:{CLIP}"
pace = false
[face]
source = "file:{FACE}"
[eeg]
source = "file:{eeg_csv(tmp_path / "eeg.csv")}"
csv_columns = {json.dumps(list(EMOTIV_14))}
csv_time = "t"
pace = false
"""


def test_config_errors_name_the_file_and_the_key(tmp_path):
    good = f'[speech]\nsource = "file:{CLIP}"\n[[sinks]]\nkind = "jsonl"\npath = "-"\n'
    assert load_config(write(tmp_path / "ok.toml", good)).modalities[0].name == "speech"
    cases = {
        "[speech]\nsourc = 'mic'\n": r"bad.toml \[speech\]: unknown key 'sourc'",
        "[speech]\nsource = 3\n": r"\[speech\].source: expected str",
        "[face]\nsource = 'mic'\n[[sinks]]\nkind='jsonl'\npath='-'\n": "is not a face source",
        "[eeg]\nsource = 'file:/nope.edf'\n[[sinks]]\nkind='jsonl'\npath='-'\n": "file not found",
        "queue = 0\n": r"bad.toml.queue: must be in \[1, 10000000\]",
        "[speech]\nsource='mic'\n": r"at least one \[\[sinks\]\]",
        "[speech]\nsource='mic'\n[[sinks]]\nkind='kafka'\n": r"sinks\[0\]: 'kind' must be one of",
        "[speech]\nsource='mic'\n[[sinks]]\nkind='mqtt'\nqos=5\n": r"sinks\[0\].qos",
        "sinks = []\n": r"at least one of \[speech\]",
        "[speech\nsource=": "not valid TOML",
        "profile = 'toaster'\n": "unknown device profile 'toaster'",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(write(tmp_path / "bad.toml", text))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.toml")
    # A FIFO where a recording should be was "file not found", though it was there.
    os.mkfifo(tmp_path / "pipe.wav")
    fifo = f'[speech]\nsource = "file:{tmp_path / "pipe.wav"}"\n[[sinks]]\nkind="jsonl"\npath="-"\n'
    with pytest.raises(ConfigError, match=r"pipe.wav is not a regular file \(a pipe or device\?\)"):
        load_config(write(tmp_path / "fifo.toml", fifo))


def test_three_modalities_reach_the_sinks_and_a_failing_source_is_retried(tmp_path):
    events = tmp_path / "events.jsonl"
    # An EEG export that breaks 4 s in (a corrupt row): the source dies mid-stream.
    broken = eeg_csv(tmp_path / "broken.csv", seconds=4)
    with broken.open("a") as f:
        f.write("4.0," + ",".join(["oops"] * 14) + "\n")
    config = write(
        tmp_path / "d.toml",
        f"""
status_socket = "{tmp_path / "status.sock"}"
{three_modalities(tmp_path)}[[sinks]]
kind = "jsonl"
path = "{events}"
""",
    )
    daemon = Daemon(load_config(config))
    try:
        deadline = time.monotonic() + 60
        while daemon.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        snap = read_status(tmp_path / "status.sock")
    finally:
        daemon.close()
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    by = {m: [e for e in lines if e["modality"] == m] for m in ("speech", "face", "eeg")}
    assert len(by["speech"]) >= 10 and len(by["face"]) == 1 and 3 <= len(by["eeg"]) <= 5
    assert max(by["face"][0]["values"], key=by["face"][0]["values"].get) == "happy"
    assert snap["modalities"]["eeg"]["state"] == "ended" and snap["bus"]["dropped"] == 0
    assert snap["bus"]["events"]["speech"] == len(by["speech"])

    # A source that fails is retried with back-off; the other modality goes on.
    config2 = write(
        tmp_path / "d2.toml",
        f"""
[speech]
source = "file:{CLIP}"
pace = false
[eeg]
source = "file:{broken}"
csv_columns = {json.dumps(list(EMOTIV_14))}
csv_time = "t"
pace = false
[[sinks]]
kind = "jsonl"
path = "{tmp_path / "events2.jsonl"}"
""",
    )
    daemon = Daemon(load_config(config2))
    try:
        time.sleep(2.5)
        snap = daemon.snapshot()
    finally:
        daemon.close()
    eeg = snap["modalities"]["eeg"]
    assert eeg["failures"] >= 2 and "not a number" in eeg["last_error"]
    assert snap["bus"]["events"]["speech"] >= 10


def listening_inet_sockets(pid: int) -> list[str]:
    """Listening TCP/UDP sockets (IPv4 or IPv6) the process holds, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            listening = cols[3] == "0A" if table.startswith("tcp") else cols[3] == "07"
            if listening and cols[9] in inodes:
                found.append(f"{table} {cols[1]}")
    return found


def test_the_daemon_process_reloads_stops_and_opens_no_port(tmp_path):
    status = tmp_path / "status.sock"
    events = tmp_path / "events.jsonl"

    def config(extra: str = "") -> str:
        return f"""
status_socket = "{status}"
profile = "x86-host"
[speech]
source = "file:{CLIP}"
loop = true
{extra}
[[sinks]]
kind = "jsonl"
path = "{events}"
[[sinks]]
kind = "unix"
path = "{tmp_path / "events.sock"}"
"""

    cfg = write(tmp_path / "d.toml", config())
    before = set(tmp_path.iterdir())
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)
        snap = read_status(status)
        assert snap["modalities"]["speech"]["state"] == "running"
        assert listening_inet_sockets(proc.pid) == []
        out = subprocess.run(
            [str(BIN), "status", "--socket", str(status)], capture_output=True, text=True
        )
        assert out.returncode == 0 and "speech" in out.stdout and "RSS" in out.stdout
        assert "5 ok" in out.stdout  # the speech model's p99 against the x86 host's 5 ms
        # A broken new config is refused and the running one goes on.
        cfg.write_text(config("bogus = 1"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert read_status(status)["reloads"] == 0 and proc.poll() is None
        cfg.write_text(config("block_ms = 20"))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while read_status(status)["reloads"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert read_status(status)["reloads"] == 1
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)  # a hang check; the time to exit is bench/daemon.py's (<= 2 s)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert code == 0, err[-2000:]
    assert "reload refused" in err and "unknown key 'bogus'" in err
    lines = events.read_text().splitlines()
    assert len(lines) >= 4 and all(json.loads(line)["modality"] == "speech" for line in lines)
    # Nothing written but the sinks (the socket files are gone again).
    assert set(tmp_path.iterdir()) - before == {events}


def test_systemd_hears_ready_watchdog_reloading_and_stopping(tmp_path):
    pytest.importorskip("cysystemd")
    import socket

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(20)
    cfg = write(
        tmp_path / "d.toml",
        f'[speech]\nsource = "file:{CLIP}"\nloop = true\n'
        f'[[sinks]]\nkind = "jsonl"\npath = "{tmp_path / "e.jsonl"}"\n',
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "1000000",
    }
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    # WATCHDOG_PID is unset, so any process may ping: the daemon's own pings are what arrive.
    try:
        got = [notify.recv(256)]
        while b"WATCHDOG=1" not in got:
            got.append(notify.recv(256))
        proc.send_signal(signal.SIGHUP)
        while b"RELOADING=1" not in got:
            got.append(notify.recv(256))
        proc.send_signal(signal.SIGTERM)
        while b"STOPPING=1" not in got:
            got.append(notify.recv(256))
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert got[0] == b"READY=1" and any(g.startswith(b"STATUS=running speech") for g in got)


def system_events(tmp_path: Path, profile: str, seconds: float) -> list[dict]:
    """Run the daemon on the speech clip against `profile` for `seconds`; its system events."""
    events = tmp_path / "e.jsonl"
    events.unlink(missing_ok=True)
    cfg = write(
        tmp_path / "d.toml",
        f'profile = "{profile}"\nreport_s = 0.5\n'
        f'[speech]\nsource = "file:{CLIP}"\n'
        f'[[sinks]]\nkind = "jsonl"\npath = "{events}"\n',
    )
    daemon = Daemon(load_config(cfg))
    try:
        time.sleep(seconds)
    finally:
        daemon.close()
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    return [e for e in lines if e["modality"] == "system"]


def test_system_events_report_figures_against_the_profile_budgets(tmp_path):
    system = system_events(tmp_path, "hearing-aid-coprocessor", 3.2)
    assert len(system) >= 4
    last = system[-1]
    assert 0 < last["values"]["rss_mb"] < 2000 and 0 <= last["values"]["cpu_share"] < 2.5
    assert last["values"]["speech_model_p99_ms"] > 0
    # The co-processor allows the model 20 ms at p99 and sets no RSS figure; it gives no factor
    # from this host's timings to its MCU, so latency here is reported and not judged.
    from devices.profile import load_profile

    budget = load_profile("hearing-aid-coprocessor").budget("speech")
    assert budget.rss_bytes is None and budget.latency_p99_ms == 20.0
    assert last["quality"] == {"ok": True, "over_budget": []}

    # A profile no host can meet: both budgets broken, and said so in the events.
    host = (ROOT / "devices" / "profiles" / "x86-host.toml").read_text()
    tight = host.replace("latency_p99_ms = 5.0", "latency_p99_ms = 0.001")
    tight = tight.replace(
        "rss_bytes = 400_000_000\n\n[budgets.face]", "rss_bytes = 1_000_000\n\n[budgets.face]"
    )
    last = system_events(tmp_path, str(write(tmp_path / "tight.toml", tight)), 2.2)[-1]
    assert last["quality"] == {"ok": False, "over_budget": ["speech.latency_p99", "rss"]}

    # A slow target this host stands in for: a budget of a second, met here, but not once this
    # host's timings are scaled by the profile's factor.
    slow = host.replace('arch = "x86_64"', 'arch = "armv6"').replace(
        "host_latency_scale = 1.0", "host_latency_scale = 100000.0"
    )
    slow = slow.replace("latency_p99_ms = 5.0", "latency_p99_ms = 1000.0")
    last = system_events(tmp_path, str(write(tmp_path / "slow.toml", slow)), 2.2)[-1]
    assert 0.01 < last["values"]["speech_model_p99_ms"] < 1000.0
    assert not last["quality"]["ok"] and "speech.latency_p99" in last["quality"]["over_budget"]


def test_a_bad_bundle_and_sigterm_under_load(tmp_path):
    sink = f'[[sinks]]\nkind = "jsonl"\npath = "{tmp_path / "e.jsonl"}"\n'
    bad = write(tmp_path / "bad.toml", f'[speech]\nsource = "file:{CLIP}"\nbundle = "nope"\n{sink}')
    done = subprocess.run(
        [str(BIN), "daemon", "--config", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "bundle not found: nope" in done.stderr
    assert "Traceback" not in done.stderr
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "manifest.json").write_text("{not json")
    cfg = write(
        tmp_path / "d.toml",
        # Heavy load: the clip as fast as it can be read, over and over.
        f'[speech]\nsource = "file:{CLIP}"\npace = false\nloop = true\n{sink}',
    )
    proc = subprocess.Popen(
        [str(BIN), "daemon", "--config", str(cfg)], stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_for_lines(tmp_path / "e.jsonl", 200)
        # A reload naming a corrupt bundle is refused; the running modalities go on.
        cfg.write_text(cfg.read_text().replace("loop = true", f'loop = true\nbundle = "{corrupt}"'))
        proc.send_signal(signal.SIGHUP)
        n = len((tmp_path / "e.jsonl").read_text().splitlines())
        assert wait_for_lines(tmp_path / "e.jsonl", n + 200)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)  # a hang, not a speed: how soon it stops is not timed here
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert code == 0, (code, err[-1500:])
    assert "reload refused" in err
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert all(line.endswith("}") for line in lines)  # whole lines only, even under load


def wait_for_lines(path: Path, n: int, timeout: float = 30.0) -> bool:
    return wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= n, timeout, 0.1)


def test_record_keeps_the_raw_inputs_only_when_asked(tmp_path):
    import soundfile as sf

    record = tmp_path / "raw"
    record.mkdir()
    cfg = write(
        tmp_path / "d.toml",
        f"""
[speech]
source = "file:{CLIP}"
pace = false
[eeg]
source = "file:{eeg_csv(tmp_path / "eeg.csv", seconds=4)}"
csv_columns = {json.dumps(list(EMOTIV_14))}
csv_time = "t"
pace = false
[face]
source = "file:{FACE}"
still_s = 1
still_fps = 5
pace = false
[[sinks]]
kind = "jsonl"
path = "{tmp_path / "e.jsonl"}"
""",
    )
    daemon = Daemon(load_config(cfg), record=record)
    try:
        deadline = time.monotonic() + 60
        while daemon.running() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.close()
    files = {p.suffix: p for p in record.iterdir()}
    assert set(files) == {".wav", ".csv", ".mp4"}  # no .part left behind
    audio, rate = sf.read(files[".wav"])
    clip, clip_rate = sf.read(CLIP)
    assert rate == clip_rate and len(audio) == len(clip)
    rows = files[".csv"].read_text().splitlines()
    assert rows[0].startswith("time_s,AF3") and len(rows) == 1 + 4 * 128
    assert files[".mp4"].stat().st_size > 1000


def test_the_profiles_engine_runs_the_models_and_onnx_runtime_is_not_loaded_on_a_pi(tmp_path):
    """A config that names no engine runs each model on its device profile's preferred one
    (tflite on a Raspberry Pi; the EEG student keeps its native kernel), so ONNX Runtime is never
    imported there; on the x86 host profile the same config runs ONNX Runtime."""
    results = {}
    for profile in ("raspberry-pi-4", "x86-host"):
        config = write(
            tmp_path / f"{profile}.toml",
            f"""
profile = "{profile}"
{three_modalities(tmp_path)}[[sinks]]
kind = "jsonl"
path = "{tmp_path / f"{profile}.jsonl"}"
""",
        )
        code = (
            "import json, sys, time\n"
            "from edge.daemon.config import load_config\n"
            "from edge.daemon.runner import Daemon\n"
            f"d = Daemon(load_config({str(config)!r}))\n"
            "t = time.monotonic()\n"
            "while d.running() and time.monotonic() < t + 60: time.sleep(0.1)\n"
            "snap = d.snapshot(); d.close()\n"
            "print(json.dumps({'runtime': {m: s['pipeline']['runtime'] for m, s in "
            "snap['modalities'].items()}, 'ort': 'onnxruntime' in sys.modules}))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results[profile] = json.loads(done.stdout.splitlines()[-1])
    pi, host = results["raspberry-pi-4"], results["x86-host"]
    assert pi["runtime"]["speech"].startswith("ai-edge-litert"), pi
    assert pi["runtime"]["face"].startswith("ai-edge-litert"), pi
    assert pi["runtime"]["eeg"].startswith("affect-edge native"), pi
    assert pi["ort"] is False
    assert host["runtime"]["speech"].startswith("onnxruntime") and host["ort"] is True
    assert host["runtime"]["eeg"].startswith("affect-edge native")
