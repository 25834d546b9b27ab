"""Serve apps with `panel serve` as a user's browser would reach them, and drive Debian's Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quantdesk.testing import free_port, subprocess_env, wait_for_http

REPOSITORY = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture()
def serve_app(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `panel serve apps/NAME.py` (and ``extra_apps``) on a free port with the given catalog; return NAME's URL."""
    servers: list[subprocess.Popen] = []

    def serve(name: str, catalog: Path, extra_apps: tuple[str, ...] = (), **settings: str) -> str:
        port = free_port()
        log = (tmp_path / f"panel-{name}.log").open("w")
        files = [str(REPOSITORY / "apps" / f"{app}.py") for app in (name, *extra_apps)]
        servers.append(
            subprocess.Popen(
                [sys.executable, "-m", "panel", "serve", *files,
                 "--address", "127.0.0.1", "--port", str(port), f"--allow-websocket-origin=127.0.0.1:{port}"],
                env=subprocess_env(QUANTDESK_CATALOG=str(catalog), **settings), stdout=log, stderr=subprocess.STDOUT,
            )
        )
        url = f"http://127.0.0.1:{port}/{name}"
        wait_for_http(url, timeout=120)
        return url

    yield serve
    for server in servers:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium (Playwright's own download does not work offline)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run `make test`, which installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(browser) -> Iterator[Callable[[str], tuple[object, list[str]]]]:
    """Open a URL in a fresh page; return it and a list that collects console errors, page errors and failed requests."""
    pages = []

    def open_(url: str):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        pages.append(page)
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        page.goto(url, wait_until="networkidle", timeout=120_000)
        return page, problems

    yield open_
    for page in pages:
        if not page.is_closed():
            page.close()
