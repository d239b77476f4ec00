"""Saved conversations of the web UI: a small SQLite store under `settings.data_dir`."""

from hearth.chats.store import ChatStore
from hearth.chats.types import (
    ChatMessage,
    Conversation,
    ConversationCreate,
    ConversationList,
    ConversationSummary,
    ConversationUpdate,
)

__all__ = [
    "ChatMessage",
    "ChatStore",
    "Conversation",
    "ConversationCreate",
    "ConversationList",
    "ConversationSummary",
    "ConversationUpdate",
]
