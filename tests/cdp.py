"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no websocket, no
dependency): enough to load a page in headless Chromium, collect script errors and console
errors, evaluate JavaScript and take screenshots. Used by the browser tests and by hand:

    with Browser.start("/usr/bin/chromium") as b:
        b.open("file:///tmp/review.html")
        print(b.errors, b.evaluate("document.title"))
        b.screenshot("shot.png", full_page=True)
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-pipe"]


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page, driven through the DevTools pipe (fds 3 and 4)."""

    def __init__(self, proc: subprocess.Popen, to_browser, from_browser, profile: str):
        self.proc, self._w, self._r, self._profile = proc, to_browser, from_browser, profile
        self._next = 0
        self._buf = b""
        self.errors: list[str] = []     # uncaught exceptions and console.error messages
        self.requests: list[str] = []   # every URL the page asked for
        self.session: str | None = None

    @classmethod
    def start(cls, exe: str, width: int = 1400, height: int = 1000) -> "Browser":
        profile = tempfile.mkdtemp(prefix="pkf-chromium-")
        cmd_r, cmd_w = os.pipe()      # we write commands, Chromium reads fd 3
        out_r, out_w = os.pipe()      # Chromium writes fd 4, we read

        def as_fd3_fd4():  # in the child: the pipe ends become fds 3 and 4, as Chromium expects
            high_r, high_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=(cmd_r, out_w, 3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=as_fd3_fd4)
        os.close(cmd_r)
        os.close(out_w)
        b = cls(proc, os.fdopen(cmd_w, "wb", buffering=0), os.fdopen(out_r, "rb", buffering=0), profile)
        target = b.call("Target.createTarget", url="about:blank")["targetId"]
        b.session = b.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            b.call(f"{domain}.enable")
        b.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return b

    # ---------------------------------------------------------------- protocol
    def _send(self, method: str, params: dict, session: str | None) -> int:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self._w.write(json.dumps(msg).encode() + b"\0")
        return self._next

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise CDPError("Chromium did not answer (timed out or exited)")
            chunk = os.read(self._r.fileno(), 1 << 20)
            if not chunk:
                raise CDPError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _event(self, msg: dict) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "?")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            self.errors.append("log: " + p["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        session = self.session if not method.startswith("Target.") else None
        ident = self._send(method, params, session)
        while True:
            msg = self._read(timeout)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        while True:
            msg = self._read(timeout)
            self._event(msg)
            if msg.get("method") == method:
                return msg.get("params", {})

    # ---------------------------------------------------------------- page
    def open(self, url: str, timeout: float = 60) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", timeout)

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise CDPError(f"evaluate {expression!r}: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def screenshot(self, path: str | Path, full_page: bool = False, clip: dict | None = None) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            w, h = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": w, "height": min(h, 16000), "scale": 1})
        elif clip:
            params.update(captureBeyondViewport=True, clip={**clip, "scale": clip.get("scale", 1)})
        data = self.call("Page.captureScreenshot", **params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self._send("Browser.close", {}, None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=10)
        finally:
            for f in (self._w, self._r):
                try:
                    f.close()
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
