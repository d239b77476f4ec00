"""Model management through the Ollama API on the real store: show, create, copy, delete,
blobs, pull (against a loopback address only)."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from hearth.config import Settings

pytestmark = pytest.mark.slow

MODEL = "smollm2:135m"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Pulls may only ever reach this machine: a port where nothing listens.
    dead = f"http://127.0.0.1:{_closed_port()}"
    return settings.with_(ollama_registry=dead, hf_endpoint=dead)


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_show_with_the_ollama_client(live_server: str) -> None:
    import ollama

    shown = ollama.Client(host=live_server).show(MODEL)
    assert shown.details.format == "gguf" and shown.details.family == "llama"
    assert "completion" in (shown.capabilities or [])
    assert shown.modelfile and "FROM" in shown.modelfile
    assert shown.modelinfo and shown.modelinfo["general.architecture"] == "llama"
    raw = httpx.post(f"{live_server}/api/show", json={"model": MODEL}).json()
    assert raw["name_parts"]["size"] and raw["memory"]["total"] > raw["memory"]["weights"] > 0
    assert raw["model_info"]["tokenizer.ggml.tokens"] == []  # vocabularies only with verbose


def test_create_copy_delete(live_server: str) -> None:
    r = httpx.post(
        f"{live_server}/api/create",
        json={
            "model": "mario:1",
            "from": MODEL,
            "system": "You are Mario.",
            "parameters": {"temperature": 0.2},
        },
    )
    assert r.status_code == 200 and _lines(r)[-1] == {"status": "success"}
    shown = httpx.post(f"{live_server}/api/show", json={"model": "mario:1"}).json()
    assert shown["system"] == "You are Mario." and "temperature" in shown["parameters"]

    text = 'FROM mario:1\nSYSTEM """You are Luigi."""\n'
    r = httpx.post(
        f"{live_server}/api/create", json={"model": "luigi:1", "modelfile": text, "stream": False}
    )
    assert r.json() == {"status": "success"}
    bad = httpx.post(
        f"{live_server}/api/create", json={"model": "x:1", "modelfile": "PARAMETER temperature 1\n"}
    )
    assert bad.status_code == 400 and "FROM" in bad.json()["error"]
    missing = httpx.post(
        f"{live_server}/api/create", json={"model": "x:1", "from": "nothing:here", "stream": False}
    )
    assert missing.status_code == 404

    assert (
        httpx.post(
            f"{live_server}/api/copy", json={"source": "luigi:1", "destination": "luigi:copy"}
        ).status_code
        == 200
    )
    names = {m["name"] for m in httpx.get(f"{live_server}/api/tags").json()["models"]}
    assert {"mario:1", "luigi:1", "luigi:copy"} <= names
    assert (
        httpx.request(
            "DELETE", f"{live_server}/api/delete", json={"model": "luigi:copy"}
        ).status_code
        == 200
    )
    assert (
        httpx.request(
            "DELETE", f"{live_server}/api/delete", json={"model": "luigi:copy"}
        ).status_code
        == 404
    )
    assert "luigi:copy" not in {
        m["name"] for m in httpx.get(f"{live_server}/api/tags").json()["models"]
    }


def test_blobs_and_create_from_a_blob(live_server: str, services: Any) -> None:
    path = services.store.resolve(MODEL).model_path
    digest = "sha256:" + path.name.removeprefix("sha256-")
    assert httpx.head(f"{live_server}/api/blobs/{digest}").status_code == 200
    r = httpx.post(
        f"{live_server}/api/create",
        json={"model": "fromblob:1", "files": {"model.gguf": digest}, "stream": False},
    )
    assert r.status_code == 200, r.text
    assert (
        httpx.post(f"{live_server}/api/show", json={"model": "fromblob:1"}).json()["details"][
            "format"
        ]
        == "gguf"
    )

    import hashlib

    junk = b"not a gguf file" * 100
    junk_digest = "sha256:" + hashlib.sha256(junk).hexdigest()
    assert httpx.post(f"{live_server}/api/blobs/{junk_digest}", content=junk).status_code == 201
    wrong = httpx.post(f"{live_server}/api/blobs/sha256:{'0' * 64}", content=junk)
    assert wrong.status_code == 400 and "digest" in wrong.json()["error"]
    r = httpx.post(
        f"{live_server}/api/create", json={"model": "junk:1", "files": {"x.gguf": junk_digest}}
    )
    assert 400 <= r.status_code < 500 or "GGUF" in _lines(r)[-1].get("error", "")
    assert "junk:1" not in {
        m["name"] for m in httpx.get(f"{live_server}/api/tags").json()["models"]
    }


def test_pull_failure_is_clear_and_leaves_nothing(live_server: str) -> None:
    r = httpx.post(f"{live_server}/api/pull", json={"model": "tinyllama:latest"}, timeout=60)
    assert r.status_code >= 400 or "error" in _lines(r)[-1]
    message = r.json()["error"] if r.status_code >= 400 else _lines(r)[-1]["error"]
    assert "\n" not in message and message
    assert "tinyllama:latest" not in {
        m["name"] for m in httpx.get(f"{live_server}/api/tags").json()["models"]
    }
