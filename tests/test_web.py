"""The live page's server without a browser: its [web] config, the Host check, the token, the
headers it sends (and the CORS headers it never sends), the Unix socket, the client cap, and that
the stream carries the sinks' events and nothing else."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from importlib import resources

import pytest

from edge.errors import ConfigError
from edge.events import AffectEvent
from edge.web.config import WebConfig, parse_web
from edge.web.server import host_name

pytest.importorskip("tornado", reason="the web extra (tornado) is not installed")


def event(i: int = 0, modality: str = "speech") -> AffectEvent:
    return AffectEvent(
        modality=modality,
        source="file:clip.wav",
        model="speech-adv",
        model_version="3",
        start_s=float(i),
        end_s=i + 1.0,
        values={"arousal": 0.5, "dominance": 0.25, "valence": 0.75},
        updated=True,
        quality={"speech_ratio": 1.0},
        latency_ms={"total": 1.0},
        seq=i,
    )


@pytest.fixture
def server():
    from edge.web.server import WebServer

    snap = {"cpu_s": 1.0, "rss_bytes": 2**27, "modalities": {}, "bus": {}, "sinks": []}
    with WebServer(WebConfig(port=0, name="test"), lambda: snap, "x86-host") as s:
        yield s


def get(port: int, path: str = "/", host: str | None = "default", **headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    if host == "default":
        host = f"127.0.0.1:{port}"
    c.putrequest("GET", path, skip_host=True)
    if host is not None:
        c.putheader("Host", host)
    for k, v in headers.items():
        c.putheader(k.replace("_", "-"), v)
    c.endheaders()
    r = c.getresponse()
    body = r.read() if path != "/events" else b""
    return r, body, c


def read_stream(resp, until: bytes, timeout_s: float = 3.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout_s
    while until not in data and time.monotonic() < deadline:
        chunk = resp.read1(65536)  # the chunked encoding undone
        if not chunk:
            break
        data += chunk
    return data


# --- config -------------------------------------------------------------------------------------
def test_loopback_by_default_and_other_addresses_need_a_token(tmp_path):
    c = parse_web({}, "x [web]")
    assert (c.address, c.port, c.tcp, c.token) == ("127.0.0.1", 8765, True, None)
    with pytest.raises(ConfigError, match=r"x \[web\].address: 0.0.0.0 is reachable .* token"):
        parse_web({"address": "0.0.0.0"}, "x [web]")
    with pytest.raises(ConfigError, match="token: use 16 characters"):
        parse_web({"address": "0.0.0.0", "token": "short"}, "x [web]")
    ok = parse_web({"address": "192.168.1.20", "token": "a" * 20}, "x [web]")
    assert "192.168.1.20" in ok.hosts() and "localhost" in ok.hosts()
    with pytest.raises(ConfigError, match="port: must be in"):
        parse_web({"port": 70000}, "x [web]")
    with pytest.raises(ConfigError, match="unknown key 'cors'"):
        parse_web({"cors": "*"}, "x [web]")
    with pytest.raises(ConfigError, match="not an IP address"):
        parse_web({"address": "example.com", "token": "a" * 20}, "x [web]")
    with pytest.raises(ConfigError, match="tcp: false needs a socket"):
        parse_web({"tcp": False}, "x [web]")
    with pytest.raises(ConfigError, match=r"socket: folder .* does not exist"):
        parse_web({"socket": "no/such/web.sock"}, "x [web]", tmp_path)
    assert parse_web({"socket": "web.sock"}, "x", tmp_path).socket == str(tmp_path / "web.sock")


def test_the_daemon_config_takes_a_web_table(tmp_path):
    from edge.daemon.config import parse_config
    from edge.samples import sample_clip

    raw = {
        "speech": {"source": f"file:{sample_clip()}"},
        "sinks": [{"kind": "jsonl", "path": "-"}],
    }
    assert parse_config(raw, "d", tmp_path).web is None
    cfg = parse_config({**raw, "web": {"port": 9000, "name": "pi"}}, "d", tmp_path)
    assert (cfg.web.port, cfg.web.name) == (9000, "pi")
    with pytest.raises(ConfigError, match=r"d \[web\].address"):
        parse_config({**raw, "web": {"address": "0.0.0.0"}}, "d", tmp_path)


def test_host_names():
    assert host_name("127.0.0.1:8765") == "127.0.0.1"
    assert host_name("LOCALHOST.:80") == "localhost"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("evil.example") == "evil.example"
    for bad in (None, "", "a b", "x:y", "[::1", "[::1]x", "user@127.0.0.1"):
        assert host_name(bad) is None


# --- the server ------------------------------------------------------------------------------------
def test_foreign_host_is_refused_and_no_cors(server):
    r, body, _ = get(server.port)
    assert r.status == 200 and b"affect-edge live view" in body
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.nip.io", "[::2]"):
        for path in ("/", "/events", "/static/app.js"):
            r, body, _ = get(server.port, path, host=host)
            assert r.status == 403, (host, path)
            assert body == b"refused: the Host header does not name this machine\n" or not body
    assert server.refused == 12
    r, _, _ = get(server.port, "/", host=None)
    assert r.status == 400  # HTTP/1.1 without a Host header: tornado refuses it itself
    r, _, _ = get(server.port, "/", host=f"localhost:{server.port}", Origin="http://evil.example")
    assert r.status == 200
    headers = {k.lower(): v for k, v in r.getheaders()}
    assert not [k for k in headers if k.startswith("access-control-")]
    assert "server" not in headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    c.request("POST", "/events", body=b"x")
    assert c.getresponse().status == 405


def test_stream_sends_history_then_live_events_as_the_sinks_write_them(server):
    for i in range(3):
        server.write(event(i))
    r, _, conn = get(server.port, "/events")
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
    data = read_stream(r, b'"seq":2')
    server.write(event(3, "eeg"))
    data += read_stream(r, b'"seq":3')
    messages = [m for m in data.decode().split("\n\n") if m.startswith("event:")]
    kinds = [m.split("\n")[0] for m in messages]
    assert kinds[:5] == ["event: hello"] + ["event: affect"] * 4
    hello = json.loads(messages[0].split("data: ", 1)[1])
    assert hello["device"] == "test" and hello["budgets"]["speech"]["p99_ms"] == 5.0
    got = [json.loads(m.split("data: ", 1)[1])["event"] for m in messages[1:5]]
    assert got == [event(i, "eeg" if i == 3 else "speech").to_dict() for i in range(4)]
    status = read_stream(r, b"event: status", 3)
    line = status.decode().split("event: status\ndata: ", 1)[1].split("\n", 1)[0]
    assert json.loads(line)["web"]["clients"] == 1
    conn.close()


def test_token_then_cookie():
    from edge.web.server import WebServer

    token = "s3cret-token-0123456789"
    config = WebConfig(port=0, token=token, allowed_hosts=("pi.local",))
    with WebServer(config) as s:
        r, body, _ = get(s.port, "/", host=f"pi.local:{s.port}")
        assert r.status == 401 and b"token" in body
        r, _, _ = get(s.port, "/", host=f"pi.local:{s.port}", Authorization="Bearer wrong")
        assert r.status == 401
        r, _, _ = get(s.port, f"/?token={token}", host=f"pi.local:{s.port}")
        assert r.status == 200
        cookie = r.getheader("Set-Cookie")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        r, _, c = get(s.port, "/events", host=f"pi.local:{s.port}", Cookie=cookie.split(";")[0])
        assert r.status == 200
        c.close()
        assert s.url == f"http://127.0.0.1:{s.port}/?token={token}"


def test_unix_socket_only_and_client_cap(tmp_path):
    from edge.web.server import WebServer

    path = tmp_path / "web.sock"
    config = WebConfig(port=0, socket=str(path), tcp=False, max_clients=1)
    with WebServer(config) as s:
        assert s.url is None and s.port is None
        assert oct(path.stat().st_mode & 0o777) == "0o660"

        def unix_get(target: str):
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(5)
            sock.connect(str(path))
            c = http.client.HTTPConnection("localhost")
            c.sock = sock
            c.request("GET", target, headers={"Host": "localhost:8765"})
            return c.getresponse(), c

        r, c1 = unix_get("/events")
        assert r.status == 200
        assert b"event: hello" in read_stream(r, b"event: hello")
        r2, c2 = unix_get("/events")
        assert r2.status == 503 and b"too many browsers" in r2.read()
        c1.close()
        c2.close()
    assert not path.exists()


def test_a_busy_port_is_a_one_line_error():
    from edge.web.server import WebServer

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"web: cannot listen on 127.0.0.1:{port}"):
            WebServer(WebConfig(port=port))
    finally:
        holder.close()


def test_the_page_loads_nothing_from_elsewhere():
    static = resources.files("edge.web").joinpath("static")
    names = sorted(p.name for p in static.iterdir())
    assert names == ["app.css", "app.js", "index.html"]
    for name in names:
        text = static.joinpath(name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
        assert "innerHTML" not in text and "eval(" not in text, name
    html = static.joinpath("index.html").read_text()
    assert " style=" not in html and "<script>" not in html  # the CSP allows neither inline


def test_demo_web_serves_the_page_while_it_runs():
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "affect-edge"
    proc = subprocess.Popen(
        [str(exe), "demo", "--web", "127.0.0.1:0", "--json", "--speed", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while "live page:" not in line:
            line = proc.stderr.readline()
            assert line, "the demo ended without naming its page"
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        r, body, _ = get(port)
        assert r.status == 200 and b"affect-edge live view" in body
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0
    assert json.loads(out)["together"]["events"]["speech"] > 0
    from edge.cli.demo import _web_config

    with pytest.raises(ConfigError, match="--web: the demo serves loopback only"):
        _web_config("0.0.0.0:8765")
    assert _web_config("[::1]:9000").address == "::1"
