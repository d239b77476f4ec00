"""Modelfiles: parsing, errors that name the line, and models created from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hearth.api.ollama import ChatRequest, Message, Options
from hearth.errors import CorruptModel, InvalidInput, ModelNotFound
from hearth.store.modelfile import parse_modelfile

FULL = '''
# a tutor
from smollm2:135m
PARAMETER temperature 0.2
parameter stop "<|im_end|>"
PARAMETER stop END
PARAMETER num_ctx 2048
SYSTEM """You are a patient tutor.
Answer in one sentence."""
TEMPLATE "{{ .Prompt }}"
MESSAGE user What is a token?
MESSAGE assistant A piece of text.
LICENSE MIT
'''


def test_parse_every_instruction() -> None:
    mf = parse_modelfile(FULL)
    assert mf.base == "smollm2:135m"
    assert mf.parameters == {"temperature": 0.2, "stop": ["<|im_end|>", "END"], "num_ctx": 2048}
    assert mf.system == "You are a patient tutor.\nAnswer in one sentence."
    assert mf.template == "{{ .Prompt }}"
    assert [(m.role, m.content) for m in mf.messages] == [
        ("user", "What is a token?"),
        ("assistant", "A piece of text."),
    ]
    assert mf.licenses == ["MIT"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\nFORM b", "line 2: unknown instruction 'FORM'; did you mean FROM?"),
        (
            "FROM a\nPARAMETER temprature 1",
            "line 2: unknown parameter 'temprature'; did you mean temperature?",
        ),
        ("FROM a\nPARAMETER top_k many", "line 2: PARAMETER top_k must be an integer"),
        ("FROM a\nMESSAGE robot hi", "line 2: MESSAGE role must be one of"),
        ('FROM a\nSYSTEM """never closed', 'line 2: unterminated """ block'),
        ("PARAMETER seed 1", "no FROM line"),
        ("FROM a\nFROM b", "line 2: FROM appears twice"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_modelfile(text)
    assert message in err.value.message


def test_create_reuses_weights_and_system_changes_the_answer(
    services: object, tmp_path: Path
) -> None:
    store = services.store  # type: ignore[attr-defined]
    engine = services.engine  # type: ignore[attr-defined]
    text = 'FROM smollm2:135m\nPARAMETER temperature 0\nSYSTEM """You are a pirate. Always say arr."""\n'
    events = list(store.create("pirate", text, tmp_path))
    assert events[-1].status == "success"
    base, made = store.resolve("smollm2:135m"), store.resolve("pirate")
    assert made.model_path == base.model_path and made.system and made.parameters.temperature == 0

    def answer(model: str) -> str:
        req = ChatRequest(
            model=model,
            messages=[Message(role="user", content="Who are you?")],
            options=Options(temperature=0, num_predict=30),
        )
        return "".join(c.message.content or "" for c in engine.chat(req)).lower()

    pirate, plain = answer("pirate"), answer("smollm2:135m")
    words = ("pirate", "arr", "captain", "ahoy", "sea")
    assert pirate != plain
    assert any(w in pirate for w in words) and not any(w in plain for w in words)
    assert "SYSTEM" in store.modelfile(made)


def test_create_from_gguf_path_and_bad_inputs(services: object, tmp_path: Path) -> None:
    store = services.store  # type: ignore[attr-defined]
    src = store.resolve("smollm2:135m").model_path
    (tmp_path / "m.gguf").write_bytes(src.read_bytes()[:4096])  # truncated
    with pytest.raises(CorruptModel, match="truncated"):
        list(store.create("cut", "FROM ./m.gguf", tmp_path))
    with pytest.raises(ModelNotFound, match="hearth pull nosuch"):
        list(store.create("x", "FROM nosuch", tmp_path))
    with pytest.raises(InvalidInput, match="file not found"):
        list(store.create("x", "FROM ./missing.gguf", tmp_path))
    assert {r.name for r in store.list()} == {"smollm2:135m", "multilingual-e5-small:latest"}
