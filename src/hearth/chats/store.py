"""`ChatStore`: conversations in one SQLite file; every write is one transaction.

A conversation is a row of `conversations`; its messages are rows of `messages`
(position-ordered). Replacing the messages deletes and re-inserts them inside the
same transaction, so a crash leaves either the old conversation or the new one.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hearth.chats.types import (
    ChatMessage,
    Conversation,
    ConversationCreate,
    ConversationSummary,
    ConversationUpdate,
)
from hearth.errors import Busy, DiskFull, HearthError, InvalidInput, NotFound

__all__ = ["ChatStore"]

_ID = re.compile(r"^[0-9a-f]{32}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    model TEXT NOT NULL,
    system TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    stats TEXT,
    PRIMARY KEY (conversation_id, position)
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated_at);
"""
DEFAULT_TITLE = "New chat"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(
        f"conversation {conversation_id!r} not found: list them with GET /api/conversations"
    )


def _check_id(conversation_id: str) -> str:
    if not _ID.match(conversation_id):
        raise _not_found(conversation_id)
    return conversation_id


def _title(title: str | None, messages: list[ChatMessage] | None) -> str:
    """The title given, else the start of the first user message, else "New chat"."""
    if title and title.strip():
        return title.strip()
    for message in messages or []:
        if message.role == "user" and message.content.strip():
            words = " ".join(message.content.split())
            return words if len(words) <= 60 else words[:59].rstrip() + "…"
    return DEFAULT_TITLE


class ChatStore:
    """Conversations in the SQLite file at `path` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self, doing: str = "read the conversations") -> Iterator[sqlite3.Connection]:
        """A short-lived connection (safe from FastAPI's thread pool). SQLite errors become
        HearthErrors, raised once, here."""
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            try:
                db.execute("PRAGMA foreign_keys = ON")
                db.execute("PRAGMA journal_mode = WAL")
                db.row_factory = sqlite3.Row
                yield db
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, doing) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: on any error it rolls back, leaving the old state."""
        with self._connect("save the conversation") as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # Reading -------------------------------------------------------------------

    def list(self) -> list[ConversationSummary]:
        """Every conversation, the most recently updated first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.model, c.created_at, c.updated_at,"
                " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
                " FROM conversations c ORDER BY c.updated_at DESC, c.rowid DESC"
            ).fetchall()
        return [
            ConversationSummary(
                id=row["id"],
                title=row["title"],
                model=row["model"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                message_count=row["n"],
            )
            for row in rows
        ]

    def get(self, conversation_id: str) -> Conversation:
        _check_id(conversation_id)
        with self._connect() as db:
            return self._read(db, conversation_id)

    def _read(self, db: sqlite3.Connection, conversation_id: str) -> Conversation:
        row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise _not_found(conversation_id)
        messages = [
            ChatMessage(
                role=m["role"],
                content=m["content"],
                stats=json.loads(m["stats"]) if m["stats"] else None,
            )
            for m in db.execute(
                "SELECT role, content, stats FROM messages WHERE conversation_id = ?"
                " ORDER BY position",
                (conversation_id,),
            )
        ]
        return Conversation(
            id=row["id"],
            title=row["title"],
            model=row["model"],
            system=row["system"],
            options=json.loads(row["options"]),
            messages=messages,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    # Writing -------------------------------------------------------------------

    def create(self, body: ConversationCreate | None = None) -> Conversation:
        body = body or ConversationCreate()
        conversation_id = uuid.uuid4().hex
        now = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, title, model, system, options, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    _title(body.title, body.messages),
                    body.model or "",
                    body.system or "",
                    _options_json(body.options),
                    now,
                    now,
                ),
            )
            self._write_messages(db, conversation_id, body.messages or [])
            return self._read(db, conversation_id)

    def update(self, conversation_id: str, body: ConversationUpdate) -> Conversation:
        """Replace the fields given in `body` (those left out keep their stored values)."""
        _check_id(conversation_id)
        given = body.model_fields_set
        with self._transaction() as db:
            current = self._read(db, conversation_id)
            messages = body.messages if "messages" in given and body.messages is not None else None
            if "title" in given:
                title = _title(body.title, messages if messages is not None else current.messages)
            elif current.title == DEFAULT_TITLE and messages:
                title = _title(None, messages)
            else:
                title = current.title
            db.execute(
                "UPDATE conversations SET title = ?, model = ?, system = ?, options = ?,"
                " updated_at = ? WHERE id = ?",
                (
                    title,
                    body.model if "model" in given and body.model is not None else current.model,
                    body.system
                    if "system" in given and body.system is not None
                    else current.system,
                    _options_json(body.options)
                    if "options" in given
                    else _options_json(current.options),
                    _now(),
                    conversation_id,
                ),
            )
            if messages is not None:
                db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                self._write_messages(db, conversation_id, messages)
            return self._read(db, conversation_id)

    def delete(self, conversation_id: str) -> None:
        _check_id(conversation_id)
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if deleted.rowcount == 0:
                raise _not_found(conversation_id)

    @staticmethod
    def _write_messages(
        db: sqlite3.Connection, conversation_id: str, messages: Sequence[ChatMessage]
    ) -> None:
        db.executemany(
            "INSERT INTO messages (conversation_id, position, role, content, stats)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    conversation_id,
                    position,
                    message.role,
                    message.content,
                    json.dumps(message.stats) if message.stats is not None else None,
                )
                for position, message in enumerate(messages)
            ],
        )


def _translate(exc: sqlite3.Error, path: Path, doing: str) -> HearthError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return Busy(f"could not {doing}: the conversation store {path} is busy; try again")
    if "full" in text:
        return DiskFull(f"could not {doing}: the disk holding {path} is full")
    return HearthError(
        f"could not {doing} in {path}: {text}; if the file is damaged, move it aside"
    )


def _options_json(options: dict[str, Any] | None) -> str:
    try:
        return json.dumps(options or {}, allow_nan=False)
    except ValueError as exc:
        raise InvalidInput(f"invalid options: {exc}; send finite numbers") from exc
