"""A real headless Chromium for tests, driven over the DevTools protocol (no extra packages).

    with Browser() as browser:
        page = browser.open("http://demo-hello-gradio.spaces.localhost:8080/")
        page.wait_for("document.querySelector('gradio-app') !== null")
        text = page.evaluate("document.body.innerText")

Chromium comes from Debian (``deploy/install.sh`` installs it); ``*.localhost`` resolves to
loopback inside it, so Spaces' subdomains work as they do for a visitor.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from typing import ClassVar

import httpx
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Page:
    def __init__(self, socket) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:  # events arrive in between; keep reading until our answer
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (None while it is navigating)."""
        try:
            result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        except RuntimeError:
            return None
        return result.get("result", {}).get("value")

    def screenshot(self, path, width: int = 1280, height: int = 800, *, mobile: bool = False) -> None:
        """Save what the page shows now, in a ``width`` × ``height`` window, as a PNG (``path``'s
        folder is made if needed)."""
        import base64
        from pathlib import Path

        self.set_viewport(width, height, mobile=mobile)  # and let the page lay itself out again
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def goto(self, url: str) -> None:
        """Load ``url`` in this page (cookies kept) and wait until it has loaded."""
        self.call("Page.navigate", url=url)
        time.sleep(0.2)
        self.wait_for(f"location.href.startsWith(new URL({url.split('#')[0]!r}).href) && document.readyState === 'complete'")

    def sign_in(self, name: str, password: str) -> None:
        """Fill in and send the sign-in form this page shows (it waits for the form first)."""
        self.wait_for("document.querySelector('#password') !== null")
        self.evaluate(f"""document.querySelector('#username').value = {name!r};
            document.querySelector('#password').value = {password!r}; document.querySelector('form').submit(); true""")

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Lay the page out as a ``width`` × ``height`` screen (``mobile``: a phone's viewport rules)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
        time.sleep(0.3)

    KEYS: ClassVar[dict[str, int]] = {"Tab": 9, "Enter": 13, "Space": 32}

    def press(self, key: str, *, shift: bool = False) -> None:
        """A key pressed and released, as from a keyboard (``Tab``, ``Enter``, ``Space``)."""
        code = self.KEYS[key]
        text = {"Enter": "\r", "Space": " "}.get(key, "")
        common = {"key": " " if key == "Space" else key, "code": key, "windowsVirtualKeyCode": code,
                  "nativeVirtualKeyCode": code, "modifiers": 8 if shift else 0}
        self.call("Input.dispatchKeyEvent", type="keyDown", **common, **({"text": text} if text else {}))
        self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    def type_text(self, text: str) -> None:
        """Text typed into the focused field."""
        self.call("Input.insertText", text=text)

    def tab_to(self, selector: str, limit: int = 40) -> int:
        """Press Tab until the element matching ``selector`` has the focus; returns how many presses."""
        for presses in range(1, limit + 1):
            self.press("Tab")
            if self.evaluate(f"document.activeElement === document.querySelector({selector!r})"):
                return presses
        raise AssertionError(f"{selector} never got the focus in {limit} presses of Tab; "
                             f"last focused: {self.evaluate('document.activeElement.outerHTML.slice(0, 200)')}")

    def layout_problems(self) -> list[str]:
        """What stops the page working at its current width: sideways scrolling of the whole page,
        and form controls without a label."""
        return self.evaluate("""(() => {
            const problems = [];
            const extra = document.documentElement.scrollWidth - window.innerWidth;
            if (extra > 1) problems.push(`the page scrolls sideways by ${extra} px`);
            for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
                const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') ||
                              (el.tagName === 'BUTTON' && el.innerText.trim());
                if (!named) problems.push(`no label: ${el.outerHTML.slice(0, 120)}`);
            }
            return problems;
        })()""")

    def frame_urls(self) -> list[str]:
        """URLs of the page's frames (the page first, then its iframes), from the browser itself —
        an iframe from another origin cannot be read from the page's own scripts."""
        tree = self.call("Page.getFrameTree")["frameTree"]
        urls, todo = [], [tree]
        while todo:
            node = todo.pop(0)
            urls.append(node["frame"]["url"])
            todo.extend(node.get("childFrames", []))
        return urls

    def wait_for(self, expression: str, timeout: float = 60, every: float = 0.1) -> list:
        """Poll until ``expression`` is truthy; returns every distinct value of
        ``document.body.innerText`` seen meanwhile (what a visitor saw, in order)."""
        seen: list = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.evaluate("document.body ? document.body.innerText : ''")
            if text and (not seen or seen[-1] != text):
                seen.append(text)
            if self.evaluate(expression):
                return seen
            time.sleep(every)
        raise AssertionError(f"{expression} never became true; the page showed: {seen[-3:]}")



class Browser:
    def __enter__(self) -> Browser:
        self.sockets = contextlib.ExitStack()
        self.profile = tempfile.mkdtemp(prefix="chromium-test-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        for line in self.process.stderr:
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                self.port = int(found.group(1))
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError("Chromium did not start (is it installed? make up installs it)")
        return self

    def open(self, url: str) -> Page:
        target = httpx.put(f"http://127.0.0.1:{self.port}/json/new?{url}", timeout=30).json()
        socket = self.sockets.enter_context(connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
        return Page(socket)

    def __exit__(self, *exc) -> None:
        self.sockets.close()
        self.process.kill()
        self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)
