"""End to end: the real stack (engine, store, bundled models) behind a real server,
driven by the real third-party clients: ollama, openai, LangChain."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

pytestmark = pytest.mark.slow

MODEL = "smollm2:135m"
EMBED = "multilingual-e5-small"
SHORT = {"num_predict": 12, "temperature": 0, "seed": 7}


def test_ollama_client_chat_generate_embed_list_show(live_server: str) -> None:
    import ollama

    client = ollama.Client(host=live_server)
    messages = [{"role": "user", "content": "Say hello."}]
    answer = client.chat(model=MODEL, messages=messages, options=SHORT)
    assert answer.message.role == "assistant" and answer.message.content
    assert answer.done and answer.done_reason in {"stop", "length"} and answer.eval_count
    parts = list(client.chat(model=MODEL, messages=messages, options=SHORT, stream=True))
    assert (
        parts[-1].done and "".join(p.message.content or "" for p in parts) == answer.message.content
    )

    def get_weather(city: str) -> str:
        """Get the weather in a city.

        Args:
            city: the city
        """
        return "sunny"

    with_tools = client.chat(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[get_weather],
        options=SHORT,
    )
    assert with_tools.done and (with_tools.message.content or with_tools.message.tool_calls)

    generated = client.generate(model=MODEL, prompt="The sky is", options=SHORT)
    assert generated.response and generated.prompt_eval_count
    streamed = list(client.generate(model=MODEL, prompt="The sky is", options=SHORT, stream=True))
    assert "".join(p.response for p in streamed) == generated.response

    vectors = client.embed(model=EMBED, input=["a cat", "un chat"]).embeddings
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert abs(float(np.linalg.norm(vectors[0])) - 1) < 1e-3
    assert len(client.embeddings(model=EMBED, prompt="a cat").embedding) == 384

    names = {m.model for m in client.list().models}
    assert {MODEL, f"{EMBED}:latest"} <= names
    shown = client.show(MODEL)
    assert shown.details.format == "gguf" and {"completion", "tools"} <= set(
        shown.capabilities or []
    )

    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="missing-model:1b", messages=messages)
    assert info.value.status_code == 404 and "pull" in info.value.error


def test_openai_client_chat_structured_and_embeddings(live_server: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="x")
    messages: Any = [{"role": "user", "content": "Say hello."}]
    answer = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=12, temperature=0, seed=7
    )
    assert answer.choices[0].message.content and answer.choices[0].finish_reason in {
        "stop",
        "length",
    }
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens

    stream = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=12, temperature=0, seed=7, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    structured = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a person. Answer in JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
        max_tokens=60,
        temperature=0,
    )
    content = structured.choices[0].message.content
    assert content is not None
    jsonschema.validate(json.loads(content), schema)

    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    parsed = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format=Person,
        max_tokens=60,
        temperature=0,
    )
    assert isinstance(parsed.choices[0].message.parsed, Person)

    default = client.embeddings.create(model=EMBED, input=["a cat", "un chat"])  # asks for base64
    floats = client.embeddings.create(model=EMBED, input="a cat", encoding_format="float")
    assert len(default.data) == 2 and len(default.data[0].embedding) == 384
    assert np.allclose(default.data[0].embedding, floats.data[0].embedding, atol=1e-6)

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing-model:1b", messages=messages)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=[])
    assert "messages" in str(bad.value)


def test_openai_raw_base64_matches_float(live_server: str) -> None:
    body = {"model": EMBED, "input": "hello"}
    b64 = httpx.post(
        f"{live_server}/v1/embeddings", json={**body, "encoding_format": "base64"}
    ).json()
    flt = httpx.post(f"{live_server}/v1/embeddings", json=body).json()
    decoded = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, flt["data"][0]["embedding"])


def test_tools_with_stop_strings_lose_no_text(live_server: str) -> None:
    """Text the runner held back for a stop string that never matched reaches the answer."""
    tool = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is a cat? One sentence."}],
        "tools": [tool],
        "stream": False,
        "options": {"temperature": 0, "num_predict": 40},
    }
    plain = httpx.post(f"{live_server}/api/chat", json=body, timeout=60).json()
    body["options"]["stop"] = [".QQQ", "!ZZZ"]  # never match, but hold back "." and "!"
    stopped = httpx.post(f"{live_server}/api/chat", json=body, timeout=60).json()
    assert stopped["message"]["content"] == plain["message"]["content"]
    assert plain["message"]["content"].rstrip().endswith((".", "!"))


def test_openai_stream_with_tools_sends_logprobs_only_when_asked(live_server: str) -> None:
    tool = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "temperature": 0,
        "tools": [tool],
        "stream": True,
    }
    for asked in (False, True):
        with httpx.stream(
            "POST", f"{live_server}/v1/chat/completions", json=body | {"logprobs": asked}
        ) as r:
            events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        choices = [c for e in events[:-1] for c in json.loads(e)["choices"]]
        entries = [c.get("logprobs") for c in choices if c.get("logprobs") is not None]
        # With tools offered, a prose answer still streams piece by piece.
        assert len([c for c in choices if c.get("delta", {}).get("content")]) >= 2
        if asked:
            assert sum(len(e["content"]) for e in entries) > 0
        else:
            assert entries == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # langchain-community is sunset
def test_langchain_clients(live_server: str) -> None:
    from langchain_community.llms import Ollama
    from langchain_ollama import ChatOllama, OllamaEmbeddings, OllamaLLM

    # The course snippet, pointed at hearth (num_predict keeps the test short).
    with warnings.catch_warnings():  # the course uses this deprecated class, on purpose
        warnings.simplefilter("ignore")
        llm = Ollama(model=MODEL, base_url=live_server, num_predict=24)
    assert isinstance(llm.invoke("What is natural language processing?"), str)
    answer = llm.invoke("什麼是「自然語言處理」呢?可以用繁體中文回答我嗎?")
    assert isinstance(answer, str) and answer.strip()  # the model is English-only: any text

    assert isinstance(
        OllamaLLM(model=MODEL, base_url=live_server, num_predict=12).invoke("Hi"), str
    )
    chat = ChatOllama(model=MODEL, base_url=live_server, num_predict=16, temperature=0)
    reply = chat.invoke("Say hello.")
    assert isinstance(reply.content, str) and reply.content
    assert "".join(str(c.content) for c in chat.stream("Say hello."))

    embeddings = OllamaEmbeddings(model=EMBED, base_url=live_server)
    assert len(embeddings.embed_query("a cat")) == 384
    assert len(embeddings.embed_documents(["a cat", "a dog"])) == 2


def test_concurrent_requests_each_get_their_own_answer(live_server: str) -> None:
    """4 clients at once: each answer must satisfy its own schema (no crossed sequences)."""
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        schema = {
            "type": "object",
            "properties": {"client": {"enum": [f"client-{i}"]}},
            "required": ["client"],
        }
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": f"Reply with JSON naming client {i}."}],
            "format": schema,
            "stream": False,
            "options": {"num_predict": 40, "temperature": 0},
        }
        try:
            results[i] = httpx.post(f"{live_server}/api/chat", json=body, timeout=120).json()
        except BaseException as exc:  # reported below
            errors.append(exc)

    httpx.post(
        f"{live_server}/api/generate", json={"model": MODEL, "stream": False}, timeout=120
    )  # load
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors and len(results) == 4
    for i, answer in results.items():
        assert answer.get("done") is True, answer
        assert json.loads(answer["message"]["content"]) == {"client": f"client-{i}"}


def test_concurrent_requests_while_the_model_loads(live_server: str) -> None:
    """Requests arriving while the model is still loading wait for it (no 500)."""
    statuses: list[int] = []

    def ask() -> None:
        body = {"model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}}
        statuses.append(
            httpx.post(f"{live_server}/api/generate", json=body, timeout=120).status_code
        )

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert statuses == [200, 200, 200]


def test_disconnect_mid_stream_ends_the_sequence(live_server: str, services: Any) -> None:
    body = {
        "model": MODEL,
        "prompt": "Count from one to a thousand:",
        "options": {"num_predict": 3000},
    }
    with httpx.stream("POST", f"{live_server}/api/generate", json=body, timeout=60) as response:
        lines = response.iter_lines()
        for _ in range(3):
            assert "response" in json.loads(next(lines))
    # The engine must see the sequence end (3000 tokens would take far longer).
    deadline = time.monotonic() + 20
    busy = None
    while time.monotonic() < deadline:
        busy = sum(
            entry.runner.busy
            for entry in services.engine.scheduler.loaded()
            if hasattr(entry.runner, "busy")
        )
        if busy == 0:
            break
        time.sleep(0.05)
    assert busy == 0
    quick = httpx.post(
        f"{live_server}/api/generate",
        json={"model": MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 4}},
        timeout=60,
    )
    assert quick.json()["done"] is True


def test_keep_alive_zero_unloads(live_server: str) -> None:
    loaded = httpx.post(
        f"{live_server}/api/generate", json={"model": MODEL, "stream": False}, timeout=60
    ).json()
    assert loaded["done_reason"] == "load"
    import ollama

    running = ollama.Client(host=live_server).ps().models
    assert [m.model for m in running] == [MODEL] and running[0].expires_at is not None
    unloaded = httpx.post(
        f"{live_server}/api/chat", json={"model": MODEL, "messages": [], "keep_alive": 0}
    ).text
    assert json.loads(unloaded.splitlines()[-1])["done_reason"] == "unload"
    assert httpx.get(f"{live_server}/api/ps").json() == {"models": []}


def test_bad_input_with_the_real_engine(live_server: str) -> None:
    long_prompt = "word " * 400
    r = httpx.post(
        f"{live_server}/api/generate",
        json={"model": MODEL, "prompt": long_prompt, "options": {"num_ctx": 64}},
        timeout=60,
    )
    assert r.status_code == 400 and "context" in r.json()["error"]
    r = httpx.post(
        f"{live_server}/api/chat",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "format": {"type": 12},
        },
    )
    assert r.status_code == 400, r.text
    r = httpx.post(
        f"{live_server}/api/chat",
        json={"model": EMBED, "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400 and "embedding model" in r.json()["error"]
    # Inputs that used to reach llama.cpp or Jinja and come back as a 500 (or kill the server):
    for path, raw, message in (
        (
            "/api/chat",
            b'{"model": "%s", "messages": [{"role": "user", "content": "hi \\ud800"}]}',
            "lone surrogate",
        ),
        ("/api/embed", b'{"model": "%s", "input": ["a \\udc00"]}', "lone surrogate"),
        ("/api/embed", b'{"model": "%s", "input": ["a", ""]}', "input 2 is empty"),
        ("/api/generate", b'{"model": "%s", "prompt": "x", "context": [-1]}', "token id -1"),
        (
            "/api/generate",
            b'{"model": "%s", "prompt": "x", "template": "{{ 1/0 }}"}',
            "chat template failed: ZeroDivisionError",
        ),
        (
            "/api/generate",
            b'{"model": "%s", "prompt": "x", "options": {"num_ctx": 100000000}}',
            "with num_ctx 100000000 needs about",
        ),
    ):
        model = (EMBED if "lone" in message and path == "/api/embed" else MODEL).encode()
        r = httpx.post(f"{live_server}{path}", content=raw % model, timeout=60)
        assert r.status_code == 400 and message in r.json()["error"], (path, r.text)
    r = httpx.post(
        f"{live_server}/v1/chat/completions",
        content=b'{"model": "%s", "messages": [{"role": "user", "content": "\\ud800"}]}'
        % MODEL.encode(),
    )
    assert r.status_code == 400 and "lone surrogate" in r.json()["error"]["message"]
    # What the text-only engine cannot do is refused, not ignored; unions name what they accept.
    hi = [{"role": "user", "content": "hi"}]
    for body, message in (
        ({"messages": [{**hi[0], "images": ["iVBORw0KGgo="]}]}, "cannot read images"),
        ({"messages": hi, "think": True}, "does not support thinking"),
        ({"messages": hi, "top_logprobs": 21}, "field 'top_logprobs'"),
        ({"messages": hi, "keep_alive": [1]}, "field 'keep_alive': expected a valid string or"),
        ({"messages": [], "keep_alive": "nan"}, "invalid duration 'nan'"),
        ({"messages": [], "keep_alive": True}, "field 'keep_alive'"),
    ):
        r = httpx.post(f"{live_server}/api/chat", json={"model": MODEL, **body})
        assert r.status_code == 400 and message in r.json()["error"], r.text
    r = httpx.post(
        f"{live_server}/v1/chat/completions",
        json={"model": MODEL, "messages": hi, "top_logprobs": 2},
    )
    assert r.status_code == 400 and "needs logprobs: true" in r.json()["error"]["message"]
    # Schema keywords the grammar cannot apply are accepted (pydantic schemas carry them) and named.
    r = httpx.post(
        f"{live_server}/api/generate",
        json={
            "model": MODEL,
            "prompt": "A number:",
            "stream": False,
            "format": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}},
            "options": {"num_predict": 12, "temperature": 0},
        },
        timeout=60,
    )
    assert r.status_code == 200
    assert "minimum at /properties/n" in r.headers["x-hearth-warning"]
    assert httpx.get(f"{live_server}/api/version").status_code == 200


def test_log_probabilities_through_both_apis(live_server: str) -> None:
    import openai

    greedy = {"temperature": 0, "num_predict": 6}
    r = httpx.post(
        f"{live_server}/api/generate",
        json={
            "model": MODEL,
            "prompt": "The capital of France is",
            "stream": False,
            "logprobs": True,
            "top_logprobs": 3,
            "options": greedy,
        },
        timeout=60,
    ).json()
    entries = r["logprobs"]
    assert len(entries) == r["eval_count"] and "".join(e["token"] for e in entries) == r["response"]
    for e in entries:  # greedy: the chosen token is the likeliest, and probabilities are <= 1
        top = e["top_logprobs"]
        assert len(top) == 3 and top[0]["token"] == e["token"] and top[0]["logprob"] == e["logprob"]
        assert 0 >= top[0]["logprob"] >= top[1]["logprob"] >= top[2]["logprob"]
        assert bytes(e["bytes"]).decode("utf-8", "replace") == e["token"]
    plain = httpx.post(
        f"{live_server}/api/generate",
        json={"model": MODEL, "prompt": "Hi", "stream": False, "options": greedy},
        timeout=60,
    ).json()
    assert "logprobs" not in plain

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="unused")
    chat = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hi"}],
        logprobs=True,
        top_logprobs=2,
        max_tokens=5,
        temperature=0,
    )
    content = chat.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and "".join(t.token for t in content) == chat.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)
    streamed = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hi"}],
        logprobs=True,
        max_tokens=5,
        temperature=0,
        stream=True,
    )
    tokens = [
        t.token
        for chunk in streamed
        if chunk.choices and chunk.choices[0].logprobs
        for t in chunk.choices[0].logprobs.content or []
    ]
    assert tokens == [t.token for t in content]
    legacy = client.completions.create(
        model=MODEL, prompt="The capital of France is", logprobs=2, max_tokens=3, temperature=0
    )
    lp = legacy.choices[0].logprobs
    assert lp is not None and "".join(lp.tokens or []) == legacy.choices[0].text
    assert lp.text_offset == [len("".join((lp.tokens or [])[:i])) for i in range(3)]


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script`")
def test_interactive_run_uses_the_servers_model(live_server: str, tmp_path: Path) -> None:
    """`hearth run` against a server whose model is not in the local HEARTH_HOME: chatting
    and /show info both go to the server, and the session goes on to /bye."""
    r = httpx.post(
        f"{live_server}/api/create",
        json={"model": "only-on-server", "from": MODEL, "system": "Be brief.", "stream": False},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    exe = Path(sys.executable).with_name("hearth")
    env = {
        **os.environ,
        "HEARTH_HOME": str(tmp_path / "elsewhere"),
        "HEARTH_HOST": live_server.removeprefix("http://"),
    }
    proc = subprocess.run(
        ["script", "-qec", f"{exe} run only-on-server", "/dev/null"],
        input="/show info\n/set parameter num_predict 4\nSay hi.\n/bye\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Error" not in proc.stdout, proc.stdout
    assert "Be brief." in proc.stdout  # the server's system message, from /show info


def test_openai_tool_choice_forces_a_valid_call(live_server: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="x")
    city = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}}
    tools: Any = [
        {
            "type": "function",
            "function": {"name": name, "parameters": city | {"required": ["city"]}},
        }
        for name in ("get_time", "get_weather")
    ]
    ask: Any = [{"role": "user", "content": "Time in Taipei?"}]
    # The tiny model would answer in prose; a forcing tool_choice makes it call, validly.
    for choice, names in (
        ("required", {"get_time", "get_weather"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"get_weather"}),
    ):
        answer = client.chat.completions.create(
            model=MODEL, messages=ask, tools=tools, tool_choice=choice, max_tokens=40, temperature=0
        )
        calls = answer.choices[0].message.tool_calls
        assert answer.choices[0].finish_reason == "tool_calls" and calls
        assert calls[0].function.name in names  # type: ignore[union-attr]
        jsonschema.validate(
            json.loads(calls[0].function.arguments), tools[0]["function"]["parameters"]
        )  # type: ignore[union-attr]
    for bad, message in (
        ("sometimes", "'sometimes' is not one of none, auto, required"),
        ({"type": "function", "function": {"name": "nope"}}, "no tool named 'nope'"),
    ):
        with pytest.raises(openai.BadRequestError, match=message):
            client.chat.completions.create(
                model=MODEL, messages=ask, tools=tools, tool_choice=bad, max_tokens=4
            )
    with pytest.raises(openai.BadRequestError, match="only allowed when 'tools' are given"):
        client.chat.completions.create(model=MODEL, messages=ask, tool_choice="required")
    with pytest.raises(openai.BadRequestError, match="two tools have the same name"):
        client.chat.completions.create(
            model=MODEL, messages=ask, tools=tools + tools[:1], tool_choice="required"
        )
    # A pydantic-made schema: the nested model sits in $defs, referenced from the parameters.
    nested: Any = {
        "type": "function",
        "function": {
            "name": "save_home",
            "parameters": {
                "type": "object",
                "properties": {"home": {"$ref": "#/$defs/City"}},
                "required": ["home"],
                "$defs": {
                    "City": {
                        "type": "object",
                        "properties": {"name": {"type": "string", "maxLength": 20}},
                        "required": ["name"],
                    }
                },
            },
        },
    }
    answer = client.chat.completions.create(
        model=MODEL,
        messages=ask,
        tools=[nested],
        tool_choice="required",
        max_tokens=40,
        temperature=0,
    )
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    jsonschema.validate(json.loads(call.function.arguments), nested["function"]["parameters"])  # type: ignore[union-attr]
