"""Fixtures of the server tests: a scripted fake engine and store for plumbing tests.

The fakes stand in for the services only where a test is about HTTP plumbing (error
shapes, streaming, disconnects, auth, limits). Behaviour with the real model is tested
through `live_server` (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hearth.api.ollama import (
    ChatRequest,
    ChatResponse,
    GenerateRequest,
    GenerateResponse,
    Message,
    ModelDetails,
    ProcessModel,
    ProgressResponse,
    ToolCall,
    ToolCallFunction,
)
from hearth.config import Settings
from hearth.errors import (
    Busy,
    ContextOverflow,
    DownloadError,
    HearthError,
    InvalidInput,
    ModelNotFound,
)
from hearth.store.records import ModelRecord

WORDS = ["Hello", " from", " the", " fake", " engine", "."]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeStore:
    root: Path
    records: dict[str, ModelRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, kind in (
            ("fake:1b", "llm"),
            ("slow:1b", "llm"),
            ("broken:1b", "llm"),
            ("tools:1b", "llm"),
            ("busy:1b", "llm"),
            ("queued:1b", "llm"),
            ("e5:small", "embedding"),
        ):
            self.records[name] = ModelRecord(
                name=name,
                digest="sha256:" + "ab" * 32,
                size=1234,
                modified_at=datetime(2026, 1, 2, tzinfo=UTC),
                model_path=self.root / name,
                kind=kind,  # type: ignore[arg-type]
                details=ModelDetails(family="fake", parameter_size="1B", quantization_level="Q4_0"),
            )

    def resolve(self, name: str) -> ModelRecord:
        if name not in self.records:
            raise ModelNotFound(name)
        return self.records[name]

    def list(self) -> list[ModelRecord]:
        return list(self.records.values())

    def copy(self, src: str, dst: str) -> None:
        self.records[dst] = dataclasses.replace(self.resolve(src), name=dst)

    def delete(self, name: str) -> None:
        self.resolve(name)
        del self.records[name]

    def pull(self, name: str) -> Iterator[ProgressResponse]:
        if name == "nowhere":
            raise ModelNotFound(name, f"{name} is not in the registry")
        yield ProgressResponse(status="pulling manifest")
        yield ProgressResponse(status=f"pulling {name}", digest="sha256:00", total=10, completed=10)
        if name == "fails-midway":
            raise DownloadError("download failed: connection reset; run the pull again to resume")
        yield ProgressResponse(status="success")

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest.replace(":", "-")

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def add_blob(self, chunks: Iterator[bytes], digest: str | None = None) -> str:
        import hashlib

        data = b"".join(chunks)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise InvalidInput("digest mismatch")
        path = self.blob_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return digest


@dataclass
class FakeEngine:
    """Scripted: `fake:1b` says WORDS; `slow:1b` never stops until closed; `broken:1b`
    fails after two chunks; a prompt containing "overflow" is too long."""

    store: FakeStore
    closed: threading.Event = field(default_factory=threading.Event)
    finished: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)
    # `queued:1b` requests wait here, like requests queued for a busy model.
    queue_open: threading.Event = field(default_factory=threading.Event)
    queued: list[int] = field(default_factory=list)

    def chat(self, req: ChatRequest) -> Iterator[ChatResponse]:
        self.store.resolve(req.model)
        self.requests.append(req)
        text = " ".join(m.content or "" for m in req.messages or [])
        return self._run(req.model, text, req.keep_alive, chat=True)

    def generate(self, req: GenerateRequest) -> Iterator[GenerateResponse]:
        self.store.resolve(req.model)
        self.requests.append(req)
        return self._run(req.model, req.prompt or "", req.keep_alive, chat=False)

    def _chunk(self, model: str, text: str, chat: bool, **final: Any) -> Any:
        if chat:
            return ChatResponse(
                model=model,
                created_at=_now(),
                message=Message(role="assistant", content=text),
                **final,
            )
        return GenerateResponse(model=model, created_at=_now(), response=text, **final)

    def _run(self, model: str, text: str, keep_alive: Any, chat: bool) -> Iterator[Any]:
        if model == "busy:1b":
            raise Busy("busy:1b has 64 requests waiting (HEARTH_MAX_QUEUE); retry shortly")
        if "overflow" in text:
            raise ContextOverflow("the prompt is 9999 tokens but the context is 2048 tokens")
        if not text:
            reason = "unload" if keep_alive == 0 else "load"
            (self.loaded.discard if reason == "unload" else self.loaded.add)(model)
            return iter([self._chunk(model, "", chat, done=True, done_reason=reason)])
        self.loaded.add(model)
        return self._stream(model, chat)

    def _stream(self, model: str, chat: bool) -> Iterator[Any]:
        try:
            if model == "queued:1b":
                self.queued.append(1)
                self.queue_open.wait(timeout=60)
            if model == "slow:1b":
                while True:
                    time.sleep(0.01)
                    yield self._chunk(model, "tick ", chat)
            if model == "tools:1b":
                call = ToolCall(
                    function=ToolCallFunction(name="weather", arguments={"city": "Paris"})
                )
                message = Message(role="assistant", content="", tool_calls=[call])
                yield ChatResponse(
                    model=model, created_at=_now(), message=message, done=True, done_reason="stop"
                )
                return
            for i, word in enumerate(WORDS):
                if model == "broken:1b" and i == 2:
                    raise HearthError("the model crashed: out of memory")
                yield self._chunk(model, word, chat)
            yield self._chunk(
                model,
                "",
                chat,
                done=True,
                done_reason="stop",
                prompt_eval_count=7,
                eval_count=len(WORDS),
                total_duration=1000,
                eval_duration=500,
                prompt_eval_duration=100,
                load_duration=0,
            )
            self.finished.append(model)
        finally:
            self.closed.set()

    def embed(
        self,
        model: str,
        texts: list[str],
        kind: Any = None,
        keep_alive: Any = None,
        truncate: bool = True,
    ) -> Any:
        self.store.resolve(model)
        if not texts:
            raise InvalidInput("nothing to embed")
        vectors = np.array([[float(len(t)), 1.0, 0.0, 2.0] for t in texts], dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

        @dataclass
        class Result:
            embeddings: np.ndarray
            prompt_tokens: int

        return Result(vectors, sum(len(t.split()) for t in texts))

    def ps(self) -> list[ProcessModel]:
        out = []
        for name in sorted(self.loaded):
            r = self.store.resolve(name)
            out.append(
                ProcessModel(
                    name=name,
                    model=name,
                    size=r.size,
                    digest=r.digest,
                    details=r.details,
                    expires_at=None,
                )
            )
        return out

    def unload(self, model: str) -> bool:
        self.store.resolve(model)
        found = model in self.loaded
        self.loaded.discard(model)
        return found

    def close(self) -> None:
        pass


@dataclass
class FakeServices:
    settings: Settings
    store: FakeStore
    engine: FakeEngine


def start_server(app: Any) -> tuple[str, Any, threading.Thread]:
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def fake_services(tmp_path: Path) -> FakeServices:
    settings = Settings().with_(home=tmp_path, host="127.0.0.1:0", max_body_bytes=64 * 1024)
    store = FakeStore(tmp_path)
    return FakeServices(settings=settings, store=store, engine=FakeEngine(store))


@pytest.fixture
def make_fake_server(fake_services: FakeServices) -> Iterator[Any]:
    """Start a real uvicorn server over fake services: make_fake_server(**settings) -> URL."""
    from hearth.server.app import create_app

    running: list[tuple[Any, threading.Thread]] = []

    def make(**changes: Any) -> str:
        if changes:
            fake_services.settings = fake_services.settings.with_(**changes)
        url, server, thread = start_server(create_app(fake_services))  # type: ignore[arg-type]
        running.append((server, thread))
        return url

    yield make
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def fake_server(make_fake_server: Any) -> str:
    return make_fake_server()  # type: ignore[no-any-return]
