"""Pulling over the real protocols from registries started on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hearth.config import Settings
from hearth.errors import CorruptModel, DiskFull, DownloadError, NotFound
from hearth.store import ModelStore, bundled_sources


class Registry:
    """A small server speaking the Ollama registry (/v2/...) and Hugging Face (/api/models, /resolve) protocols."""

    def __init__(self, gguf: bytes) -> None:
        self.gguf = gguf
        self.digest = "sha256:" + hashlib.sha256(gguf).hexdigest()
        self.config = json.dumps(  # the shape registry.ollama.ai serves
            {
                "model_format": "gguf",
                "model_family": "llama",
                "model_families": ["llama"],
                "model_type": "135M",
                "file_type": "Q4_1",
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + hashlib.sha256(gguf).hexdigest()],
                },
            }
        ).encode()
        self.config_digest = "sha256:" + hashlib.sha256(self.config).hexdigest()
        self.garbage = b"GGUF but not really a model " * 50  # right digest, wrong content
        self.garbage_digest = "sha256:" + hashlib.sha256(self.garbage).hexdigest()
        self.slow = False  # send the model blob in ten slow pieces
        self.model_gets = 0
        self.drops = 0  # how many model-blob transfers to cut halfway
        self.corrupt = False  # serve wrong bytes for the model blob
        self.ranges: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: bytes, ctype: str = "application/octet-stream") -> None:
                # The client may go away mid-body (as a pull that hit a full disk does).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send_range(body, ctype)

            def _send_range(self, body: bytes, ctype: str) -> None:
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    registry.ranges.append(rng)
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if registry.drops > 0 and body is registry.gguf:
                    registry.drops -= 1
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                if registry.slow and body is registry.gguf:
                    step = len(payload) // 10 + 1
                    for i in range(0, len(payload), step):
                        self.wfile.write(payload[i : i + step])
                        time.sleep(0.03)
                    return
                self.wfile.write(payload)

            def do_HEAD(self) -> None:
                if self.path == "/org/Two-GGUF/resolve/main/two-Q4_K_M.gguf":
                    self.send_response(
                        302
                    )  # Hugging Face: a redirect to the CDN, with the LFS sha256
                    self.send_header("X-Linked-Etag", f'"{registry.digest[7:]}"')
                    self.send_header("Location", self.path)
                    self.send_header("Content-Length", "0")
                else:
                    self.send_response(404)
                self.end_headers()

            def do_GET(self) -> None:
                model_body = registry.gguf if not registry.corrupt else registry.gguf[:-1] + b"X"
                if self.path in (
                    "/v2/library/tiny/manifests/latest",
                    "/v2/library/garbage/manifests/latest",
                ):
                    model = registry.digest if "tiny" in self.path else registry.garbage_digest
                    size = len(registry.gguf) if "tiny" in self.path else len(registry.garbage)
                    manifest = {
                        "schemaVersion": 2,
                        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {
                            "mediaType": "application/vnd.docker.container.image.v1+json",
                            "digest": registry.config_digest,
                            "size": len(registry.config),
                        },
                        "layers": [
                            {
                                "mediaType": "application/vnd.ollama.image.model",
                                "digest": model,
                                "size": size,
                            }
                        ],
                    }
                    self._send(json.dumps(manifest).encode(), "application/json")
                elif self.path == f"/v2/library/tiny/blobs/{registry.digest}":
                    registry.model_gets += 1
                    self._send(registry.gguf if not registry.corrupt else model_body)
                elif self.path == f"/v2/library/garbage/blobs/{registry.garbage_digest}":
                    self._send(registry.garbage)
                elif self.path.endswith(f"/blobs/{registry.config_digest}"):
                    self._send(registry.config)
                elif self.path == "/api/models/org/Tiny-GGUF/tree/main":
                    files = [
                        {"type": "file", "path": "README.md", "size": 10},
                        {
                            "type": "file",
                            "path": "tiny.Q8_0.gguf",
                            "size": 999,
                            "lfs": {"oid": "0" * 64, "size": 999},
                        },
                        {
                            "type": "file",
                            "path": "tiny.Q4_1.gguf",
                            "size": len(registry.gguf),
                            "lfs": {"oid": registry.digest[7:], "size": len(registry.gguf)},
                        },
                    ]
                    self._send(json.dumps(files).encode(), "application/json")
                elif self.path == "/api/models/org/Two-GGUF/tree/main":
                    files = [
                        {"type": "file", "path": "two-Q8_0.gguf", "size": 2 * len(registry.gguf)},
                        {"type": "file", "path": "two-Q4_K_M.gguf", "size": len(registry.gguf)},
                    ]
                    self._send(json.dumps(files).encode(), "application/json")
                elif self.path in (
                    "/org/Two-GGUF/resolve/main/two-Q4_K_M.gguf",
                    "/org/Tiny-GGUF/resolve/main/tiny.Q4_1.gguf",
                ):
                    self._send(model_body)
                else:
                    self.send_response(404)
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    path, _ = bundled_sources()["smollm2:135m"]
    reg = Registry(path.read_bytes())
    yield reg
    reg.close()


@pytest.fixture
def store(settings: Settings, registry: Registry) -> ModelStore:
    registry.drops = registry.model_gets = 0
    registry.corrupt = registry.slow = False
    registry.ranges.clear()
    return ModelStore(settings.with_(ollama_registry=registry.url, hf_endpoint=registry.url))


def _leftovers(store: ModelStore) -> list[str]:
    return (
        [p.name for p in store.blobs.iterdir() if "partial" in p.name or p.name.startswith(".")]
        if store.blobs.exists()
        else []
    )


def test_pull_from_registry(store: ModelStore, registry: Registry) -> None:
    events = list(store.pull("tiny"))
    assert events[0].status == "pulling manifest" and events[-1].status == "success"
    assert any(e.total == len(registry.gguf) and e.completed == e.total for e in events)
    record = store.resolve("tiny")
    assert record.model_path.read_bytes() == registry.gguf
    assert record.details.quantization_level == "Q4_1"
    assert (record.details.parameter_size, record.details.family, record.kind) == (
        "135M",
        "llama",
        "llm",
    )
    assert list(store.pull("tiny"))[-1].status == "success"  # second pull: nothing to fetch


def test_interrupted_download_resumes_with_range(store: ModelStore, registry: Registry) -> None:
    registry.drops = 1
    events = list(store.pull("tiny"))
    assert events[-1].status == "success"
    # Every byte received before the cut is kept: the resume asks for exactly the rest.
    assert registry.ranges[0] == f"bytes={len(registry.gguf) // 2}-"
    assert store.resolve("tiny").model_path.read_bytes() == registry.gguf
    assert _leftovers(store) == []


def test_digest_mismatch_is_rejected_and_leaves_nothing(
    store: ModelStore, registry: Registry
) -> None:
    registry.corrupt = True
    with pytest.raises(DownloadError, match="digest mismatch"):
        list(store.pull("tiny"))
    assert [r.name for r in store.list()] == []
    assert _leftovers(store) == []


def test_pull_from_hugging_face_picks_the_quant(store: ModelStore, registry: Registry) -> None:
    events = list(store.pull("hf.co/org/Tiny-GGUF:Q4_1"))
    assert events[-1].status == "success"
    record = store.resolve("hf.co/org/Tiny-GGUF:Q4_1")
    assert record.model_path.read_bytes() == registry.gguf
    # Names match case-insensitively; Hugging Face names keep their case in the list.
    assert store.resolve("HF.co/ORG/tiny-gguf:q4_1").name == "hf.co/org/Tiny-GGUF:Q4_1"
    assert [r.name for r in store.list()] == ["hf.co/org/Tiny-GGUF:Q4_1"]
    with pytest.raises(NotFound, match="available: Q4_1, Q8_0"):
        list(store.pull("hf.co/org/Tiny-GGUF:Q5_K_M"))


def test_pull_cut_off_every_time_fails_then_resumes_in_the_next_pull(
    store: ModelStore, registry: Registry
) -> None:
    registry.drops = 99
    with pytest.raises(DownloadError, match=r"interrupted .* run the same pull again to resume"):
        list(store.pull("tiny"))
    assert [r.name for r in store.list()] == []  # never a half model in the list
    partial = store.blobs / f"sha256-{registry.digest[7:]}-partial"
    kept = partial.stat().st_size
    assert 0 < kept < len(registry.gguf)
    registry.drops = 0
    registry.ranges.clear()
    assert list(store.pull("tiny"))[-1].status == "success"
    assert registry.ranges[0] == f"bytes={kept}-"  # resumed where the last pull stopped
    assert store.resolve("tiny").model_path.read_bytes() == registry.gguf
    assert not partial.exists()


def test_hugging_face_default_quant_verified_by_linked_etag(
    store: ModelStore, registry: Registry
) -> None:
    events = list(store.pull("huggingface.co/org/Two-GGUF"))
    assert "verifying sha256 digest" in [e.status for e in events]
    record = store.resolve(
        "hf.co/org/Two-GGUF:Q4_K_M"
    )  # Q4_K_M is preferred when no quant is named
    assert record.model_path.read_bytes() == registry.gguf
    assert store.resolve("hf.co/org/Two-GGUF").digest == record.digest
    registry.corrupt = True  # the sha256 from X-Linked-Etag catches a corrupted download
    store.delete("hf.co/org/Two-GGUF:Q4_K_M")
    store.delete("hf.co/org/Two-GGUF:latest")
    with pytest.raises(DownloadError, match="digest mismatch"):
        list(store.pull("hf.co/org/Two-GGUF:q4_k_m"))
    assert store.list() == [] and _leftovers(store) == []


def test_a_model_that_is_not_gguf_is_rejected_and_removed(store: ModelStore) -> None:
    with pytest.raises(
        CorruptModel, match="garbage:latest: the downloaded model file is not a valid GGUF"
    ):
        list(store.pull("garbage"))
    assert store.list() == []
    assert [
        p.name for p in store.blobs.iterdir()
    ] == []  # neither the model nor the config blob stays


def test_unknown_model_and_unreachable_registry(store: ModelStore, settings: Settings) -> None:
    with pytest.raises(NotFound, match="not found in the registry"):
        list(store.pull("nosuch"))
    dead = ModelStore(settings.with_(ollama_registry="http://127.0.0.1:9"))
    with pytest.raises(DownloadError, match="HEARTH_OLLAMA_REGISTRY"):
        list(dead.pull("tiny"))


def test_cli_pull_and_list(store: ModelStore, registry: Registry, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hearth.cli.main import app

    env = {
        "HEARTH_HOME": str(tmp_path / "cli-home"),
        "HEARTH_OLLAMA_REGISTRY": registry.url,
        "HEARTH_HOST": "127.0.0.1:9",
    }
    result = CliRunner().invoke(app, ["pull", "tiny"], env=env)
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(app, ["list", "--json"], env=env)
    assert "tiny:latest" in [m["name"] for m in json.loads(listed.stdout)]
    bad = CliRunner().invoke(app, ["pull", "not a name"], env=env)
    assert (
        bad.exit_code == 1 and "invalid model name" in bad.output and "Traceback" not in bad.output
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_during_a_download_is_a_clear_error(
    store: ModelStore, registry: Registry
) -> None:
    store.blobs.mkdir(parents=True)
    partial = store.blobs / f"sha256-{registry.digest[7:]}-partial"
    partial.symlink_to("/dev/full")  # every write to it fails with ENOSPC, as on a full disk
    with pytest.raises(DiskFull, match="disk is full"):
        list(store.pull("tiny"))
    assert not partial.exists() and not partial.is_symlink()  # the partial is removed
    assert store.list() == []


def test_cli_pull_from_a_registry_named_in_the_model(registry: Registry, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hearth.cli.main import app

    host = registry.url.removeprefix("http://")
    env = {"HEARTH_HOME": str(tmp_path / "home"), "HEARTH_HOST": "127.0.0.1:9"}
    result = CliRunner().invoke(app, ["pull", "--insecure", f"{host}/library/tiny"], env=env)
    assert result.exit_code == 0, result.output
    assert "success" in result.output
    listed = json.loads(CliRunner().invoke(app, ["list", "--json"], env=env).stdout)
    assert f"{host}/library/tiny:latest" in [m["name"] for m in listed]


def test_pulling_a_bundled_model_needs_no_network(settings: Settings) -> None:
    store = ModelStore(
        settings.with_(ollama_registry="http://127.0.0.1:9")
    )  # nothing listens there
    events = list(store.pull("SmolLM2:135m"))
    assert "ships with hearth" in events[0].status and events[-1].status == "success"
    assert store.resolve("smollm2:135m").details.quantization_level == "Q4_1"


def test_two_pulls_of_one_model_at_once_download_it_once(
    store: ModelStore, registry: Registry
) -> None:
    registry.slow = True
    other = ModelStore(store.settings)  # as if in another process: only the file lock is shared
    results: list[str] = []

    def pull(s: ModelStore) -> None:
        results.append(list(s.pull("tiny"))[-1].status)

    threads = [threading.Thread(target=pull, args=(s,)) for s in (store, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == ["success", "success"]
    assert registry.model_gets == 1  # the second pull waited for the first, then found the blob
    assert store.resolve("tiny").model_path.read_bytes() == registry.gguf
    assert not (store.root / ".locks").exists() or not list((store.root / ".locks").iterdir())
