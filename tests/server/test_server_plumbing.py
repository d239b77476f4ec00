"""HTTP plumbing over a scripted fake engine: shapes, streaming, errors, limits, auth."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from hearth.config import Settings
from hearth.errors import InvalidInput
from hearth.server.app import check_bind


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_version_and_lists(fake_server: str) -> None:
    r = httpx.get(f"{fake_server}/api/version")
    assert r.status_code == 200 and r.json() == {"version": r.headers["x-hearth-version"]}
    tags = httpx.get(f"{fake_server}/api/tags").json()["models"]
    assert {m["name"] for m in tags} >= {"fake:1b", "e5:small"}
    row = next(m for m in tags if m["name"] == "fake:1b")
    assert row["digest"] == "ab" * 32 and row["details"]["family"] == "fake"
    assert httpx.get(f"{fake_server}/api/ps").json() == {"models": []}
    models = httpx.get(f"{fake_server}/v1/models").json()
    assert models["object"] == "list" and "fake:1b" in {m["id"] for m in models["data"]}
    assert httpx.get(f"{fake_server}/v1/models/fake:1b").json()["id"] == "fake:1b"


def test_chat_streams_ndjson_and_collects(fake_server: str) -> None:
    body = {"model": "fake:1b", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{fake_server}/api/chat", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = _lines(r)
    assert "".join(line["message"]["content"] for line in lines) == "Hello from the fake engine."
    assert [line["done"] for line in lines] == [False] * 6 + [True]
    assert lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] == 6
    assert "done_reason" not in lines[0]  # omitted when null, as Ollama does

    one = httpx.post(f"{fake_server}/api/chat", json={**body, "stream": False}).json()
    assert one["message"] == {"role": "assistant", "content": "Hello from the fake engine."}
    assert one["done"] is True and one["prompt_eval_count"] == 7


def test_generate_stream_false_and_nulls_accepted(fake_server: str) -> None:
    # LangChain sends nulls for everything it does not set.
    body = {
        "model": "fake:1b",
        "prompt": "hi",
        "stream": False,
        "system": None,
        "template": None,
        "format": None,
        "keep_alive": None,
        "raw": None,
        "images": None,
        "options": {"temperature": None, "stop": None, "num_ctx": None},
    }
    r = httpx.post(f"{fake_server}/api/generate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["response"] == "Hello from the fake engine."


def test_curl_form_content_type_is_read_as_json(fake_server: str) -> None:
    # `curl -d '{...}'` sends application/x-www-form-urlencoded; Ollama reads JSON anyway.
    r = httpx.post(
        f"{fake_server}/api/generate",
        content=json.dumps({"model": "fake:1b", "prompt": "hi", "stream": False}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and r.json()["done"] is True


def test_load_and_unload_with_empty_prompt(fake_server: str) -> None:
    r = httpx.post(f"{fake_server}/api/generate", json={"model": "fake:1b"})
    assert _lines(r)[-1]["done_reason"] == "load"
    assert [m["name"] for m in httpx.get(f"{fake_server}/api/ps").json()["models"]] == ["fake:1b"]
    r = httpx.post(
        f"{fake_server}/api/chat", json={"model": "fake:1b", "keep_alive": 0, "stream": False}
    )
    assert r.json()["done_reason"] == "unload"
    assert httpx.get(f"{fake_server}/api/ps").json() == {"models": []}


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/chat", b'{"model": "fake:1b", "messages": [', "invalid JSON in request body"),
        ("/api/chat", b"", "the body is empty"),
        ("/api/chat", b"[1, 2]", "send a JSON object"),
        (
            "/api/chat",
            b'{"model": "fake:1b", "messages": [{"role": "robot", "content": "x"}]}',
            "field 'messages.0.role'",
        ),
        ("/api/chat", b'{"model": "fake:1b", "messages": "hello"}', "field 'messages'"),
        (
            "/api/generate",
            b'{"model": "fake:1b", "prompt": "x", "temprature": 1}',
            "unknown field 'temprature'",
        ),
        ("/api/generate", b'{"model": "fake:1b", "prompt": 5}', "field 'prompt'"),
        ("/api/generate", b'{"model": "", "prompt": "x"}', "field 'model'"),
        ("/api/generate", b'{"model": "fake:1b", "prompt": "overflow"}', "context is 2048 tokens"),
        ("/api/embed", b'{"model": "e5:small", "input": [1, 2]}', "field 'input"),
        (
            "/api/generate",
            b'{"model": "fake:1b", "prompt": "x", "options": {"temperature": -1}}',
            "field 'options.temperature'",
        ),
    ],
)
def test_bad_input_is_a_one_line_400(
    fake_server: str, path: str, body: bytes, expected: str
) -> None:
    r = httpx.post(
        f"{fake_server}{path}", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert isinstance(error, str) and "\n" not in error
    assert expected in error


def test_openai_bad_input_uses_openai_error_shape(fake_server: str) -> None:
    r = httpx.post(f"{fake_server}/v1/chat/completions", json={"model": "fake:1b", "messages": []})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and "messages" in error["message"]
    r = httpx.post(f"{fake_server}/v1/chat/completions", content=b"{nope")
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    nonsense = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    for extra, param, message in (
        ({"n": "two"}, "n", ""),
        ({"max_tokens": 0}, "max_tokens", ""),
        ({"n": 2}, "n", ""),
        ({"stream_options": {"include_usage": True}}, "stream_options", ""),
        ({"modalities": ["text", "audio"]}, "modalities", ""),
        ({"logit_bias": {"abc": 1}}, "logit_bias", "'abc' is not a token id"),
        ({"logit_bias": {"²": 1}}, "logit_bias", "'²' is not a token id"),
        ({"logit_bias": {"5": 500}}, "logit_bias", "between -100"),
        ({"response_format": nonsense}, None, "not a valid JSON schema"),
    ):
        r = httpx.post(
            f"{fake_server}/v1/chat/completions",
            json={"model": "fake:1b", "messages": [{"role": "user", "content": "x"}], **extra},
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert message in error["message"], r.text
        if param is not None:
            assert error["param"] == param, r.text
    r = httpx.post(f"{fake_server}/v1/embeddings", json={"model": "e5:small", "input": [[1, 2, 3]]})
    assert r.status_code == 400 and "token arrays" in r.json()["error"]["message"]


def test_unknown_model_is_404_with_pull_hint_in_both_apis(fake_server: str) -> None:
    r = httpx.post(
        f"{fake_server}/api/chat",
        json={"model": "nope:7b", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 404 and "hearth pull nope:7b" in r.json()["error"]
    r = httpx.post(
        f"{fake_server}/v1/chat/completions",
        json={"model": "nope:7b", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert r.status_code == 404
    assert (
        r.json()["error"]["type"] == "not_found_error"
        and "hearth pull" in r.json()["error"]["message"]
        and r.json()["error"]["code"] == "model_not_found"
    )
    assert httpx.get(f"{fake_server}/v1/models/nope:7b").status_code == 404
    assert httpx.post(f"{fake_server}/api/show", json={"model": "nope:7b"}).status_code == 404
    r = httpx.get(f"{fake_server}/api/nothing-here")
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]


def test_error_mid_stream_is_a_final_error_line(fake_server: str) -> None:
    r = httpx.post(
        f"{fake_server}/api/chat",
        json={"model": "broken:1b", "messages": [{"role": "user", "content": "x"}]},
    )
    lines = _lines(r)
    assert r.status_code == 200 and lines[0]["message"]["content"] == "Hello"
    assert lines[-1] == {"error": "the model crashed: out of memory"}
    r = httpx.post(
        f"{fake_server}/v1/chat/completions",
        json={"model": "broken:1b", "messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    events = [e for e in r.text.split("\n\n") if e]
    assert (
        json.loads(events[-1].removeprefix("data: "))["error"]["message"]
        == "the model crashed: out of memory"
    )
    assert "data: [DONE]" not in r.text


def test_body_limit_413_while_reading(fake_server: str) -> None:
    big = b'{"model": "fake:1b", "prompt": "' + b"x" * 100_000 + b'"}'
    r = httpx.post(f"{fake_server}/api/generate", content=big)
    assert r.status_code == 413 and "HEARTH_MAX_BODY" in r.json()["error"]

    def chunks() -> Any:  # no Content-Length: the limit must trip while reading
        for _ in range(200):
            yield b"x" * 1000

    r = httpx.post(f"{fake_server}/api/generate", content=chunks())
    assert r.status_code == 413
    r = httpx.post(f"{fake_server}/v1/chat/completions", content=big)
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    assert httpx.get(f"{fake_server}/api/version").status_code == 200  # still alive


def test_disconnect_mid_stream_stops_generation(fake_server: str, fake_services: Any) -> None:
    engine = fake_services.engine
    with httpx.stream(
        "POST", f"{fake_server}/api/generate", json={"model": "slow:1b", "prompt": "go"}
    ) as r:
        lines = r.iter_lines()
        assert json.loads(next(lines))["response"] == "tick "
        assert json.loads(next(lines))["response"] == "tick "
    # The client hung up: the server must close the engine's iterator (which stops generation).
    assert engine.closed.wait(timeout=10)
    r = httpx.post(
        f"{fake_server}/api/generate",
        json={"model": "fake:1b", "prompt": "hi", "stream": False},
        timeout=10,
    )
    assert r.json()["done"] is True


def test_disconnect_during_non_streamed_request_stops_generation(
    fake_server: str, fake_services: Any
) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{fake_server}/api/generate",
            json={"model": "slow:1b", "prompt": "go", "stream": False},
            timeout=0.5,
        )
    assert fake_services.engine.closed.wait(timeout=10)


def test_openai_stream_events(fake_server: str) -> None:
    r = httpx.post(
        f"{fake_server}/v1/chat/completions",
        json={
            "model": "fake:1b",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "hi"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 5,
            "stop": "END",
            "seed": 1,
        },
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [e.removeprefix("data: ") for e in r.text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from the fake engine."
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 13
    assert len({c["id"] for c in chunks}) == 1


def test_openai_request_reaches_engine_converted(fake_server: str, fake_services: Any) -> None:
    r = httpx.post(
        f"{fake_server}/v1/chat/completions",
        json={
            "model": "fake:1b",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "weather "},
                        {"type": "text", "text": "in Paris?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "max_completion_tokens": 9,
            "temperature": 0,
            "stop": ["a", "b"],
            "response_format": {"type": "json_object"},
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "weather", "parameters": {"type": "object"}},
                }
            ],
        },
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["object"] == "chat.completion" and answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13}
    req = fake_services.engine.requests[-1]
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool"]
    assert req.messages[1].content == "weather in Paris?"
    assert req.messages[2].tool_calls[0].function.arguments == {"city": "Paris"}
    assert req.messages[3].tool_name == "weather"
    assert req.options.num_predict == 9 and req.options.stop == ["a", "b"] and req.format == "json"
    assert req.tools[0].function.name == "weather"


def test_openai_completions_and_embeddings(fake_server: str) -> None:
    r = httpx.post(
        f"{fake_server}/v1/completions", json={"model": "fake:1b", "prompt": "Once", "echo": True}
    )
    assert r.json()["choices"][0]["text"] == "OnceHello from the fake engine."
    r = httpx.post(
        f"{fake_server}/v1/completions", json={"model": "fake:1b", "prompt": "x", "stream": True}
    )
    assert r.text.endswith("data: [DONE]\n\n")
    import base64

    import numpy as np

    floats = httpx.post(
        f"{fake_server}/v1/embeddings", json={"model": "e5:small", "input": ["a", "bb"]}
    ).json()
    b64 = httpx.post(
        f"{fake_server}/v1/embeddings",
        json={"model": "e5:small", "input": ["a", "bb"], "encoding_format": "base64"},
    ).json()
    for f, b in zip(floats["data"], b64["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), dtype="<f4")
        assert np.allclose(decoded, f["embedding"])
    assert floats["usage"]["prompt_tokens"] == 2


def test_ollama_embed_and_dimensions(fake_server: str) -> None:
    r = httpx.post(
        f"{fake_server}/api/embed",
        json={"model": "e5:small", "input": ["a", "bb"], "dimensions": 2},
    )
    vectors = r.json()["embeddings"]
    assert len(vectors) == 2 and len(vectors[0]) == 2
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-5
    assert (
        httpx.post(
            f"{fake_server}/api/embed", json={"model": "e5:small", "input": "a", "dimensions": 99}
        ).status_code
        == 400
    )
    assert (
        httpx.post(f"{fake_server}/api/embed", json={"model": "e5:small", "input": []}).json()[
            "embeddings"
        ]
        == []
    )
    one = httpx.post(
        f"{fake_server}/api/embeddings", json={"model": "e5:small", "prompt": "a"}
    ).json()
    assert len(one["embedding"]) == 4


def test_pull_streams_progress_and_errors(fake_server: str) -> None:
    lines = _lines(httpx.post(f"{fake_server}/api/pull", json={"model": "x:1"}))
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    assert httpx.post(f"{fake_server}/api/pull", json={"model": "x:1", "stream": False}).json() == {
        "status": "success"
    }
    lines = _lines(httpx.post(f"{fake_server}/api/pull", json={"model": "fails-midway"}))
    assert "download failed" in lines[-1]["error"]
    r = httpx.post(f"{fake_server}/api/pull", json={"model": "fails-midway", "stream": False})
    assert r.status_code == 502 and "download failed" in r.json()["error"]
    r = httpx.post(
        f"{fake_server}/api/chat",
        json={
            "model": "broken:1b",
            "messages": [{"role": "user", "content": "x"}],
            "stream": False,
        },
    )
    assert r.status_code == 500 and r.json() == {"error": "the model crashed: out of memory"}
    assert httpx.post(f"{fake_server}/api/pull", json={"model": "nowhere"}).status_code == 404


def test_copy_delete_and_blobs(fake_server: str) -> None:
    assert (
        httpx.post(
            f"{fake_server}/api/copy", json={"source": "fake:1b", "destination": "mine:1"}
        ).status_code
        == 200
    )
    assert "mine:1" in {m["name"] for m in httpx.get(f"{fake_server}/api/tags").json()["models"]}
    assert (
        httpx.request("DELETE", f"{fake_server}/api/delete", json={"model": "mine:1"}).status_code
        == 200
    )
    assert (
        httpx.request("DELETE", f"{fake_server}/api/delete", json={"model": "mine:1"}).status_code
        == 404
    )
    import hashlib

    data = b"GGUF" + b"\0" * 200_000  # bigger than the body limit: blobs stream to disk
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.head(f"{fake_server}/api/blobs/{digest}").status_code == 404
    assert httpx.post(f"{fake_server}/api/blobs/{digest}", content=data).status_code == 201
    assert httpx.head(f"{fake_server}/api/blobs/{digest}").status_code == 200
    assert httpx.head(f"{fake_server}/api/blobs/sha256:zz").status_code == 400


def test_api_keys_required_when_set(make_fake_server: Any) -> None:
    url = make_fake_server(api_keys=("s3cret",))
    assert httpx.get(f"{url}/api/version").status_code == 200
    r = httpx.get(f"{url}/api/tags")
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]
    r = httpx.post(f"{url}/v1/chat/completions", json={})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert (
        httpx.get(f"{url}/api/tags", headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    assert (
        httpx.get(f"{url}/api/tags", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    )
    # The UI's static files are public (no data in them); what they call is not.
    assert httpx.get(f"{url}/ui/no-such-file.js").status_code != 401
    assert httpx.get(f"{url}/api/conversations").status_code == 401


def test_cors_allows_local_origins_and_the_setting(make_fake_server: Any) -> None:
    url = make_fake_server(origins=("https://notes.example",))
    preflight = {"Access-Control-Request-Method": "POST"}
    for origin, allowed in [
        ("http://localhost:3000", True),
        ("http://127.0.0.1:8080", True),
        ("https://notes.example", True),
        ("https://evil.example", False),
    ]:
        r = httpx.options(f"{url}/api/chat", headers={"Origin": origin, **preflight})
        assert (r.headers.get("access-control-allow-origin") == origin) is allowed, origin


def test_check_bind_refuses_public_address_without_keys() -> None:
    check_bind(Settings().with_(host="127.0.0.1:11434"))
    check_bind(Settings().with_(host="[::1]:8080"))
    check_bind(Settings().with_(host="localhost"))
    with pytest.raises(InvalidInput, match="HEARTH_API_KEYS"):
        check_bind(Settings().with_(host="0.0.0.0:11434"))
    with pytest.raises(InvalidInput, match="without API keys"):
        check_bind(Settings().with_(host="192.168.1.5"))
    check_bind(Settings().with_(host="0.0.0.0", api_keys=("k",)))


def test_server_survives_garbage(fake_server: str) -> None:
    host, port = fake_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        time.sleep(0.05)
    assert httpx.get(f"{fake_server}/api/version").status_code == 200


def test_tool_calls_in_both_apis(fake_server: str) -> None:
    tools = [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    body = {
        "model": "tools:1b",
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": tools,
    }
    ollama = httpx.post(f"{fake_server}/api/chat", json={**body, "stream": False}).json()
    assert "message" in ollama, ollama
    assert ollama["message"]["tool_calls"] == [
        {"function": {"name": "weather", "arguments": {"city": "Paris"}}}
    ]
    answer = httpx.post(f"{fake_server}/v1/chat/completions", json=body).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call")
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    streamed = httpx.post(f"{fake_server}/v1/chat/completions", json={**body, "stream": True}).text
    chunks = [json.loads(e[6:]) for e in streamed.split("\n\n") if e and e != "data: [DONE]"]
    calls = [c for ch in chunks for c in ch["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "weather" and calls[0]["index"] == 0
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_only_the_json_endpoints_ignore_content_type() -> None:
    # Uploads to other routes (documents, audio) must keep their multipart Content-Type.
    import asyncio

    from hearth.server.app import _BodyGuard

    seen: dict[str, bytes] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen[scope["path"]] = dict(scope["headers"]).get(b"content-type", b"")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call() -> None:
        transport = httpx.ASGITransport(app=_BodyGuard(inner, max_body_bytes=10_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/api/collections/x/documents", files={"f": ("a.txt", b"hello")})
            await client.post("/api/chat", content=b"{}", headers={"content-type": "text/plain"})

    asyncio.run(call())
    assert seen["/api/collections/x/documents"].startswith(b"multipart/form-data")
    assert seen["/api/chat"] == b"application/json"


def test_full_queue_is_503_with_retry_after(fake_server: str) -> None:
    body = {"model": "busy:1b", "messages": [{"role": "user", "content": "x"}]}
    r = httpx.post(f"{fake_server}/api/chat", json=body)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "HEARTH_MAX_QUEUE" in r.json()["error"]
    r = httpx.post(f"{fake_server}/v1/chat/completions", json={**body, "stream": True})
    assert r.status_code == 503 and r.json()["error"]["type"] == "server_error"


def test_queued_requests_do_not_starve_other_endpoints(
    fake_server: str, fake_services: Any
) -> None:
    """Many requests waiting for the model must not use up the server's worker threads."""
    import threading

    engine = fake_services.engine
    body = {"model": "queued:1b", "prompt": "x", "stream": False}
    threads = [
        threading.Thread(
            target=lambda: httpx.post(f"{fake_server}/api/generate", json=body, timeout=60)
        )
        for _ in range(48)
    ]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(engine.queued) < 48 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(engine.queued) == 48
        assert httpx.get(f"{fake_server}/api/tags", timeout=10).status_code == 200
        assert (
            httpx.post(
                f"{fake_server}/api/embed", json={"model": "e5:small", "input": "a"}, timeout=10
            ).status_code
            == 200
        )
    finally:
        engine.queue_open.set()
        for t in threads:
            t.join(timeout=30)
