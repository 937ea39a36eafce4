"""A headless Chromium driven over the DevTools protocol, standard library only.

Chromium is started with --remote-debugging-pipe: it reads commands on its fd 3 and writes
replies and events on its fd 4, each a JSON message ended by a NUL byte (what Puppeteer
does). No WebDriver, no websocket library, and no browser build downloaded: the system's
chromium (Debian's package, which .ci/run installs) or nothing.

The network is cut three ways: the DevTools "offline" condition, a proxy that points
nowhere, and a host resolver that resolves nothing; and every request the page makes is
recorded, so a test can assert that there were none besides the page itself.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, exe: str, timeout: float = 60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="sincos-chromium-")
        cmd_r, self._cmd_w = os.pipe()  # we write commands; chromium reads them on fd 3
        self._res_r, res_w = os.pipe()  # chromium writes on fd 4; we read

        def onto_3_and_4():  # in the child, before exec (the fds may be 3 or 4 already)
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--metrics-recording-only", "--mute-audio",
                "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
                "--hide-scrollbars", "--font-render-hinting=none",
                f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(3, 4),
                                     preexec_fn=onto_3_and_4, start_new_session=True)
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Network.emulateNetworkConditions", offline=True, latency=0,
                  downloadThroughput=-1, uploadThroughput=-1)

    # -- the protocol -----------------------------------------------------------------
    def _send(self, msg: dict) -> None:
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._cmd_w, data):]

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium ended (exit {self.proc.poll()})")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, **params) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        self._send(msg)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        """The next event `method` (one already received counts, once)."""
        for i, e in enumerate(self.events):
            if e["method"] == method:
                return self.events.pop(i)
        deadline = time.monotonic() + self.timeout
        while True:
            e = self._receive(deadline)
            if e.get("method") == method:
                return e
            if "method" in e:
                self.events.append(e)

    # -- what tests use ---------------------------------------------------------------
    def viewport(self, width: int, height: int, mobile: bool = False, scale: float = 1):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=scale, mobile=mobile)

    def open(self, path: Path, javascript: bool = True) -> None:
        """Load a file and wait for its load event (images included)."""
        self.call("Emulation.setScriptExecutionDisabled", value=not javascript)
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        """The value of a JavaScript expression (awaited when it is a promise)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression[:60]}…: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors so far."""
        self.call("Runtime.evaluate", expression="0")  # collect what is in flight
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning",
                                                                            "assert"):
                out.append(f"console.{p['type']}: "
                           + " ".join(str(a.get("value", a.get("description")))
                                      for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('exception', {})}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error",
                                                                             "warning"):
                out.append(f"log: {p['entry']['text']}")
        return out

    def requests(self) -> list[str]:
        """Every URL the page asked for, the page itself and data: URIs left out."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith(("data:", "file:"))] + \
            [e["params"]["request"]["url"] for e in self.events
             if e["method"] == "Network.requestWillBeSent"
             and e["params"]["request"]["url"].startswith("file:")
             and e["params"].get("type") != "Document"]

    def screenshot(self, out: Path) -> Path:
        """The whole page, as long as it is, to a PNG."""
        data = self.call("Page.captureScreenshot", format="png",
                         captureBeyondViewport=True)["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        for fd in (self._cmd_w, self._res_r):  # chromium ends when its pipe closes
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:  # and anything it started (its own session's group)
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
