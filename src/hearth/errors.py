"""The exception hierarchy of hearth.

Every error hearth raises on purpose is a `HearthError`. Each class knows its HTTP
status, so the server maps it to a response in one place and the CLI prints its
message in one place. Third-party exceptions are translated once, where they are
caught, with `raise SomeHearthError(...) from exc`.
"""

from __future__ import annotations

__all__ = [
    "BadGateway",
    "Busy",
    "Cancelled",
    "Conflict",
    "ContextOverflow",
    "CorruptModel",
    "DiskFull",
    "DownloadError",
    "Forbidden",
    "HearthError",
    "InvalidInput",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "UnsupportedMedia",
]


class HearthError(Exception):
    """Base class. `message` is one line saying what went wrong and what to do."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(HearthError):
    """The request or the command's arguments are wrong."""

    status = 400


class ContextOverflow(InvalidInput):
    """A prompt does not fit the model's context window."""


class Unauthorized(HearthError):
    status = 401


class Forbidden(HearthError):
    status = 403


class NotFound(HearthError):
    status = 404


class ModelNotFound(NotFound):
    """A model name that is not in the local store."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(
            message or f"model {name!r} not found, try pulling it first: hearth pull {name}"
        )
        self.name = name


class Conflict(HearthError):
    status = 409


class PayloadTooLarge(HearthError):
    status = 413


class UnsupportedMedia(HearthError):
    """A file whose type or content hearth cannot read."""

    status = 415


class CorruptModel(HearthError):
    """A model file that is not a valid GGUF (truncated, wrong magic, bad digest)."""

    status = 422


class Cancelled(HearthError):
    """The client went away or the user pressed Ctrl-C."""

    status = 499


class BadGateway(HearthError):
    """A remote server (registry, backend, web page) failed."""

    status = 502


class DownloadError(BadGateway):
    """A download failed or its content did not match its digest."""


class Busy(HearthError):
    """The server's queue is full; retry later."""

    status = 503


class DiskFull(HearthError):
    status = 507
