"""The conversation store (real SQLite in tmp_path) and its HTTP API."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hearth.chats import ChatMessage, ChatStore, ConversationCreate, ConversationUpdate
from hearth.errors import HearthError, InvalidInput, NotFound


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "data" / "chats.sqlite")


def test_create_list_update_delete(store: ChatStore) -> None:
    first = store.create(ConversationCreate(model="smollm2:135m"))
    assert first.title == "New chat" and first.messages == []
    second = store.create(
        ConversationCreate(
            system="be brief",
            options={"temperature": 0.2, "seed": 7},
            messages=[
                ChatMessage(role="user", content="  What is   the capital of France? " * 3),
                ChatMessage(role="assistant", content="Paris.", stats={"eval_count": 3}),
            ],
        )
    )
    # The title is the start of the first question, whitespace folded, cut with an ellipsis.
    assert second.title.startswith("What is the capital of France?") and second.title.endswith("…")
    assert len(second.title) == 60
    assert [c.id for c in store.list()] == [second.id, first.id]
    assert store.list()[0].message_count == 2

    updated = store.update(
        first.id, ConversationUpdate(messages=[ChatMessage(role="user", content="Hi")])
    )
    assert updated.title == "Hi" and updated.model == "smollm2:135m"  # model kept
    assert [c.id for c in store.list()] == [first.id, second.id]  # most recent first

    again = store.get(second.id)
    assert again.options == {"temperature": 0.2, "seed": 7}
    assert again.messages[1].stats == {"eval_count": 3}
    assert again.system == "be brief"

    store.delete(second.id)
    with pytest.raises(NotFound, match="not found"):
        store.get(second.id)
    with pytest.raises(NotFound):
        store.delete(second.id)
    # Messages went with their conversation.
    with sqlite3.connect(store.path) as db:
        assert (
            db.execute(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (second.id,)
            ).fetchone()[0]
            == 0
        )


def test_explicit_title_wins_and_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite"
    created = ChatStore(path).create(
        ConversationCreate(
            title="Trip 旅行", messages=[ChatMessage(role="user", content="繁體中文")]
        )
    )
    reopened = ChatStore(path).get(created.id)
    assert reopened.title == "Trip 旅行" and reopened.messages[0].content == "繁體中文"


def test_failed_update_leaves_the_previous_state(store: ChatStore) -> None:
    created = store.create(
        ConversationCreate(messages=[ChatMessage(role="user", content="keep me")])
    )
    with pytest.raises(InvalidInput, match="options"):
        store.update(
            created.id,
            ConversationUpdate(
                messages=[ChatMessage(role="user", content="replaced")],
                options={"temperature": float("nan")},
            ),
        )
    assert store.get(created.id).messages[0].content == "keep me"


def test_a_write_failing_midway_rolls_back_whole(store: ChatStore) -> None:
    created = store.create(
        ConversationCreate(title="kept", messages=[ChatMessage(role="user", content="old")])
    )
    # Make the third message insert fail, after the old messages were deleted.
    with sqlite3.connect(store.path) as db:
        db.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON messages WHEN NEW.content = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )
    with pytest.raises(HearthError, match=r"could not save the conversation.*disk trouble"):
        store.update(
            created.id,
            ConversationUpdate(
                title="changed",
                messages=[
                    ChatMessage(role="user", content="new"),
                    ChatMessage(role="assistant", content="fine"),
                    ChatMessage(role="user", content="boom"),
                ],
            ),
        )
    again = store.get(created.id)
    assert again.title == "kept" and [m.content for m in again.messages] == ["old"]


@pytest.mark.parametrize("bad", ["", "../etc", "x" * 32, "DROP TABLE"])
def test_unknown_or_malformed_ids_are_not_found(store: ChatStore, bad: str) -> None:
    with pytest.raises(NotFound, match="GET /api/conversations"):
        store.get(bad)


# HTTP -------------------------------------------------------------------------------


@pytest.fixture
def client(services: Any) -> Iterator[TestClient]:
    from hearth.server.app import create_app

    with TestClient(create_app(services)) as test_client:
        yield test_client


def test_conversation_api_round_trip(client: TestClient, services: Any) -> None:
    assert client.get("/api/conversations").json() == {"conversations": []}
    made = client.post(
        "/api/conversations",
        json={"model": "smollm2:135m", "messages": [{"role": "user", "content": "Hello"}]},
    )
    assert made.status_code == 201
    cid = made.json()["id"]
    put = client.put(
        f"/api/conversations/{cid}",
        json={
            "options": {"temperature": 0},
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi!", "stats": {"eval_count": 2}},
            ],
        },
    )
    assert put.status_code == 200 and put.json()["title"] == "Hello"
    got = client.get(f"/api/conversations/{cid}").json()
    assert got["options"] == {"temperature": 0} and got["messages"][1]["content"] == "Hi!"
    listed = client.get("/api/conversations").json()["conversations"]
    assert [(c["id"], c["message_count"]) for c in listed] == [(cid, 2)]
    # The file lives under HEARTH_HOME/data.
    assert (services.settings.data_dir / "chats.sqlite").is_file()
    assert client.delete(f"/api/conversations/{cid}").json() == {"id": cid, "deleted": True}
    assert client.get(f"/api/conversations/{cid}").status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"bogus": 1}, "unknown field 'bogus'"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"title": "t" * 201}, "title"),
        ({"options": "hot"}, "options"),
    ],
)
def test_bad_bodies_are_clear_400s(client: TestClient, body: dict[str, Any], needle: str) -> None:
    response = client.post("/api/conversations", json=body)
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert client.get("/api/conversations").json() == {"conversations": []}  # nothing half-made


def test_missing_conversation_is_404_with_ollama_error_shape(client: TestClient) -> None:
    response = client.put("/api/conversations/" + "0" * 32, json={"title": "x"})
    assert response.status_code == 404
    assert "not found" in response.json()["error"]


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HearthError, match="move it aside"):
        ChatStore(path)
