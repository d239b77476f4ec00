"""Model names as users type them, and the names explained the way learners read them."""

from __future__ import annotations

import pytest

from hearth.errors import InvalidInput
from hearth.store import bundled_sources, explain_name, parse_name, read_gguf


@pytest.mark.parametrize(
    ("text", "host", "namespace", "model", "tag"),
    [
        ("phi3", "registry.ollama.ai", "library", "phi3", "latest"),
        ("phi3:latest", "registry.ollama.ai", "library", "phi3", "latest"),
        ("jmorgan/tiny:V2", "registry.ollama.ai", "jmorgan", "tiny", "v2"),
        ("example.com/team/model:1.0", "example.com", "team", "model", "1.0"),
        (
            "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
            "hf.co",
            "bartowski",
            "Llama-3.2-3B-Instruct-GGUF",
            "Q4_K_M",
        ),
        ("huggingface.co/Org/Repo-GGUF:q8_0", "hf.co", "Org", "Repo-GGUF", "q8_0"),
        ("HF.CO/org/repo", "hf.co", "org", "repo", "latest"),
    ],
)
def test_name_parts_and_defaults(
    text: str, host: str, namespace: str, model: str, tag: str
) -> None:
    name = parse_name(text)
    assert (name.host, name.namespace, name.model, name.tag) == (host, namespace, model, tag)


def test_same_model_with_or_without_latest() -> None:
    assert (
        parse_name("phi3")
        == parse_name("phi3:latest")
        == parse_name("registry.ollama.ai/library/phi3")
    )
    assert parse_name("phi3").display == "phi3:latest"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "a model name is required"),
        ("   ", "a model name is required"),
        ("a/b/c/d", "use [host/][namespace/]model[:tag]"),
        ("model:", "empty tag"),
        ("hf.co/onlyrepo", "hf.co/<org>/<repo>"),
        ("example.com/model", "a host needs a namespace and model"),
        ("ns/mo del", "may use only letters, digits"),
        ("m:t/ag", "a host needs a namespace and model"),
        ("phi3@sha256:abc", "digests (@sha256:...) are not supported"),
        ("../etc/passwd", "is not a host name"),
        ("./ns/model", "is not a host name"),
        ("ns/../model", "the namespace '..' must start with a letter or a digit"),
        ("../x", "the namespace '..' must start with a letter or a digit"),
        ("m" * 129, "is 129 characters long; at most 128"),
        ("model:-x", "the tag '-x' must start with a letter, a digit or '_'"),
    ],
)
def test_malformed_names_say_what_is_wrong(bad: str, why: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_name(bad)
    assert why in err.value.message


def test_explain_hugging_face_name() -> None:
    parts = explain_name("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M")
    assert parts["source"] == "Hugging Face"
    assert parts["organisation"] == "bartowski"
    assert parts["base_model"] == "Llama-3.2"
    assert parts["size"] == "3B"
    assert parts["finetune"].startswith("instruct")
    assert parts["quantization"] == "Q4_K_M"
    assert "4-bit" in parts["quantization_note"]
    assert parts["format"] == "gguf"


@pytest.mark.parametrize(
    ("name", "size", "finetune", "quant"),
    [
        ("llama3.2:3b-instruct-q4_K_M", "3B", "instruct", "Q4_K_M"),
        ("gemma2:2b-it-q8_0", "2B", "it", "Q8_0"),
        ("qwen2.5:0.5b", "0.5B", "", ""),
        ("mistral:7b-text-q4_1", "7B", "text", "Q4_1"),
        ("hf.co/TheBloke/Mistral-7B-Chat-v0.2-GGUF:IQ4_XS", "7B", "chat", "IQ4_XS"),
        ("hf.co/org/Some-Model-Base-GGUF:F16", "", "base", "F16"),
    ],
)
def test_explain_ollama_and_hf_tags(name: str, size: str, finetune: str, quant: str) -> None:
    parts = explain_name(name)
    assert parts["size"] == size
    assert parts["finetune"].split(" ")[0] == finetune
    assert parts["quantization"] == quant


def test_gguf_metadata_wins_over_the_name() -> None:
    meta = {
        "general.architecture": "qwen2",
        "general.organization": "Qwen",
        "general.basename": "Qwen2.5",
        "general.size_label": "1.5B",
        "general.finetune": "Instruct",
        "general.file_type": 15,
    }
    parts = explain_name("mymodel:latest", meta)
    assert (parts["organisation"], parts["base_model"], parts["size"]) == (
        "Qwen",
        "Qwen2.5",
        "1.5B",
    )
    assert parts["finetune"].startswith("instruct") and parts["quantization"] == "Q4_K_M"
    assert parts["architecture"] == "qwen2"


def test_explain_the_bundled_model_from_its_file() -> None:
    path, _ = bundled_sources()["smollm2:135m"]
    parts = explain_name("smollm2:135m", read_gguf(path))
    assert parts["organisation"] == "HuggingFaceTB" and parts["size"] == "135M"
    assert parts["quantization"] == "Q4_1" and parts["architecture"] == "llama"
    # Its GGUF fine-tune tag is "8k-lc100k-mix1-ep2"; the chat template tells what it is.
    assert parts["finetune"] == "chat (has a chat template; tag 8k-lc100k-mix1-ep2)"
    assert explain_name("x:1", {"general.finetune": "ep2"})["finetune"] == "ep2"
