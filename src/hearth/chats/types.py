"""Types of the conversation API (`/api/conversations`), shared by the store and the routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatMessage",
    "Conversation",
    "ConversationCreate",
    "ConversationList",
    "ConversationSummary",
    "ConversationUpdate",
]

MAX_TITLE = 200
MAX_MESSAGES = 10_000


class ChatMessage(BaseModel):
    """One message. `stats` keeps what the UI shows under an answer (tokens, tokens/s)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    stats: dict[str, Any] | None = None


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=MAX_TITLE)
    model: str | None = Field(default=None, max_length=300)
    system: str | None = None
    options: dict[str, Any] | None = None
    messages: list[ChatMessage] | None = Field(default=None, max_length=MAX_MESSAGES)


class ConversationCreate(_Fields):
    """Body of `POST /api/conversations`: every field is optional."""


class ConversationUpdate(_Fields):
    """Body of `PUT /api/conversations/{id}`: the fields given replace the stored ones."""


class ConversationSummary(BaseModel):
    id: str
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]


class Conversation(BaseModel):
    id: str
    title: str
    model: str
    system: str
    options: dict[str, Any]
    messages: list[ChatMessage]
    created_at: datetime
    updated_at: datetime
