"""Tasks and metrics through a real server, the ollama client, and the Python API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import ollama
import pytest

from hearth.errors import InvalidInput
from hearth.sdk import Hearth
from hearth.tasks.nlp import result_schema, task_schema

pytestmark = pytest.mark.slow

REFS = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."]
REFS2 = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]
HYPS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]


def test_task_and_eval_routes(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=120) as http:
        r = http.post(
            "/api/task/sentiment",
            json={"input": ["I love this phone.", "This is the worst day ever."]},
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert len(results) == 2
        for item in results:
            jsonschema.validate(item, result_schema("sentiment"))

        r = http.post(
            "/api/task/classify",
            json={"input": "Messi scored twice.", "labels": ["sports", "politics"]},
        )
        assert r.status_code == 200 and r.json()["results"][0]["label"] in {"sports", "politics"}

        for path, body, status, words in [
            ("/api/task/classify", {"input": "x", "labels": ["only"]}, 400, "at least two labels"),
            ("/api/task/poetry", {"input": "x"}, 404, "unknown task"),
            ("/api/task/sentiment", {"input": "  "}, 400, "empty"),
            ("/api/task/sentiment", {"input": []}, 400, "empty list"),
            ("/api/task/sentiment", {"text": "x"}, 400, "input"),
            ("/api/task/sentiment", {"input": "x", "model": "nosuch:1b"}, 404, "not found"),
            (
                "/api/eval/bleu",
                {"references": REFS, "hypotheses": HYPS[:2]},
                400,
                "3 lines but hypotheses have 2",
            ),
            ("/api/eval/rouge", {"references": [], "hypotheses": []}, 400, "no hypotheses"),
        ]:
            r = http.post(path, json=body)
            assert r.status_code == status, (path, r.text)
            assert words in r.json()["error"], r.text

        r = http.post("/api/eval/bleu", json={"references": [REFS, REFS2], "hypotheses": HYPS})
        assert r.status_code == 200 and round(r.json()["bleu"], 2) == 48.53
        r = http.post(
            "/api/eval/rouge", json={"references": ["我爱北京天安门"], "hypotheses": ["我爱北京"]}
        )
        assert r.status_code == 200
        assert r.json()["tokenize"] == "char" and r.json()["rouge1"] == pytest.approx(8 / 11)


def test_a_task_schema_works_through_plain_chat_with_the_ollama_client(live_server: str) -> None:
    client = ollama.Client(host=live_server)
    response = client.chat(
        model="smollm2:135m",
        messages=[{"role": "user", "content": "Sentiment of: I love sunny days."}],
        format=task_schema("sentiment"),
        options={"temperature": 0},
    )
    jsonschema.validate(json.loads(response.message.content or ""), task_schema("sentiment"))


def test_cli_tasks_go_through_a_running_server(live_server: str, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from hearth.cli.main import app

    # An empty home: the models are only reachable through the server.
    env = {
        "HEARTH_HOME": str(tmp_path / "empty"),
        "HEARTH_HOST": live_server.removeprefix("http://"),
    }
    out = CliRunner().invoke(
        app, ["task", "sentiment", "-"], input="I love it.\nI hate it.\n", env=env
    )
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 2
    for line in lines:
        jsonschema.validate(line, result_schema("sentiment"))
    out = CliRunner().invoke(app, ["task", "classify", "--labels", "a,a", "text"], env=env)
    assert out.exit_code == 1 and "distinct" in out.output
    assert not (tmp_path / "empty" / "models").exists()


def test_a_task_schema_works_as_openai_response_format(live_server: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{live_server}/v1", api_key="unused")
    completion = client.chat.completions.create(
        model="smollm2:135m",
        messages=[{"role": "user", "content": "Classify: The striker scored a goal."}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "classify",
                "schema": task_schema("classify", ["sports", "cooking"]),
            },
        },
        temperature=0,
    )
    answer = json.loads(completion.choices[0].message.content or "")
    jsonschema.validate(answer, task_schema("classify", ["sports", "cooking"]))
    client.close()


def test_module_level_api_uses_the_server_at_hearth_host(live_server: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "import json, hearth.sdk as h; "
        "print(json.dumps([h.task.classify('Messi scored twice.', labels=['sports', 'cooking']), "
        "len(h.embed('a cat')[0]), h._default().remote]))"
    )
    env = {
        "HEARTH_HOME": str(tmp_path / "empty"),
        "HEARTH_HOST": live_server.removeprefix("http://"),
        "PATH": "",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    label, dims, remote = json.loads(out.stdout)
    assert label in {"sports", "cooking"} and dims == 384 and remote is True
    assert not (tmp_path / "empty").exists()  # nothing was built in-process


def test_python_api_in_process(services: Any) -> None:
    h = Hearth(services=services)
    assert not h.remote
    assert h.generate(
        "What is the capital of France?", temperature=0, seed=1, num_predict=24
    ).strip()
    answer = h.chat([{"role": "user", "content": "Say hello."}], temperature=0, num_predict=16)
    assert isinstance(answer, str) and answer.strip()
    vectors = h.embed(["a cat", "a dog"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert h.task.classify("Messi scored twice in the final.", labels=["sports", "cooking"]) in {
        "sports",
        "cooking",
    }
    sentiment = h.task.sentiment("I love it.")
    assert (
        sentiment["sentiment"] in {"positive", "negative", "neutral"}
        and 0 <= sentiment["score"] <= 1
    )
    assert all(isinstance(k, str) for k in h.task.keywords("Paris is the capital of France."))
    with pytest.raises(InvalidInput, match="at least two labels"):
        h.task.classify("x", labels=["one"])
    results = h.run_task("sentiment", ["Great!", "   "])
    assert "sentiment" in results[0] and "empty" in results[1]["error"]


def test_python_api_against_a_server(live_server: str) -> None:
    with Hearth(client=live_server) as h:
        assert h.remote
        assert h.generate("Hello", temperature=0, num_predict=8).strip()
        assert isinstance(h.chat("Hello", temperature=0, num_predict=8), str)
        assert len(h.embed("a cat")[0]) == 384
        assert h.task.summarize("The museum opens at nine. Entry is free on Sundays.")
        with pytest.raises(InvalidInput, match="at least two labels"):
            h.task.classify("x", labels=["one"])
        assert isinstance(h.task.translate("Good morning.", to="fr"), str)


def test_bleu_api_takes_sacrebleus_tokenizers(live_server: str) -> None:
    import importlib.util

    # Unicode punctuation: intl splits it off, 13a does not (values from sacrebleu 2.6).
    refs = ["The price is €5—cheap!", "She said «hello» twice."]
    hyps = ["The price is €5 — cheap!", "She said «hello» two times."]
    expected = {"13a": 24.41, "intl": 77.51, "none": 28.85, "char": 83.69}
    with httpx.Client(base_url=live_server, timeout=60) as http:
        for tokenize, score in expected.items():
            r = http.post(
                "/api/eval/bleu",
                json={"references": refs, "hypotheses": hyps, "tokenize": tokenize},
            )
            assert r.status_code == 200, r.text
            assert round(r.json()["bleu"], 2) == score
            assert f"tok:{tokenize}" in r.json()["signature"]
        r = http.post(
            "/api/eval/bleu", json={"references": refs, "hypotheses": hyps, "tokenize": "ja-mecab"}
        )
        if importlib.util.find_spec("MeCab") is None:
            assert r.status_code == 400
            assert "pip install 'sacrebleu[ja]'" in r.json()["error"]
        else:
            assert r.status_code == 200 and "tok:ja-mecab" in r.json()["signature"]
        r = http.post(
            "/api/eval/bleu", json={"references": refs, "hypotheses": hyps, "tokenize": "flores101"}
        )
        assert r.status_code == 400 and "tokenize" in r.json()["error"]
