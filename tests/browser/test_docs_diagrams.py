"""The documentation's sequence diagrams, rendered by a real headless Chromium with no network.

The docs are built (``mkdocs build --strict``) into a temporary directory and served on
127.0.0.1; each page with diagrams must show every one as an SVG naming its participants, and
the browser must ask nothing of any other host (the theme's fonts and mermaid itself are local).

Needs ``mkdocs`` (a dev dependency), Debian's ``chromium`` and ``chromium-driver`` and
``selenium``; skipped with the reason when one is missing, except under ``CI=true`` (then it
fails).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .test_sign_in_browser import CHROMEDRIVER, CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]

# page -> the participants of each of its diagrams, in the order of the page
PAGES = {
    "web-sign-in/": [
        ["Browser", "App (WebSignIn)", "Session store", "Cognito"],
        ["Request 1 (tab 1)", "Request 2 (tab 2)", "Session store", "Cognito"],
        ["Browser", "App (WebSignIn)", "Session store", "Revocation list", "Cognito"],
    ],
    "tokens/": [["Process 1", "Process 2", "Redis", "Cognito"]],
    "revocation/": [["Process A", "Redis", "Process B"]],
    "aws-lambda/": [["Client", "API Gateway", "Lambda authorizer", "Integration"]],
    "architecture/": [
        ["integrations/", "sessions/", "bearer", "client", "verifier", "keys", "_redis/", "errors"],
        ["Adapter", "BearerGuard or SessionGuard", "CognitoVerifier", "KeyStore"],
    ],
}


def _missing() -> str | None:
    try:
        import mkdocs  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("site")
    # NO_MKDOCS_2_WARNING: the theme's end-of-life notice, printed on every build otherwise.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    done = subprocess.run(  # noqa: S603 - a fixed command line
        build, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def browser(served: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('profile')}")
    # Every request the page's target starts, as DevTools events: failed ones included.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _texts(node: dict[str, Any]) -> Iterator[str]:
    """The text under a DevTools DOM node, shadow roots included."""
    if node.get("nodeType") == 3:  # a text node
        yield node.get("nodeValue", "")
    for child in (*node.get("shadowRoots", ()), *node.get("children", ())):
        yield from _texts(child)


def _diagrams(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``<svg>`` elements inside each ``div.mermaid`` host, in document order.

    The theme renders each diagram into a *closed* shadow root, which page scripts (and so
    Selenium's element API) cannot enter; DevTools' DOM with ``pierce`` does.
    """
    attributes = node.get("attributes", [])
    classes = dict(zip(attributes[::2], attributes[1::2], strict=True)).get("class", "")
    if node.get("localName") == "div" and "mermaid" in classes.split():
        for root in node.get("shadowRoots", ()):
            yield from (child for child in root.get("children", ()) if child["localName"] == "svg")
        return
    for child in (*node.get("shadowRoots", ()), *node.get("children", ())):
        yield from _diagrams(child)


def _requested(driver: Any) -> list[str]:
    """The URLs of every request the page asked for since the last call."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("page", list(PAGES))
def test_diagrams_render_as_svg_offline_in_chromium(page: str, browser: Any, served: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    expected = PAGES[page]
    _requested(browser)  # what earlier pages asked for is not this page's
    browser.get(served + page)
    # The theme swaps each <pre class="mermaid"> for a <div class="mermaid"> once mermaid
    # rendered it.
    try:
        WebDriverWait(browser, 30).until(
            lambda driver: (
                driver.execute_script("return document.querySelectorAll('div.mermaid').length")
                == len(expected)
            )
        )
    except TimeoutException:
        asked = [url for url in _requested(browser) if not url.startswith("chrome:")]
        pytest.fail(f"the diagrams of {page} did not render; requests: {asked}")
    document = browser.execute_cdp_cmd("DOM.getDocument", {"depth": -1, "pierce": True})
    svgs = list(_diagrams(document["root"]))
    assert len(svgs) == len(expected)
    for svg, participants in zip(svgs, expected, strict=True):
        text = " ".join(_texts(svg))
        assert "Syntax error" not in text
        for name in participants:
            assert name in text, (name, text[:300])

    # Nothing left loopback: not the page, its scripts, styles and fonts, nor mermaid.
    requested = _requested(browser)
    resources = browser.execute_script(
        "return performance.getEntries().map(entry => entry.name)"
        ".filter(name => name.includes('://'))"
    )
    assert any(url.endswith(".min.js") and "mermaid" in url for url in requested)
    for url in (*requested, *resources):
        parts = urlsplit(url)
        # data: and blob: never reach a network; chrome:// is the browser's own start page.
        local = parts.scheme in ("data", "blob", "chrome")
        assert local or (parts.scheme == "http" and parts.hostname == "127.0.0.1"), url
