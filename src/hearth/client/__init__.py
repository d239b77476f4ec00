"""A small typed client of hearth's own HTTP API (Ollama's endpoints).

The CLI uses it when `hearth serve` is running, so a model is not loaded twice:

    client = find_server(settings)   # None when no hearth server answers
    if client:
        for chunk in client.chat(ChatRequest(model="smollm2:135m", messages=[...])):
            print(chunk.message.content, end="")

Errors come back as the `hearth.errors` class of the HTTP status, with the server's
one-line message; an error in the middle of a stream raises the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from hearth import errors
from hearth.api.ollama import (
    ChatRequest,
    ChatResponse,
    EmbedRequest,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    TagsResponse,
)
from hearth.config import Settings

__all__ = ["Client", "find_server"]

M = TypeVar("M", bound=BaseModel)

_BY_STATUS: dict[int, type[errors.HearthError]] = {
    400: errors.InvalidInput,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMedia,
    422: errors.CorruptModel,
    499: errors.Cancelled,
    502: errors.BadGateway,
    503: errors.Busy,
    507: errors.DiskFull,
}

PROBE_TIMEOUT = 0.5


def _error(status: int, message: str) -> errors.HearthError:
    cls = _BY_STATUS.get(status)
    if cls is None:
        err = errors.HearthError(message)
        err.status = status
        return err
    return cls(message)


class Client:
    """hearth's API over HTTP. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:11434",
        *,
        api_key: str | None = None,
        timeout: float | None = 600.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Client:
        key = settings.api_keys[0] if settings.api_keys else None
        return cls(settings.base_url, api_key=key, **kwargs)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport
    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise errors.BadGateway(f"hearth server at {self.base_url} timed out") from exc
        except httpx.TransportError as exc:
            raise errors.BadGateway(
                f"cannot reach the hearth server at {self.base_url}: {exc}; is `hearth serve` running?"
            ) from exc
        if response.status_code >= 400:
            raise _error(response.status_code, _message(response.text, response.status_code))
        return response

    def _stream(self, path: str, body: dict[str, Any], model: type[M]) -> Iterator[M]:
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    text = response.read().decode("utf-8", "replace")
                    raise _error(response.status_code, _message(text, response.status_code))
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    data = json.loads(line)
                    if "error" in data:
                        raise errors.HearthError(str(data["error"]))
                    yield model.model_validate(data)
        except httpx.TransportError as exc:
            raise errors.BadGateway(
                f"lost the connection to the hearth server at {self.base_url}: {exc}"
            ) from exc

    # ------------------------------------------------------------------ API
    def version(self) -> str:
        return str(self._send("GET", "/api/version").json()["version"])

    def tags(self) -> TagsResponse:
        """The local models (`GET /api/tags`)."""
        return TagsResponse.model_validate(self._send("GET", "/api/tags").json())

    def ps(self) -> ProcessResponse:
        """The loaded models (`GET /api/ps`)."""
        return ProcessResponse.model_validate(self._send("GET", "/api/ps").json())

    def show(self, model: str, *, verbose: bool = False) -> ShowResponse:
        body = {"model": model, "verbose": verbose}
        return ShowResponse.model_validate(self._send("POST", "/api/show", body).json())

    def chat(self, request: ChatRequest) -> Iterator[ChatResponse]:
        """Stream the answer to `request` (closing the iterator stops generation)."""
        body = request.model_dump(mode="json", exclude_none=True, by_alias=True)
        body["stream"] = True
        return self._stream("/api/chat", body, ChatResponse)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateResponse]:
        body = request.model_dump(mode="json", exclude_none=True, by_alias=True)
        body["stream"] = True
        return self._stream("/api/generate", body, GenerateResponse)

    def embed(self, model: str, texts: str | list[str]) -> EmbedResponse:
        body = EmbedRequest(model=model, input=texts).model_dump(exclude_none=True)
        return EmbedResponse.model_validate(self._send("POST", "/api/embed", body).json())

    def load(self, model: str, keep_alive: str | int | float | None = None) -> None:
        """Load `model` into memory (Ollama's empty generate request)."""
        body: dict[str, Any] = {"model": model, "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        self._send("POST", "/api/generate", body)

    def stop(self, model: str) -> None:
        """Unload `model` now (Ollama's empty request with keep_alive 0)."""
        self._send("POST", "/api/generate", {"model": model, "keep_alive": 0, "stream": False})

    def pull(self, model: str) -> Iterator[ProgressResponse]:
        return self._stream("/api/pull", {"model": model, "stream": True}, ProgressResponse)

    def create(self, model: str, modelfile: str) -> Iterator[ProgressResponse]:
        body = {"model": model, "modelfile": modelfile, "stream": True}
        return self._stream("/api/create", body, ProgressResponse)

    def copy(self, source: str, destination: str) -> None:
        self._send("POST", "/api/copy", {"source": source, "destination": destination})

    def delete(self, model: str) -> None:
        self._send("DELETE", "/api/delete", {"model": model})


def _message(text: str, status: int) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip() or f"HTTP {status}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # OpenAI's shape
        error = error.get("message")
    return str(error or text.strip() or f"HTTP {status}")


def find_server(settings: Settings, timeout: float = PROBE_TIMEOUT) -> Client | None:
    """A client of the hearth server at `settings.host`, or None if none answers.

    Probes `GET /api/version` with a short timeout and checks that the server is
    hearth (an Ollama listening on the same port is not used).
    """
    probe = Client.from_settings(settings, timeout=timeout)
    try:
        response = probe._http.get("/api/version")
        is_hearth = response.status_code == 200 and "x-hearth-version" in response.headers
    except httpx.HTTPError:
        is_hearth = False
    if not is_hearth:
        probe.close()
        return None
    probe._http.timeout = httpx.Timeout(600.0)
    return probe
