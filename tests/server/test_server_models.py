"""Model management through the Ollama API on the real store: show, create, copy, delete,
blobs, pull (against a loopback address only)."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from hearth.config import Settings

pytestmark = pytest.mark.slow

MODEL = "smollm2:135m"


def _tiny_gguf() -> bytes:
    """A valid GGUF header with no tensors (enough for the store; never run)."""

    def text(value: str) -> bytes:
        raw = value.encode()
        return struct.pack("<Q", len(raw)) + raw

    kvs = text("general.architecture") + struct.pack("<I", 8) + text("llama")
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kvs
    return data + b"\0" * (-len(data) % 32)


class _Registry(BaseHTTPRequestHandler):
    """registry.ollama.ai's two GET routes, for library/tiny:1 only."""

    files: ClassVar[dict[str, bytes]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        body = (
            body if body is not None else b'{"errors":[{"code":"NOT_FOUND","message":"not found"}]}'
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def registry() -> Iterator[str]:
    model = _tiny_gguf()
    config = json.dumps({"model_format": "gguf", "model_family": "llama"}).encode()

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.ollama.image.model",
                "digest": digest(model),
                "size": len(model),
            }
        ],
    }
    _Registry.files = {
        "/v2/library/tiny/manifests/1": json.dumps(manifest).encode(),
        f"/v2/library/tiny/blobs/{digest(model)}": model,
        f"/v2/library/tiny/blobs/{digest(config)}": config,
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(settings: Settings, registry: str) -> Settings:
    # Pulls only ever reach this machine: a fake registry on loopback.
    return settings.with_(ollama_registry=registry, hf_endpoint=registry)


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
    # Nothing in a request is silently ignored.
    for extra, message in (
        ({"quantize": "q8_0"}, "quantizing is not supported"),
        ({"system": "Hi."}, "give either 'modelfile' or the fields (system), not both"),
    ):
        r = httpx.post(
            f"{live_server}/api/create",
            json={"model": "x:1", "modelfile": f"FROM {MODEL}\n", "stream": False, **extra},
        )
        assert r.status_code == 400 and message in r.json()["error"], r.text
    # Parameters are checked like a Modelfile's: nothing is written, the model list stays readable.
    for params, message in (
        ({"temperature": "hot"}, "parameters.temperature: input should be a valid number"),
        ({"temperature": -1}, "parameters.temperature: input should be greater than or equal to 0"),
        ({"tempurature": 1}, "unknown parameter 'tempurature'; did you mean temperature?"),
        ({"logit_bias": {"5": -100}}, "unknown parameter 'logit_bias'"),  # per request only
    ):
        r = httpx.post(
            f"{live_server}/api/create", json={"model": "x:1", "from": MODEL, "parameters": params}
        )
        assert r.status_code == 400 and message in r.json()["error"], r.text
    tags = httpx.get(f"{live_server}/api/tags")
    assert tags.status_code == 200 and "x:1" not in {m["name"] for m in tags.json()["models"]}

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


def test_pull_streams_progress_through_every_client(live_server: str) -> None:
    import ollama

    from hearth.client import Client

    events = list(ollama.Client(host=live_server).pull("tiny:1", stream=True))
    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(e.total and e.completed == e.total for e in events)
    assert "tiny:1" in {m["name"] for m in httpx.get(f"{live_server}/api/tags").json()["models"]}
    httpx.request("DELETE", f"{live_server}/api/delete", json={"model": "tiny:1"})
    with Client(live_server) as client:
        assert [e.status for e in client.pull("tiny:1")][-1] == "success"
    one = httpx.post(f"{live_server}/api/pull", json={"model": "tiny:1", "stream": False}).json()
    assert one == {"status": "success"}


def test_pull_failure_is_clear_and_leaves_nothing(live_server: str) -> None:
    r = httpx.post(f"{live_server}/api/pull", json={"model": "tinyllama:latest"}, timeout=60)
    # Like Ollama: "pulling manifest" first, then the error as the stream's last line.
    message = r.json()["error"] if r.status_code >= 400 else _lines(r)[-1]["error"]
    assert "tinyllama" in message and "not found" in message
    assert "tinyllama:latest" not in {
        m["name"] for m in httpx.get(f"{live_server}/api/tags").json()["models"]
    }
