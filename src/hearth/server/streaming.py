"""Consume the services' blocking iterators from the event loop.

The engine and the store hand out plain iterators (`engine.chat`, `store.pull`) that
block while they work. `Pump` advances one in a worker thread per item, so the event
loop never blocks; it always closes the iterator (which stops generation) when the
response ends, the client disconnects, or an error occurs.

`stream_response` turns a pump into an HTTP response (NDJSON or SSE) whose last line is
an error object when the iterator fails mid-stream; `collect` gathers every item for a
non-streamed answer, giving up as soon as the client goes away.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hearth.errors import HearthError

__all__ = ["Pump", "collect", "open_pump", "stream_response"]

log = logging.getLogger("hearth.server")

T = TypeVar("T")
_END: Any = object()


class Pump(Generic[T]):
    """A blocking iterator, advanced in a worker thread one item at a time.

    Each pump has its own one-thread limiter: a request waiting for a busy model holds a
    thread while it waits, and must not take one of the shared pool's (40), or enough
    waiting requests would stall every other endpoint. The engine's queue bound
    (HEARTH_MAX_QUEUE) bounds these threads.
    """

    def __init__(self, iterator: Iterator[T], limiter: anyio.CapacityLimiter) -> None:
        self._iterator = iterator
        self._limiter = limiter
        self._closed = False

    async def next(self) -> T | None:
        """The next item, or None at the end."""
        if self._closed:
            return None
        item = await anyio.to_thread.run_sync(next, self._iterator, _END, limiter=self._limiter)
        if item is _END:
            await self.aclose()
            return None
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the iterator (a generator's `close()` stops the work behind it)."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterator, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close, limiter=self._limiter)


async def open_pump(make: Callable[[], Iterable[T]]) -> tuple[T | None, Pump[T]]:
    """Start an iterator and fetch its first item in a worker thread.

    Errors before the first item (unknown model, bad input, a full queue) propagate,
    so the route answers them with the right HTTP status rather than a 200 stream.
    """

    def start() -> Iterator[T]:
        return iter(make())

    limiter = anyio.CapacityLimiter(1)
    pump: Pump[T] = Pump(await anyio.to_thread.run_sync(start, limiter=limiter), limiter)
    try:
        first = await pump.next()
    except BaseException:
        await pump.aclose()
        raise
    return first, pump


async def _until_disconnect(receive: Receive, scope: anyio.CancelScope, flag: list[bool]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            flag.append(True)
            scope.cancel()
            return


async def collect(request: Request, first: T | None, pump: Pump[T]) -> list[T] | None:
    """Every item of `pump` (starting with `first`); None if the client went away."""
    items: list[T] = [] if first is None else [first]
    gone: list[bool] = []
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_until_disconnect, request.receive, group.cancel_scope, gone)
        try:
            if first is not None:
                while (item := await pump.next()) is not None:
                    items.append(item)
        except Exception as exc:  # re-raised below, unwrapped from the task group
            failure = exc
        finally:
            await pump.aclose()
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return None if gone else items


class _Stream(Response):
    def __init__(
        self,
        first: Any,
        pump: Pump[Any],
        encode: Callable[[Any], bytes],
        encode_error: Callable[[HearthError], bytes],
        trailer: bytes,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)  # no body yet: no Content-Length
        self._first = first
        self._pump = pump
        self._encode = encode
        self._encode_error = encode_error
        self._trailer = trailer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        gone: list[bool] = []
        finished = False  # the iterator ran to its end (a client leaving after it is no news)
        tail = self._trailer
        async with anyio.create_task_group() as group:
            group.start_soon(_until_disconnect, receive, group.cancel_scope, gone)
            try:
                item = self._first
                while item is not None:
                    body = self._encode(item)
                    if body:
                        await send({"type": "http.response.body", "body": body, "more_body": True})
                    item = await self._pump.next()
                finished = True
            except HearthError as exc:
                tail = self._encode_error(exc)
            except Exception as exc:  # a bug: report it on the stream, keep the server up
                log.exception("stream failed")
                tail = self._encode_error(HearthError(f"internal error: {exc}"))
            finally:
                await self._pump.aclose()
            if tail:
                await send({"type": "http.response.body", "body": tail, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()
        if gone and not finished:
            log.info("client disconnected; generation stopped")


def stream_response(
    first: Any,
    pump: Pump[Any],
    encode: Callable[[Any], bytes],
    encode_error: Callable[[HearthError], bytes],
    *,
    media_type: str,
    trailer: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Response:
    """A streamed response: `encode(item)` per item, then `trailer`, or an error tail."""
    return _Stream(first, pump, encode, encode_error, trailer, media_type, headers)
