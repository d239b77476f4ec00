"""Modelfiles: parsing, errors that name the line, and models created from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


@pytest.mark.slow  # runs the real model
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


def test_case_comments_tabs_and_multiline_values() -> None:
    text = (
        "# comment first\n"
        "\n"
        "From\t./weights.gguf\n"
        "  parameter   num_predict 64   \n"
        "PARAMETER seed 42\n"
        "PARAMETER top_p 0.9\n"
        "PARAMETER min_p 0.05\n"
        "PARAMETER top_k 40\n"
        "PARAMETER repeat_penalty 1.1\n"
        "PARAMETER repeat_last_n 64\n"
        'template """{{ .System }}\n'
        "{{ .Prompt }}\n"
        '"""\n'
        'system """One line."""\n'
        "MESSAGE System be brief\n"
        'message USER """two\nlines"""\n'
        "adapter ./lora.gguf\n"
        'LICENSE """MIT\nfull text"""\n'
        "license Apache-2.0\n"
    )
    mf = parse_modelfile(text)
    assert mf.base == "./weights.gguf"
    assert mf.parameters == {
        "num_predict": 64,
        "seed": 42,
        "top_p": 0.9,
        "min_p": 0.05,
        "top_k": 40,
        "repeat_penalty": 1.1,
        "repeat_last_n": 64,
    }
    assert mf.template == "{{ .System }}\n{{ .Prompt }}\n"
    assert mf.system == "One line."
    assert [(m.role, m.content) for m in mf.messages] == [
        ("system", "be brief"),
        ("user", "two\nlines"),
    ]
    assert mf.adapters == ["./lora.gguf"]
    assert mf.licenses == ["MIT\nfull text", "Apache-2.0"]


def test_error_line_numbers_count_multiline_values() -> None:
    text = 'FROM a\nSYSTEM """one\ntwo\nthree"""\nPARAMETER temperature hot\n'
    with pytest.raises(
        InvalidInput, match="Modelfile line 5: PARAMETER temperature must be a number, not 'hot'"
    ):
        parse_modelfile(text)
    with pytest.raises(
        InvalidInput,
        match="Modelfile line 3: PARAMETER temperature input should be greater than or equal to 0",
    ):
        parse_modelfile("FROM a\nPARAMETER top_k 4\nPARAMETER temperature -1\n")
    with pytest.raises(InvalidInput, match="Modelfile line 2: SYSTEM needs a value"):
        parse_modelfile("FROM a\nSYSTEM\n")
    with pytest.raises(InvalidInput, match="Modelfile line 1: unknown instruction 'QUANTIZE'"):
        parse_modelfile("QUANTIZE q4\n")


def test_create_with_adapter_and_from_a_gguf_file(
    services: object, tmp_path: Path, write_gguf: Any
) -> None:
    store = services.store  # type: ignore[attr-defined]
    write_gguf(tmp_path / "lora.gguf")
    base = store.resolve("smollm2:135m").model_path
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.gguf").write_bytes(base.read_bytes())
    events = list(
        store.create("withlora", "FROM ./models/w.gguf\nADAPTER lora.gguf\nLICENSE MIT\n", tmp_path)
    )
    assert [e.status for e in events][-2:] == ["writing manifest", "success"]
    made = store.resolve("withlora")
    assert made.model_path == base  # same content, same blob: stored once
    assert (
        len(made.adapters) == 1
        and made.adapters[0].read_bytes() == (tmp_path / "lora.gguf").read_bytes()
    )
    assert made.license == ("MIT",)
    assert "ADAPTER" in store.modelfile(made)
    with pytest.raises(InvalidInput, match=r"ADAPTER 'nope\.gguf': file not found"):
        list(store.create("x", "FROM smollm2:135m\nADAPTER nope.gguf", tmp_path))
    with pytest.raises(
        InvalidInput, match=r"ADAPTER 'models/w\.gguf' is a model, not a LoRA adapter"
    ):
        list(store.create("x", "FROM smollm2:135m\nADAPTER models/w.gguf", tmp_path))
    write_gguf(tmp_path / "qwen-lora.gguf", arch="qwen2")
    with pytest.raises(InvalidInput, match="made for qwen2 models, but the base model is llama"):
        list(store.create("x", "FROM smollm2:135m\nADAPTER qwen-lora.gguf", tmp_path))
    with pytest.raises(InvalidInput, match="adapters apply to GGUF models only"):
        list(store.create("x", "FROM multilingual-e5-small\nADAPTER lora.gguf", tmp_path))
    assert "x:latest" not in {r.name for r in store.list()}


def test_create_from_api_fields_reuses_an_uploaded_blob(services: object, tmp_path: Path) -> None:
    from hearth.store.modelfile import create_from_spec

    store = services.store  # type: ignore[attr-defined]
    base = store.resolve("smollm2:135m")
    before = sorted(p.name for p in store.blobs.iterdir())
    # /api/create with files={"model.gguf": digest} names the blob uploaded with /api/blobs/:digest
    digest = "sha256:" + base.model_path.name.removeprefix("sha256-")
    events = create_from_spec(
        store,
        "api-made",
        base=str(store.blob_path(digest)),
        base_dir=tmp_path,
        parameters={"stop": ["END"], "temperature": 0.1},
        system="Be terse.",
        messages=[Message(role="user", content="hi"), Message(role="assistant", content="hello")],
        licenses=["MIT"],
    )
    assert list(events)[-1].status == "success"
    made = store.resolve("api-made")
    assert made.model_path == base.model_path and made.system == "Be terse."
    assert made.parameters.stop == ["END"] and made.parameters.temperature == 0.1
    assert [m.content for m in made.messages] == ["hi", "hello"]
    after = sorted(p.name for p in store.blobs.iterdir())
    assert (
        len(after) - len(before) == 5
    )  # config, params, system, messages, license: no weights copy


def test_rendered_modelfile_round_trips(settings: Any, tmp_path: Path) -> None:
    from hearth.store import ModelStore

    store = ModelStore(settings)
    store.ensure_bundled()
    text = (
        "FROM smollm2:135m\n"
        'PARAMETER stop "### Instruction"\n'
        'PARAMETER stop "say \\"x\\""\n'
        "PARAMETER\tnum_ctx\t1024\n"
        'SYSTEM """Two\nlines."""\n'
        "MESSAGE user hi there\n"
    )
    list(store.create("first", text, tmp_path))
    rendered = store.modelfile(store.resolve("first"))
    again = parse_modelfile(rendered)
    assert again.parameters == {"stop": ["### Instruction", 'say "x"'], "num_ctx": 1024}
    assert again.system == "Two\nlines." and again.messages[0].content == "hi there"
    list(store.create("second", rendered, tmp_path))
    first, second = store.resolve("first"), store.resolve("second")
    assert (second.model_path, second.parameters, second.system) == (
        first.model_path,
        first.parameters,
        first.system,
    )


def test_parameters_another_tool_wrote_do_not_make_a_model_unreadable(services: object) -> None:
    from hearth.store.names import parse_name
    from hearth.store.store import MEDIA

    store = services.store  # type: ignore[attr-defined]
    name = parse_name("smollm2:135m")
    manifest = store.read_manifest(name)
    digest, size = store._add_json({"temperature": "hot", "top_k": 7, "mystery": 1})
    manifest["layers"] = [
        layer for layer in manifest["layers"] if layer["mediaType"] != MEDIA["params"]
    ] + [{"mediaType": MEDIA["params"], "digest": digest, "size": size}]
    store.write_manifest_raw(parse_name("odd:1"), manifest)
    odd = next(r for r in store.list() if r.name == "odd:1")
    assert odd.parameters.temperature is None and odd.parameters.top_k == 7
