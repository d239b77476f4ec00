"""hearth.client against a real server (fake engine: this is about the HTTP client)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from hearth.api.ollama import ChatRequest, Message
from hearth.client import Client, find_server
from hearth.config import Settings
from hearth.errors import HearthError, InvalidInput, NotFound, Unauthorized


def test_find_server_probes_version(fake_server: str, fake_services: Any) -> None:
    host = fake_server.removeprefix("http://")
    client = find_server(fake_services.settings.with_(host=host))
    assert client is not None
    with client:
        assert client.version()
        assert "fake:1b" in {m.name for m in client.tags().models}


def test_find_server_none_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert find_server(Settings().with_(host=f"127.0.0.1:{port}")) is None


def test_chat_streams_and_stop_unloads(fake_server: str) -> None:
    with Client(fake_server) as client:
        chunks = list(
            client.chat(ChatRequest(model="fake:1b", messages=[Message(role="user", content="hi")]))
        )
        assert "".join(c.message.content or "" for c in chunks) == "Hello from the fake engine."
        assert chunks[-1].done and chunks[-1].eval_count == 6
        client.load("fake:1b")
        assert [m.name for m in client.ps().models] == ["fake:1b"]
        client.stop("fake:1b")
        assert client.ps().models == []
        events = list(client.pull("x:1"))
        assert events[-1].status == "success"
        assert client.embed("e5:small", ["a"]).embeddings


def test_errors_map_to_hearth_errors(fake_server: str, make_fake_server: Any) -> None:
    with Client(fake_server) as client:
        with pytest.raises(NotFound, match="hearth pull nope:1"):
            list(
                client.chat(
                    ChatRequest(model="nope:1", messages=[Message(role="user", content="x")])
                )
            )
        with pytest.raises(InvalidInput, match="context"):
            list(
                client.chat(
                    ChatRequest(
                        model="fake:1b", messages=[Message(role="user", content="overflow")]
                    )
                )
            )
        with pytest.raises(HearthError, match="out of memory"):  # mid-stream error line
            list(
                client.chat(
                    ChatRequest(model="broken:1b", messages=[Message(role="user", content="x")])
                )
            )
    locked = make_fake_server(api_keys=("k1",))
    with Client(locked) as client, pytest.raises(Unauthorized):
        client.tags()
    with Client(locked, api_key="k1") as client:
        assert client.tags().models
