"""The FastAPI application of `hearth serve`.

`create_app(services)` includes the router of each module in `hearth.server.routes`,
renders every error in one place (Ollama's `{"error": "..."}`, or OpenAI's error
object under `/v1`), and wraps the app in the HTTP safety layers: CORS allow-list,
API keys, and a request body size limit enforced while the body is read.

Regenerate the committed OpenAPI snapshot with:

    .venv/bin/python -m hearth.server.app > src/hearth/server/openapi.json
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hearth import __version__
from hearth.config import Settings
from hearth.errors import HearthError, InvalidInput, ModelNotFound
from hearth.server.routes import docs, ollama, openai, speech, tasks, ui

if TYPE_CHECKING:
    from hearth.services import Services

__all__ = ["check_bind", "create_app", "describe_validation_error", "openapi_json"]

log = logging.getLogger("hearth.server")

routers = (ollama, openai, docs, speech, tasks, ui)

# Routes anyone may call even when API keys are set (tools probe them to find a server).
PUBLIC_ROUTES = {("GET", "/"), ("HEAD", "/"), ("GET", "/api/version"), ("HEAD", "/api/version")}

# Origins allowed by default, like Ollama's: pages served from this machine and local apps.
LOCAL_ORIGINS = (
    r"https?://(localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(:\d+)?"
    r"|app://.*|file://.*|tauri://.*|vscode-webview://.*"
)

# Ollama's and OpenAI's JSON endpoints are read as JSON whatever Content-Type says (Ollama
# does; `curl -d` sends application/x-www-form-urlencoded). Only these: other routes may
# take uploads (multipart) and keep their Content-Type.
_JSON_PATHS = frozenset(
    {
        *(f"/api/{name}" for name in ("generate", "chat", "embed", "embeddings", "show", "pull")),
        *(f"/api/{name}" for name in ("create", "copy", "delete", "push")),
        "/api/collections",  # (exact paths: document uploads are multipart)
        "/api/search",
        "/api/ask",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
    }
)
# Streamed to disk and verified by digest, so exempt from the body size limit.
_UNLIMITED_PREFIXES = ("/api/blobs/",)


def create_app(services: Services) -> FastAPI:
    """Build the app around `services` (kept in `app.state.services`)."""
    app = FastAPI(title="hearth", version=__version__, docs_url=None, redoc_url=None)
    app.state.services = services

    app.add_exception_handler(HearthError, _hearth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

    for module in routers:
        app.include_router(module.router)

    settings: Settings = services.settings if services is not None else Settings()
    # Added innermost first: the body limit sees the request last, CORS first.
    app.add_middleware(_BodyGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(_ApiKeys, keys=settings.api_keys)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.origins),
        allow_origin_regex=LOCAL_ORIGINS,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    return app


# Errors -----------------------------------------------------------------------


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
}


def error_response(
    path: str, status: int, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """The error body for `path`: Ollama's shape, or OpenAI's under /v1."""
    if path.startswith("/v1/"):
        kind = _OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        body: dict[str, Any] = {
            "error": {"message": message, "type": kind, "param": param, "code": code}
        }
    else:
        body = {"error": message}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status, headers=headers or None)


_FIELD = re.compile(r"field '([^']+)'")


async def _hearth_error(request: Request, exc: Exception) -> JSONResponse:
    err = cast(HearthError, exc)
    named = _FIELD.search(err.message)  # "invalid request: field 'n': ..." names the param
    code = "model_not_found" if isinstance(err, ModelNotFound) else None
    return error_response(
        request.url.path, err.status, err.message, named.group(1) if named else None, code
    )


def describe_validation_error(errors: Sequence[Any]) -> tuple[str, str | None]:
    """One line for pydantic/FastAPI validation errors, and the first field's name."""
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = _field_path(first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "malformed JSON")
        where = f" at character {loc[0]}" if loc else ""
        return f"invalid JSON in request body{where}: {detail}", None
    field = ".".join(loc)
    msg = first.get("msg", "invalid value")
    # A union (keep_alive: str | int | float, format: "json" | schema) fails once per branch,
    # each at `field.<branch type>`: one message listing what would have been accepted.
    branches = [e for e in errors if _field_path(e.get("loc", ())) == loc]
    if len(branches) > 1 and field:
        wanted = " or ".join(dict.fromkeys(_expected(e) for e in branches))
        got = json.dumps(first.get("input"), ensure_ascii=False, default=str)[:60]
        text = f"invalid request: field {field!r}: expected {wanted}, got {got}"
        others = len(errors) - len(branches)
        return text + (f" (and {others} more)" if others else ""), field
    if kind == "missing" and not field:
        return "invalid request: the body is empty; send a JSON object", None
    if kind == "extra_forbidden":
        text = f"invalid request: unknown field {field!r}"
    elif field:
        text = f"invalid request: field {field!r}: {msg}"
    else:
        text = f"invalid request: {msg} (send a JSON object)"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text, field or None


def _field_path(loc: Sequence[Any]) -> list[str]:
    """A request field's path without pydantic's union-branch names ("str", "literal['json']")."""
    return [
        str(part)
        for part in loc
        if part != "body"
        and not (isinstance(part, str) and (part in _BRANCH_NAMES or "[" in part or "(" in part))
    ]


_BRANCH_NAMES = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "bytes"})


def _expected(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", ""))
    return msg.removeprefix("Input should be ").removeprefix("input should be ")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    message, field = describe_validation_error(cast(RequestValidationError, exc).errors())
    return error_response(request.url.path, 400, message, field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    err = cast(StarletteHTTPException, exc)
    message = str(err.detail)
    if err.status_code == 404 and message == "Not Found":
        message = f"{request.method} {request.url.path}: no such endpoint"
    elif err.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    response = error_response(request.url.path, err.status_code, message)
    if err.headers:
        response.headers.update(err.headers)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request.url.path, 500, f"internal error: {type(exc).__name__}: {exc}")


# Middleware ---------------------------------------------------------------------


async def _send_error(scope: Scope, send: Send, status: int, message: str) -> None:
    response = error_response(scope.get("path", ""), status, message)
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - JSONResponse never reads
    return {"type": "http.disconnect"}


class _ApiKeys:
    """With API keys set, every route but the public probes needs `Authorization: Bearer KEY`."""

    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or self._public(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"")
        scheme, _, token = auth.partition(b" ")
        token = token.strip()
        if scheme.lower() == b"bearer" and any(hmac.compare_digest(token, k) for k in self.keys):
            await self.app(scope, receive, send)
            return
        reason = "missing API key" if not auth else "invalid API key"
        await _send_error(
            scope,
            send,
            401,
            f"{reason}: send the header 'Authorization: Bearer KEY' with a key from HEARTH_API_KEYS",
        )

    @staticmethod
    def _public(scope: Scope) -> bool:
        method, path = scope.get("method", ""), scope.get("path", "")
        if method in {"GET", "HEAD"} and (path == "/ui" or path.startswith("/ui/")):
            return True  # the web UI's static files; the API calls it makes still need a key
        return (method, path) in PUBLIC_ROUTES


class _BodyGuard:
    """Refuse bodies over `max_body_bytes` (413) while reading them, never after.

    Also reads the JSON endpoints' bodies as JSON whatever their Content-Type says.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path in _JSON_PATHS:
            scope = self._as_json(scope)
        if path.startswith(_UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        too_large = f"request body too large: the limit is {limit} bytes (HEARTH_MAX_BODY)"
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(scope, send, 400, "invalid Content-Length header")
                    return
                if declared > limit:
                    await _send_error(scope, send, 413, too_large)
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)

    @staticmethod
    def _as_json(scope: Scope) -> Scope:
        headers = list(scope.get("headers") or [])
        kept = [(k, v) for k, v in headers if k != b"content-type"]
        original = [v for k, v in headers if k == b"content-type"]
        if original and (
            b"json" in original[0].lower() or original[0].lower().startswith(b"multipart/")
        ):
            return scope  # JSON, or an upload (/api/transcribe takes both): keep as sent
        return {**scope, "headers": [*kept, (b"content-type", b"application/json")]}


# Binding safety -----------------------------------------------------------------


def check_bind(settings: Settings) -> None:
    """Refuse to listen beyond loopback without API keys (raises InvalidInput saying why)."""
    host, port = settings.host_port
    if settings.loopback_only or settings.api_keys:
        return
    raise InvalidInput(
        f"refusing to listen on {host}:{port} without API keys: anyone who can reach this "
        "machine could use it. Set HEARTH_API_KEYS=key1,key2 (clients send 'Authorization: "
        "Bearer KEY'), or listen on 127.0.0.1"
    )


# OpenAPI snapshot -----------------------------------------------------------------


def openapi_json() -> str:
    """The app's OpenAPI schema as committed in src/hearth/server/openapi.json."""
    app = create_app(cast("Services", None))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_json())
