"""The NLP tasks with the real bundled model: schema-valid answers, batches, long texts, errors."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from hearth.cli.main import app
from hearth.errors import ContextOverflow, InvalidInput
from hearth.tasks.nlp import TaskRunner, language_name, result_schema, split_text, task_schema

REVIEW = (
    "The new phone has a wonderful screen and the battery lasts two days. "
    "I love it, although the camera is only average."
)
LABELS = ["sports", "technology", "cooking"]


def test_schemas_constrain_what_can_be_answered() -> None:
    schema = task_schema("classify", ["a", "b"])
    jsonschema.validate({"label": "a"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"label": "c"}, schema)
    sentiment = task_schema("sentiment")
    jsonschema.validate({"sentiment": "neutral", "score": 0.35}, sentiment)
    for bad in (
        {"sentiment": "happy", "score": 0.5},
        {"sentiment": "positive", "score": 1.5},
        {"sentiment": "positive"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, sentiment)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"bullets": []}, task_schema("summarize"))
    jsonschema.validate({"keywords": ["a"], "chunks": 2}, result_schema("keywords"))


def test_label_sets_and_languages_are_checked() -> None:
    for labels in ([], ["only"], ["a", " "], None):
        with pytest.raises(InvalidInput, match="at least two labels"):
            task_schema("classify", labels)
    with pytest.raises(InvalidInput, match="distinct"):
        task_schema("classify", ["a", "a"])
    assert "Traditional Chinese" in language_name("zh-TW")
    assert language_name("zh_tw") == language_name("zh-TW")
    assert language_name("Klingon") == "Klingon"
    with pytest.raises(InvalidInput, match="unknown language code 'xx'"):
        language_name("xx")
    with pytest.raises(InvalidInput, match="unknown task"):
        task_schema("poetry")


def test_split_text_cuts_at_sentences_then_words() -> None:
    def words(text: str) -> int:
        return len(text.split())

    text = "One two three. Four five six seven. Eight nine.\nTen eleven twelve thirteen fourteen fifteen sixteen."
    pieces = split_text(text, 5, words)
    assert all(words(p) <= 5 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert pieces[0] == "One two three."
    assert split_text("short text", 5, words) == ["short text"]
    chinese = split_text("今天天气很好我们去公园散步吧", 4, len)
    assert all(len(p) <= 4 for p in chinese) and "".join(chinese) == "今天天气很好我们去公园散步吧"


@pytest.fixture
def runner(services: Any) -> TaskRunner:
    return TaskRunner.local(services.engine)


@pytest.mark.slow
def test_each_task_answer_validates_against_its_schema(runner: TaskRunner) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("classify", {"labels": LABELS}),
        ("sentiment", {}),
        ("keywords", {}),
        ("summarize", {}),
        ("translate", {"to": "fr"}),
        ("translate", {"to": "zh-TW"}),
    ]
    for name, kwargs in cases:
        result = runner.run(name, REVIEW, **kwargs)
        jsonschema.validate(result, result_schema(name, kwargs.get("labels")))
        assert result["chunks"] == 1
    assert runner.run("classify", REVIEW, labels=LABELS)["label"] == "technology"
    assert runner.run("sentiment", REVIEW)["sentiment"] == "positive"
    # greedy decoding: the same answer every time
    assert runner.run("keywords", REVIEW) == runner.run("keywords", REVIEW)


@pytest.mark.slow
def test_long_text_is_split_or_refused(services: Any) -> None:
    base = TaskRunner.local(services.engine)
    small = TaskRunner(
        chat=base.chat, model=base.model, count_tokens=base.count_tokens, context_length=700
    )
    sentences = [
        f"Report {i}: the council of town number {i} met on Monday and voted to repair the old bridge "
        "over the river before the winter storms arrive."
        for i in range(12)
    ]
    text = " ".join(sentences)
    assert base.count_tokens(text) > 300
    with pytest.raises(ContextOverflow, match=r"classify: the text has \d+ tokens"):
        small.run("classify", text, labels=LABELS)
    with pytest.raises(ContextOverflow, match="sentiment"):
        small.run("sentiment", text)
    result = small.run("summarize", text)
    assert result["chunks"] >= 2
    jsonschema.validate(result, result_schema("summarize"))
    assert len(result["bullets"]) >= result["chunks"]


@pytest.mark.slow
def test_cli_batch_over_stdin_gives_one_json_object_per_line(services: Any) -> None:
    env = {"HEARTH_HOME": str(services.settings.home), "HEARTH_HOST": "127.0.0.1:9"}
    out = CliRunner().invoke(
        app,
        ["task", "classify", "--labels", "sports,technology,cooking", "-"],
        input="Messi scored twice in the football final.\n\nThe new laptop has a faster processor.\n",
        env=env,
    )
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 2  # the blank line is skipped
    for line in lines:
        jsonschema.validate(line, result_schema("classify", LABELS))

    out = CliRunner().invoke(app, ["task", "sentiment", "--json", REVIEW], env=env)
    assert out.exit_code == 0, out.output
    jsonschema.validate(json.loads(out.stdout), result_schema("sentiment"))
    out = CliRunner().invoke(app, ["task", "summarize", REVIEW], env=env)
    assert out.exit_code == 0 and out.stdout.startswith("- ")


def test_cli_errors_are_one_line(tmp_path: Any) -> None:
    env = {"HEARTH_HOME": str(tmp_path / "home"), "HEARTH_HOST": "127.0.0.1:9"}
    out = CliRunner().invoke(app, ["task", "classify", "--labels", "sports", "text"], env=env)
    assert (
        out.exit_code == 1 and "at least two labels" in out.output and "Traceback" not in out.output
    )
    out = CliRunner().invoke(app, ["task", "sentiment", "-"], input="\n\n", env=env)
    assert out.exit_code == 1 and "stdin is empty" in out.output
    out = CliRunner().invoke(app, ["task", "translate", "--to", "xx", "hello"], env=env)
    assert out.exit_code == 1 and "unknown language code" in out.output
    out = CliRunner().invoke(app, ["task", "translate", "hello"], env=env)
    assert out.exit_code == 2 and "--to" in out.output


def _scripted(*answers: str, reason: str = "stop") -> Any:
    """A chat function that answers from a script (plumbing only: no model)."""
    from datetime import UTC, datetime

    from hearth.api.ollama import ChatResponse, Message

    script = list(answers)
    seen: list[Any] = []

    def chat(request: Any) -> Any:
        seen.append(request)
        text = script.pop(0)
        yield ChatResponse(
            model="m", created_at=datetime.now(UTC), message=Message(role="assistant", content=text)
        )
        yield ChatResponse(
            model="m",
            created_at=datetime.now(UTC),
            message=Message(role="assistant", content=""),
            done=True,
            done_reason=reason,
        )

    chat.seen = seen  # type: ignore[attr-defined]
    return chat


def _words(text: str) -> int:
    return len(text.split())


def test_answers_are_validated_after_generation() -> None:
    from hearth.tasks.nlp import InvalidModelOutput

    def runner(*answers: str, reason: str = "stop") -> TaskRunner:
        return TaskRunner(
            chat=_scripted(*answers, reason=reason),
            model="m",
            count_tokens=_words,
            context_length=4096,
        )

    with pytest.raises(InvalidModelOutput, match="cut at the token limit"):
        runner('{"label": "spo', reason="length").run("classify", "text", labels=LABELS)
    with pytest.raises(InvalidModelOutput, match="does not follow the task's schema"):
        runner('{"label": "poetry"}').run("classify", "text", labels=LABELS)
    with pytest.raises(InvalidModelOutput, match="blank keywords"):
        runner('{"keywords": [" ", "  "]}').run("keywords", "text")
    result = runner('{"keywords": ["Paris", " paris ", "France"]}').run("keywords", "text")
    assert result == {"keywords": ["Paris", "France"], "chunks": 1}
    # the request carries the schema as `format`, greedy options and the text last
    fake = _scripted('{"sentiment": "neutral", "score": 0.5}')
    TaskRunner(chat=fake, model="m", count_tokens=_words, context_length=4096).run(
        "sentiment", "  fine  "
    )
    request = fake.seen[0]
    assert request.format == task_schema("sentiment")
    assert request.options.temperature == 0
    assert request.messages[-1].content == "fine"


def test_split_pieces_are_answered_in_order_and_merged() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(60))  # 300 words
    fake = _scripted(*[json.dumps({"translation": f"第{i}句。"}) for i in range(20)])
    runner = TaskRunner(chat=fake, model="m", count_tokens=_words, context_length=420)
    result = runner.run("translate", text, to="zh-TW")
    assert result["chunks"] == len(fake.seen) > 1
    assert result["translation"] == "".join(f"第{i}句。" for i in range(result["chunks"]))
    assert "Traditional Chinese" in fake.seen[0].messages[0].content
    sent = " ".join(r.messages[-1].content for r in fake.seen)
    assert sent.split() == text.split()  # every word sent once, in order
