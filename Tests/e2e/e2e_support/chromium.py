"""Headless Chromium (Debian's `chromium` + `chromium-driver`, driven by Selenium) for the browser
leg, and the loopback server that plays the MCP client's redirect URI.

A real browser enforces what the scripted httpx browser (browser.py) does not: the consent page's
Content-Security-Policy (Chromium checks `form-action` on every redirect after a form post),
cookie rules and rendering. Each page the browser shows is screenshotted as it goes; when a step
fails, the failure names the step, the page, the browser console (CSP violations land there) and
the screenshots, which are kept (their folder is printed) instead of being deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from .exchanges import redact_url

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
_URL = re.compile(r"https?://[^\s'\"]+")
CHROMEDRIVER = os.environ.get("E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 10.0


class BrowserStepFailed(AssertionError):
    pass


class ClientRedirectServer:
    """The MCP client's loopback redirect URI (as Claude Code or an IDE runs one): records every
    callback it gets and answers a small page, so the browser ends on a real document."""

    def __init__(self):
        self.received: list[tuple[str, dict[str, str]]] = []
        self._changed = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                with owner._changed:
                    owner.received.append((parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}))
                    owner._changed.notify_all()
                body = (b"<!DOCTYPE html><html><head><title>Client callback</title></head>"
                        b"<body><h1>The client received the callback</h1></body></html>")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="client-redirect", daemon=True)
        self._thread.start()

    def redirect_uri(self, name: str) -> str:
        return f"{self.origin}/{name}/callback"

    def count(self, path: str) -> int:
        with self._changed:
            return sum(1 for p, _ in self.received if p == path)

    def wait_for(self, path: str, after: int, timeout: float = WAIT) -> dict[str, str] | None:
        """The query of the first callback on `path` beyond the first `after` ones, or None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                hits = [query for p, query in self.received if p == path]
                if len(hits) > after:
                    return hits[after]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class HeadlessChromium:
    """One Chromium (one cookie jar: the user's browser across all paths), screenshots per page."""

    def __init__(self, screenshot_dir: Path, accept_insecure_certs: bool = False):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: run scripts/e2e-setup.sh (Debian chromium + chromium-driver)")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1024,768", "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--lang=en-US"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.accept_insecure_certs = accept_insecure_certs
        # Explicit browser and driver paths: Selenium Manager never looks for (or downloads) others.
        os.environ.setdefault("SE_AVOID_STATS", "true")
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        self.driver.set_page_load_timeout(WAIT)
        self.screenshot_dir = screenshot_dir
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        self.screenshots: list[Path] = []
        self.console: list[str] = []
        self.failed = False

    def close(self) -> None:
        with contextlib.suppress(WebDriverException):
            self.driver.quit()

    # Pages

    def open(self, url: str) -> None:
        self.driver.get(url)

    def screenshot(self, name: str) -> Path:
        path = self.screenshot_dir / f"{len(self.screenshots) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.screenshots.append(path)
        return path

    def title(self) -> str:
        return self.driver.title

    def text(self, selector: str = "body") -> str:
        return self.driver.find_element(By.CSS_SELECTOR, selector).text

    def click(self, selector: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def fill(self, selector: str, value: str) -> None:
        element = self.driver.find_element(By.CSS_SELECTOR, selector)
        element.clear()
        element.send_keys(value)

    def wait_for_title(self, fragment: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while fragment not in self.driver.title:
            if time.monotonic() > deadline:
                raise AssertionError(f"no page titled '…{fragment}…' within {timeout:.0f} s "
                                     f"(title '{self.driver.title}')")
            time.sleep(0.05)

    def layout_problems(self) -> list[str]:
        """What makes a page render badly: horizontal overflow (text or code that does not wrap),
        a button or field outside the viewport or too small to hit, an empty page."""
        return self.driver.execute_script("""
            const problems = [];
            const doc = document.documentElement;
            if (doc.scrollWidth > window.innerWidth + 1)
                problems.push(`the page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
            if (!document.body || document.body.innerText.trim().length < 20)
                problems.push('the page shows (almost) no text');
            for (const el of document.querySelectorAll('button, input:not([type=hidden])')) {
                const r = el.getBoundingClientRect();
                if (r.width < 40 || r.height < 24)
                    problems.push(`${el.tagName.toLowerCase()} '${el.innerText || el.name}' is ${r.width}x${r.height}px`);
                if (r.right > window.innerWidth + 1)
                    problems.push(`${el.tagName.toLowerCase()} '${el.innerText || el.name}' sticks out to ${r.right}px`);
            }
            return problems;
        """)

    def resize(self, width: int, height: int) -> None:
        self.driver.set_window_size(width, height)

    def collect_console(self) -> list[str]:
        """The browser console since the last call (reading drains Chromium's buffer), with the
        query values of any URL in it masked as in the exchange log."""
        with contextlib.suppress(WebDriverException):
            self.console = [f"{entry.get('level')}: {_URL.sub(lambda m: redact_url(m.group(0)), entry.get('message', ''))}"
                            for entry in self.driver.get_log("browser")]
        return self.console

    # Failure reporting

    @contextlib.contextmanager
    def step(self, name: str, diagnostics=None) -> Iterator[None]:
        """A named step: on failure, a screenshot of the current page, its URL and text, the
        console, the screenshots so far and the processes' logs go into the failure message."""
        self.collect_console()  # what earlier steps logged is not this step's
        try:
            yield
        except Exception as error:  # noqa: BLE001 - re-raised with context
            self.failed = True
            lines = [f"browser step '{name}' failed: {type(error).__name__}: {error}"]
            with contextlib.suppress(WebDriverException):
                lines.append(f"  page: {redact_url(self.driver.current_url)} — title '{self.driver.title}'")
                lines.append(f"  text: {self.text()[:400]!r}")
                lines.append(f"  screenshot of this page: {self.screenshot('failure-' + _slug(name))}")
            console = self.collect_console()
            if console:
                lines.append("  browser console:\n    " + "\n    ".join(line[:500] for line in console[-10:]))
            if self.screenshots:
                lines.append(f"  screenshots of every page ({self.screenshot_dir}):\n    "
                             + "\n    ".join(str(p) for p in self.screenshots))
            if diagnostics:
                lines.append(diagnostics())
            message = "\n".join(lines)
            print(message)
            raise BrowserStepFailed(message) from error


def screenshot_dir() -> Path:
    base = os.environ.get("E2E_SCREENSHOT_DIR")
    if base:
        path = Path(base)
        path.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="browser-", dir=path))
    return Path(tempfile.mkdtemp(prefix="fjmcp-e2e-browser-"))


def discard_screenshots(browser: HeadlessChromium) -> None:
    """After a run without failure the screenshots are of no use; after a failure they are kept."""
    if not browser.failed and not os.environ.get("E2E_KEEP_TMP"):
        shutil.rmtree(browser.screenshot_dir, ignore_errors=True)
    else:
        print(f"browser screenshots kept in {browser.screenshot_dir}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40]
