"""Shared fixtures: a hearth home in tmp_path, the services, a real server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hearth.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with HEARTH_HOME in tmp_path (bundled models are hard-linked, not copied)."""
    return Settings().with_(home=tmp_path / "hearth-home", host="127.0.0.1:0", keep_alive=300.0)


@pytest.fixture
def services(settings: Settings) -> Iterator[object]:
    from hearth.services import Services

    svc = Services.create(settings)
    try:
        yield svc
    finally:
        svc.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(services: object) -> Iterator[str]:
    """A real uvicorn server on a random loopback port; yields its base URL."""
    import uvicorn

    from hearth.server.app import create_app

    port = _free_port()
    app = create_app(services)  # type: ignore[arg-type]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
