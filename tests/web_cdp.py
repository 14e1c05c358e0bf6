"""A headless chromium driven through its DevTools protocol (for the live page's tests and bench).

Debian's `chromium` (the Makefile installs it) runs headless with its debugging port on
127.0.0.1; the port is read from the `DevToolsActivePort` file it writes. The protocol is spoken
over Tornado's WebSocket client (the `web` extra), so no driver or other package is needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless chromium process; `page()` opens a tab."""

    def __init__(self, size: tuple[int, int] = (1280, 960), timeout_s: float = 90.0) -> None:
        # A first start reads chromium from disk: 7-9 s here with the page cache dropped, and on
        # a CI host with the other test workers busy the port did not come within 20 s.
        exe = find_chromium()
        if exe is None:
            raise RuntimeError("chromium is not installed")
        self._profile = tempfile.mkdtemp(prefix="affect-edge-chromium-")
        # Open as long as the browser runs; close() closes it.
        self._log = open(Path(self._profile).with_suffix(".log"), "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                f"--window-size={size[0]},{size[1]}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--mute-audio",
                "--force-device-scale-factor=1",
                # A name that resolves to this machine, as a DNS-rebinding attacker's would.
                "--host-resolver-rules=MAP rebind.test 127.0.0.1",
                "about:blank",
            ],
            stdout=self._log,
            stderr=self._log,
        )
        marker = Path(self._profile) / "DevToolsActivePort"
        started = time.monotonic()
        while not (marker.exists() and marker.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > started + timeout_s:
                how = "exited" if self.proc.poll() is not None else "still starting"
                waited = time.monotonic() - started
                self.close(keep_log=True)
                raise RuntimeError(
                    f"chromium did not open its DevTools port in {waited:.0f} s ({how});"
                    f" it printed:\n{self._tail()}"
                )
            time.sleep(0.05)
        self.port = int(marker.read_text().split()[0])
        self.loop = asyncio.new_event_loop()
        self.pages: list[Page] = []

    def _json(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def page(self) -> Page:
        """A tab: the one chromium opened first, then new ones."""
        if not self.pages:
            target = next(t for t in self._json("/json/list") if t["type"] == "page")
        else:
            target = self._json("/json/new?about:blank", method="PUT")
        page = Page(self.loop, target["webSocketDebuggerUrl"])
        self.pages.append(page)
        return page

    def close(self, keep_log: bool = False) -> None:
        for page in getattr(self, "pages", []):
            page.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if hasattr(self, "loop"):
            self.loop.close()
        self._log.close()
        if not keep_log:
            Path(self._log.name).unlink(missing_ok=True)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _tail(self, lines: int = 15) -> str:
        log = Path(self._log.name)
        text = log.read_bytes().decode(errors="replace") if log.exists() else ""
        log.unlink(missing_ok=True)
        return "\n".join(text.splitlines()[-lines:])


class Page:
    """One tab: protocol calls, script evaluation, waiting for a condition, screenshots, and
    every console error, uncaught exception and error log entry (a failed load, a CSP refusal)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ws_url: str) -> None:
        from tornado.websocket import websocket_connect

        self.loop = loop

        async def connect():
            return await websocket_connect(ws_url, max_message_size=1 << 27)

        self.ws = loop.run_until_complete(connect())
        self._id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    async def _call(self, method: str, params: dict) -> dict:
        self._id += 1
        ident = self._id
        await self.ws.write_message(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            raw = await self.ws.read_message()
            if raw is None:
                raise RuntimeError("the browser closed the DevTools connection")
            msg = json.loads(raw)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def call(self, method: str, timeout_s: float = 15.0, **params: Any) -> dict:
        return self.loop.run_until_complete(asyncio.wait_for(self._call(method, params), timeout_s))

    def eval(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'", 10)

    def wait(self, expression: str, timeout_s: float) -> float:
        """Seconds until `expression` is truthy in the page; raises TimeoutError."""
        t0 = time.monotonic()
        while True:
            if self.eval(expression):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"not true within {timeout_s} s: {expression}")
            time.sleep(0.02)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def errors(self) -> list[str]:
        self.eval("1")  # events sent before this answer are read first
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value")) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"exception: {d.get('exception', {}).get('description') or d}")
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def close(self) -> None:
        self.ws.close()
