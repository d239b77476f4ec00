"""Helpers of the web UI tests: a protocol-faithful fake Ollama registry, a tiny GGUF,
screenshots under test-output/screenshots."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def tiny_gguf(name: str = "tiny", context_length: int = 2048) -> bytes:
    """A valid GGUF v3 file with metadata and no tensors (enough for the store to read)."""

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    kvs = [
        string("general.architecture") + struct.pack("<I", 8) + string("llama"),
        string("general.name") + struct.pack("<I", 8) + string(name),
        string("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 2),
        string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", context_length),
    ]
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
    return data + b"\0" * (-len(data) % 32)  # the (empty) tensor data starts 32-aligned


@dataclass
class FakeRegistry:
    """Serves `/v2/<ns>/<model>/manifests/<tag>` and `/v2/<ns>/<model>/blobs/<digest>`
    like registry.ollama.ai: a manifest with a config blob and one model layer (Range
    requests honoured). `requests` records every path asked for."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def add(self, repo: str, tag: str, model: bytes) -> str:
        config = json.dumps({"model_format": "gguf", "model_family": "llama"}).encode()
        layers = []
        for media, data in (("application/vnd.ollama.image.model", model),):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            self.blobs[digest] = data
            layers.append({"mediaType": media, "digest": digest, "size": len(data)})
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[config_digest] = config
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": layers,
        }
        self.manifests[f"{repo}:{tag}"] = json.dumps(manifest).encode()
        return layers[0]["digest"]


def registry_handler(registry: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            registry.requests.append(self.path)
            m = re.match(r"^/v2/(.+)/(manifests|blobs)/([^/]+)$", self.path)
            if m and m.group(2) == "manifests":
                body = registry.manifests.get(f"{m.group(1)}:{m.group(3)}")
                media = "application/vnd.docker.distribution.manifest.v2+json"
            elif m:
                body = registry.blobs.get(m.group(3))
                media = "application/octet-stream"
            else:
                body = None
            if body is None:
                payload = json.dumps({"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not head:
                    self.wfile.write(payload.encode())
                return
            status, start, end = 200, 0, len(body) - 1
            ranged = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if ranged and m and m.group(2) == "blobs":
                start = int(ranged.group(1))
                end = int(ranged.group(2)) if ranged.group(2) else len(body) - 1
                status = 206
            chunk = body[start : end + 1]
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(chunk)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
            if m and m.group(2) == "manifests":
                self.send_header(
                    "Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest()
                )
            self.end_headers()
            if not head:
                self.wfile.write(chunk)

    return Handler


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
