"""Fixtures of the web UI tests: a tiny Ollama-protocol registry on loopback, settings that
point at it, and one headless Chromium per test module (Playwright's sync API)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ui_support import CHROMIUM, CHROMIUM_ARGS, FakeRegistry, registry_handler, tiny_gguf

from hearth.config import Settings


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    fake.add("library/tiny", "latest", tiny_gguf())
    server = ThreadingHTTPServer(("127.0.0.1", 0), registry_handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, registry: FakeRegistry) -> Settings:
    """The shared settings, with the Ollama registry on loopback and a small body limit
    (so the failed-upload test can trip it with a few MB). A test may change more with
    `@pytest.mark.parametrize("settings", [{...}], indirect=True)`."""
    return Settings().with_(
        home=tmp_path / "hearth-home",
        host="127.0.0.1:0",
        keep_alive=300.0,
        ollama_registry=registry.url,
        max_body_bytes=4 * 1024 * 1024,
        num_threads=1,
        **getattr(request, "param", {}),
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module. `make setup` installs it, so a missing browser is
    a set-up defect: the tests fail rather than skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's chromium is not installed ({CHROMIUM}): run `make setup` as root, "
            "or apt-get install chromium"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (1280x800) that fails the test on any uncaught page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
