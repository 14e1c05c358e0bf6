"""The live page in a real browser: Debian's headless chromium, driven through its DevTools protocol,
watching a real daemon (speech, face and EEG from the demo's inputs, paced to real time) with a
`[web]` table in its config.

- The page loads with no console error, no uncaught exception and no failed load or CSP refusal.
- After the run, the screenshot shows the three timelines drawn (each chart's own colours counted
  in the screenshot's pixels) and the status figures filled in; with `WEB_SCREENSHOT=PATH` it is
  also written there (the README's picture: `WEB_SCREENSHOT=docs/web-view.png`).
- Events injected into the daemon's bus show on the page (speech A/D/V, a face's top expression,
  an EEG window's flag and electrodes), twice with different values.
- A second browser and a client that never reads: the bus, the JSON-lines sink and both browsers
  keep up while the reader is dropped alone and counted.
- A page opened through a name that resolves to this machine (DNS rebinding) is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time

import numpy as np
import pytest

from tests.web_cdp import Browser, find_chromium

pytest.importorskip("tornado", reason="the web extra (tornado) is not installed")
pytest.importorskip("cv2", reason="OpenCV reads the face input and the screenshot")
if find_chromium() is None:
    pytest.skip(
        "chromium is not installed (the Makefile installs it: apt-get install chromium)",
        allow_module_level=True,
    )

from edge.events import AffectEvent
from edge.samples import EMOTIV_14, sample_clip, sample_face, synthetic_eeg

RUN_S = 12.0  # the demo inputs' length, paced at real time
#: How long the page or a socket may take to show a change. A pass takes milliseconds; the
#: bound is for a loaded CI host; how fast the page follows is not a pass/fail here.
WAIT_S = 15.0


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A daemon with the three modalities and a [web] table, and a browser watching its page."""
    from edge.daemon.config import parse_config
    from edge.daemon.runner import Daemon

    tmp = tmp_path_factory.mktemp("web")
    x = synthetic_eeg()
    rows = [f"{i / 128:.5f}," + ",".join(f"{v:.2f}" for v in x[:, i]) for i in range(x.shape[1])]
    (tmp / "eeg.csv").write_text("t," + ",".join(EMOTIV_14) + "\n" + "\n".join(rows) + "\n")
    raw = {
        "profile": "x86-host",
        "report_s": 2,
        "queue": 100_000,
        "speech": {"source": f"file:{sample_clip()}"},
        "face": {"source": f"file:{sample_face()}", "still_s": RUN_S, "still_fps": 5.0},
        "eeg": {
            "source": "file:eeg.csv",
            "csv_columns": list(EMOTIV_14),
            "csv_time": "t",
            "calibration_s": 2.0,
            "block_ms": 62.5,
        },
        "sinks": [{"kind": "jsonl", "path": "events.jsonl"}],
        "web": {"port": 0, "name": "kitchen-pi", "max_clients": 4},
    }
    daemon = Daemon(parse_config(raw, "web-test", tmp))
    browser = None
    try:
        web = daemon.sinks[-1]
        browser = Browser(size=(1280, 1060))
        page = browser.page()
        page.goto(web.url)
        yield {"daemon": daemon, "web": web, "browser": browser, "page": page, "tmp": tmp}
    finally:
        if browser is not None:
            browser.close()
        daemon.close()


def publish(daemon, modality: str, values: dict, quality=None, subject=None, updated=True):
    daemon.bus.publish(
        AffectEvent(
            modality=modality,
            source="injected",
            model="test",
            model_version="1",
            start_s=0.0,
            end_s=1.0,
            values=values,
            updated=updated,
            quality=quality or {},
            latency_ms={"total": 0.0},
            subject=subject,
        )
    )


def colour_share(img: np.ndarray, rect, rgb, tol: int = 40) -> float:
    """The share of a screenshot region's pixels within `tol` of colour `rgb`."""
    x, y, w, h = (round(v) for v in rect)
    region = img[y : y + h, x : x + w, ::-1].astype(int)  # BGR -> RGB
    close = (np.abs(region - np.asarray(rgb)) <= tol).all(axis=2)
    return float(close.mean())


def test_page_shows_the_run_without_errors(live):
    import cv2

    daemon, page = live["daemon"], live["page"]
    deadline = time.monotonic() + RUN_S + 15
    while daemon.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not daemon.running(), "the demo inputs did not end in time"
    # The last status (once a second) says the sources ended; the charts then hold still.
    page.wait(
        "['speech', 'face', 'eeg'].every(m => "
        "document.querySelector(`#st-${m} td`)?.textContent === 'ended')",
        WAIT_S,
    )
    assert page.eval("document.getElementById('conn').textContent") == "live"
    assert page.eval("document.getElementById('device').textContent") == "kitchen-pi"
    assert page.eval("document.getElementById('profile').textContent") == "x86-host"
    for key in ("arousal", "dominance", "valence"):
        text = page.eval(f"document.getElementById('speech-{key}').textContent")
        assert 0.0 <= float(text) <= 1.0
    assert page.eval("document.getElementById('face-top-0').textContent").startswith("happy")
    assert 1.0 <= float(page.eval("document.getElementById('eeg-level').textContent")) <= 5.0
    # The CPU share is a difference of two snapshots: the next status (once a second) has it.
    page.wait("document.getElementById('st-cpu').textContent.endsWith('% of one core')", WAIT_S)
    cpu = page.eval("document.getElementById('st-cpu').textContent")
    assert cpu.endswith("% of one core"), cpu
    assert "MiB" in page.eval("document.getElementById('st-rss').textContent")
    rows = json.loads(
        page.eval(
            "JSON.stringify([...document.querySelectorAll('#st-models tbody tr')]"
            ".map(r => [...r.children].map(c => c.textContent)))"
        )
    )
    assert {r[0] for r in rows} == {"speech", "face", "eeg"}
    for name, _, p99, budget, restarts in rows:
        # The verdict against the x86 host profile's budget agrees with the figures shown
        # (whichever it is on a loaded machine: speed is the bench's business, not a test's).
        value, limit = float(p99.removesuffix(" ms")), float(budget.split(" ms")[0])
        assert budget.endswith(" ms ✓" if value <= limit else " ms over"), (name, p99, budget)
        assert restarts == "0"
    # What was sent is what the sinks got: the page saw every event of the JSON-lines file.
    written = len((live["tmp"] / "events.jsonl").read_text().splitlines())
    page.wait(f"Number(document.body.dataset.events) >= {written}", WAIT_S)
    assert page.errors() == []

    page.eval("window.scrollTo(0, 0)")
    time.sleep(0.3)  # one drawing tick
    shot = live["tmp"] / "web-view.png"
    page.screenshot(shot)
    if os.environ.get("WEB_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["WEB_SCREENSHOT"])
    img = cv2.imread(str(shot))
    rects = json.loads(
        page.eval(
            "JSON.stringify(Object.fromEntries([...document.querySelectorAll('canvas')].map("
            "c => {const r = c.getBoundingClientRect(); "
            "return [c.id || c.closest('.face').dataset.face, [r.x, r.y, r.width, r.height]];})))"
        )
    )
    assert set(rects) == {"chart-speech", "chart-eeg", "0"}
    for name, rgb in (("arousal", (217, 72, 15)), ("dominance", (95, 61, 196))):
        assert colour_share(img, rects["chart-speech"], rgb) > 0.002, name
    assert colour_share(img, rects["chart-speech"], (43, 138, 62)) > 0.002, "valence"
    assert colour_share(img, rects["0"], (245, 159, 0)) > 0.3, "the face chart: happy"
    assert colour_share(img, rects["chart-eeg"], (25, 113, 194)) > 0.002, "the EEG level line"
    # The blink and the muscle burst: shaded windows, their flags and electrodes named on them.
    assert colour_share(img, rects["chart-eeg"], (250, 222, 222), tol=8) > 0.03, "shading"
    assert colour_share(img, rects["chart-eeg"], (201, 42, 42), tol=60) > 0.0005, "flag names"


def test_values_follow_injected_events(live):
    daemon, page = live["daemon"], live["page"]
    text = "document.getElementById('{}').textContent"
    for a, face_top, flag, chans in (
        (0.91, ("surprise", 0.93), "blink", ["Fp1", "Fp2"]),
        (0.13, ("angry", 0.81), "muscle", ["T7"]),
    ):
        publish(daemon, "speech", {"arousal": a, "dominance": 0.5, "valence": 0.25})
        probs = {k: 0.0 for k in ("angry", "disgust", "fear", "happy", "sad", "surprise")}
        probs["neutral"] = round(1 - face_top[1], 2)
        probs[face_top[0]] = face_top[1]
        publish(daemon, "face", probs, subject={"id": 7, "box": [1, 2, 3, 4]})
        publish(daemon, "eeg", {"level": 3.0}, quality={"ok": False, flag: chans}, updated=False)
        page.wait(f"{text.format('speech-arousal')} === '{a:.2f}'", WAIT_S)
        page.wait(
            f"{text.format('face-top-7')} === '{face_top[0]} {round(100 * face_top[1])}%'", WAIT_S
        )
        want = f"flagged: {flag} on {', '.join(chans)} (level held)"
        page.wait(f"{text.format('eeg-flags')} === {json.dumps(want)}", WAIT_S)
    assert page.errors() == []


def test_second_browser_and_slow_reader_do_not_stall_the_daemon(live):
    daemon, web, browser = live["daemon"], live["web"], live["browser"]
    second = browser.page()
    second.goto(web.url)
    second.wait("document.getElementById('conn').textContent === 'live'", WAIT_S)
    # A reader that never reads, with a small receive buffer.
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", web.port))
    slow.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n\r\n".encode())
    deadline = time.monotonic() + WAIT_S
    while web.clients < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert web.clients == 3
    jsonl = daemon.sinks[0]
    dropped_before, written_before = web.clients_dropped, jsonl.written
    # 1 MB of system events (the page counts them and draws nothing) in about 2.5 s: four times
    # the backlog a browser may fall behind by (256 KiB) plus the kernel's buffers.
    pad = {f"figure_{i}": 0.5 for i in range(60)}
    n = 900
    for i in range(n):
        publish(daemon, "system", {**pad, "i": float(i)})
        if i % 10 == 9:
            time.sleep(0.03)
    deadline = time.monotonic() + WAIT_S
    while jsonl.written < written_before + n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jsonl.written >= written_before + n, "the bus stalled"  # (+ its own system events)
    assert daemon.bus.dropped == 0
    deadline = time.monotonic() + WAIT_S
    while web.clients_dropped == dropped_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert web.clients_dropped == dropped_before + 1, "the slow reader was not dropped"
    assert web.clients == 2, "a browser was dropped with it"
    # Both browsers still follow the stream.
    publish(daemon, "speech", {"arousal": 0.42, "dominance": 0.5, "valence": 0.5})
    for page in (live["page"], second):
        page.wait("document.getElementById('speech-arousal').textContent === '0.42'", WAIT_S)
        assert page.errors() == []
    page = live["page"]
    page.wait("document.getElementById('st-web').textContent.includes('1 dropped')", WAIT_S)
    slow.close()


def test_a_rebound_name_is_refused(live):
    """DNS rebinding: a name that resolves to 127.0.0.1 still names another site."""
    browser, web = live["browser"], live["web"]
    page = browser.page()
    page.goto(f"http://rebind.test:{web.port}/")
    body = page.eval("document.body.innerText")
    assert body.strip() == "refused: the Host header does not name this machine"
    assert page.eval("typeof EventSource !== 'undefined' && !document.getElementById('conn')")
