"""The document index: one SQLite file (WAL) with collections, documents, chunks and vectors.

Every change is one transaction. A document is written together with all its chunks and
vectors (the caller embeds first, then calls `put_document`), so a crash at any instant
leaves either the old document or the new one, never half of one. Each collection has a
`generation`, bumped by every change, so in-memory search indexes know when to reload.
The BM25 postings of a collection are saved in `lexical_postings` for the generation they were
built from (one row per collection, written in one transaction, dropped by every change), so
a new process loads them instead of re-tokenising every chunk.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hearth.api.docs import Collection, Document
from hearth.errors import Conflict, NotFound
from hearth.rag.lexical import Postings

__all__ = ["ChunkRecord", "DocumentStore", "document_id", "text_hash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    embed_model TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    source TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT,
    pages INTEGER,
    bytes INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    UNIQUE (collection, source)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    ord INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    anchor TEXT,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks (collection, hash);
CREATE TABLE IF NOT EXISTS lexical_postings (
    collection TEXT PRIMARY KEY REFERENCES collections(name) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    terms TEXT NOT NULL,  -- JSON list, the term of each id
    docs BLOB NOT NULL,  -- int32 per posting, grouped by term id
    tfs BLOB NOT NULL,  -- uint16 per posting (a chunk is far shorter than 65,535 terms)
    dfs BLOB NOT NULL,  -- uint32 per term: its number of postings
    lengths BLOB NOT NULL  -- float32 per chunk: its number of terms
);
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_id(collection: str, source: str) -> str:
    """Stable id of a document: the same file in the same collection keeps its id."""
    return hashlib.sha256(f"{collection}\0{source}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ChunkRecord:
    text: str
    page: int | None
    anchor: str | None
    vector: np.ndarray  # float32 (dim,)


@dataclass
class CollectionData:
    """Everything search needs of one collection, loaded into memory."""

    generation: int
    chunk_ids: np.ndarray
    texts: list[str]
    pages: list[int | None]
    anchors: list[str | None]
    document_ids: list[str]
    files: list[str]
    vectors: np.ndarray  # (n, dim) float32


class DocumentStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # collections -----------------------------------------------------------------
    def create_collection(self, name: str, embed_model: str, exist_ok: bool = False) -> None:
        with self._tx() as db:
            row = db.execute("SELECT embed_model FROM collections WHERE name=?", (name,)).fetchone()
            if row is not None:
                if exist_ok:
                    return
                raise Conflict(
                    f"collection {name!r} already exists; pick another name or add to it"
                )
            now = datetime.now(UTC).isoformat(timespec="seconds")
            db.execute(
                "INSERT INTO collections (name, embed_model, created_at) VALUES (?, ?, ?)",
                (name, embed_model, now),
            )

    def embed_model(self, name: str) -> str | None:
        rows = self._query("SELECT embed_model FROM collections WHERE name=?", (name,))
        return rows[0][0] if rows else None

    def generation(self, name: str) -> int | None:
        rows = self._query("SELECT generation FROM collections WHERE name=?", (name,))
        return int(rows[0][0]) if rows else None

    def collections(self) -> list[Collection]:
        rows = self._query(
            "SELECT c.name, c.embed_model,"
            " (SELECT COUNT(*) FROM documents d WHERE d.collection=c.name),"
            " (SELECT COUNT(*) FROM chunks k WHERE k.collection=c.name)"
            " FROM collections c ORDER BY c.name"
        )
        return [Collection(name=n, embed_model=m, documents=d, chunks=k) for n, m, d, k in rows]

    def delete_collection(self, name: str) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM collections WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"collection {name!r} not found; see `hearth docs collections`")

    # documents -------------------------------------------------------------------
    def find(self, collection: str, source: str) -> tuple[Document, str] | None:
        """The document added from `source` and its content hash, if any."""
        rows = self._query(
            _DOC_SELECT + " WHERE d.collection=? AND d.source=?", (collection, source)
        )
        return (_doc(rows[0]), rows[0][-1]) if rows else None

    def documents(self, collection: str) -> list[Document]:
        rows = self._query(_DOC_SELECT + " WHERE d.collection=? ORDER BY d.file", (collection,))
        return [_doc(r) for r in rows]

    def known_vectors(self, collection: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of chunks already in the collection, by text hash (re-used, not re-embedded)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            marks = ",".join("?" * len(part))
            for h, blob in self._query(
                f"SELECT hash, vector FROM chunks WHERE collection=? AND hash IN ({marks})",
                (collection, *part),
            ):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_document(
        self,
        collection: str,
        source: str,
        file: str,
        sha256: str,
        kind: str,
        title: str | None,
        pages: int | None,
        size: int,
        chunks: Sequence[ChunkRecord],
    ) -> Document:
        """Add or replace the document from `source` with its chunks, in one transaction."""
        doc_id = document_id(collection, source)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._tx() as db:
            if (
                db.execute("SELECT 1 FROM collections WHERE name=?", (collection,)).fetchone()
                is None
            ):
                raise NotFound(f"collection {collection!r} not found")
            db.execute("DELETE FROM documents WHERE id=?", (doc_id,))
            db.execute(
                "INSERT INTO documents (id, collection, source, file, sha256, kind, title, pages,"
                " bytes, added_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (doc_id, collection, source, file, sha256, kind, title, pages, size, now),
            )
            db.executemany(
                "INSERT INTO chunks (document_id, collection, ord, text, page, anchor, hash, vector)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        doc_id,
                        collection,
                        i,
                        c.text,
                        c.page,
                        c.anchor,
                        text_hash(c.text),
                        np.asarray(c.vector, dtype=np.float32).tobytes(),
                    )
                    for i, c in enumerate(chunks)
                ],
            )
            db.execute("UPDATE collections SET generation=generation+1 WHERE name=?", (collection,))
            db.execute("DELETE FROM lexical_postings WHERE collection=?", (collection,))
        return Document(
            id=doc_id,
            file=file,
            pages=pages,
            chunks=len(chunks),
            bytes=size,
            added_at=now,
            source=source,
        )

    def delete_document(self, collection: str, doc: str) -> Document:
        """Delete a document (by id, source or file name) and all its chunks."""
        with self._tx() as db:
            rows = db.execute(
                _DOC_SELECT + " WHERE d.collection=? AND (d.id=? OR d.source=? OR d.file=?)",
                (collection, doc, doc, doc),
            ).fetchall()
            if not rows:
                raise NotFound(
                    f"document {doc!r} not found in collection {collection!r}; see `hearth docs list`"
                )
            if len(rows) > 1:
                raise Conflict(f"{doc!r} names {len(rows)} documents; remove one by its id")
            db.execute("DELETE FROM documents WHERE id=?", (rows[0][0],))
            db.execute("UPDATE collections SET generation=generation+1 WHERE name=?", (collection,))
            db.execute("DELETE FROM lexical_postings WHERE collection=?", (collection,))
        return _doc(rows[0])

    def load(self, collection: str) -> CollectionData:
        """All chunks of a collection with their vectors, read in one snapshot."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                gen = self._db.execute(
                    "SELECT generation FROM collections WHERE name=?", (collection,)
                ).fetchone()
                rows = self._db.execute(
                    "SELECT k.id, k.text, k.page, k.anchor, k.document_id, d.file, k.vector"
                    " FROM chunks k JOIN documents d ON d.id=k.document_id"
                    " WHERE k.collection=? ORDER BY k.id",
                    (collection,),
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        if gen is None:
            raise NotFound(f"collection {collection!r} not found")
        vectors = (
            np.stack([np.frombuffer(r[6], dtype=np.float32) for r in rows])
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        return CollectionData(
            generation=int(gen[0]),
            chunk_ids=np.asarray([r[0] for r in rows], dtype=np.int64),
            texts=[r[1] for r in rows],
            pages=[r[2] for r in rows],
            anchors=[r[3] for r in rows],
            document_ids=[r[4] for r in rows],
            files=[r[5] for r in rows],
            vectors=vectors,
        )

    # lexical index ---------------------------------------------------------------
    def load_lexical(self, collection: str, generation: int, chunks: int) -> Postings | None:
        """The saved BM25 postings of `collection` if built from this generation, else None."""
        rows = self._query(
            "SELECT terms, docs, tfs, dfs, lengths FROM lexical_postings"
            " WHERE collection=? AND generation=? AND chunks=?",
            (collection, generation, chunks),
        )
        if not rows:
            return None
        terms, docs, tfs, dfs, lengths = rows[0]
        df = np.frombuffer(dfs, dtype=np.uint32)
        return Postings(
            terms=json.loads(terms),
            docs=np.frombuffer(docs, dtype=np.int32),
            tfs=np.frombuffer(tfs, dtype=np.uint16).astype(np.float32),
            offsets=np.concatenate([[0], np.cumsum(df, dtype=np.int64)]),
            lengths=np.frombuffer(lengths, dtype=np.float32),
        )

    def save_lexical(self, collection: str, generation: int, postings: Postings) -> bool:
        """Save the postings built from `generation`; a no-op (False) if it is already stale."""
        with self._tx() as db:
            row = db.execute(
                "SELECT generation FROM collections WHERE name=?", (collection,)
            ).fetchone()
            if row is None or int(row[0]) != generation:
                return False
            db.execute(
                "INSERT OR REPLACE INTO lexical_postings"
                " (collection, generation, chunks, terms, docs, tfs, dfs, lengths)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    collection,
                    generation,
                    len(postings.lengths),
                    json.dumps(postings.terms, ensure_ascii=False),
                    np.asarray(postings.docs, dtype=np.int32).tobytes(),
                    np.minimum(postings.tfs, 65535).astype(np.uint16).tobytes(),
                    np.diff(postings.offsets).astype(np.uint32).tobytes(),
                    np.asarray(postings.lengths, dtype=np.float32).tobytes(),
                ),
            )
        return True


_DOC_SELECT = (
    "SELECT d.id, d.file, d.pages, (SELECT COUNT(*) FROM chunks k WHERE k.document_id=d.id),"
    " d.bytes, d.added_at, d.source, d.sha256 FROM documents d"
)


def _doc(row: tuple) -> Document:
    return Document(
        id=row[0],
        file=row[1],
        pages=row[2],
        chunks=row[3],
        bytes=row[4],
        added_at=row[5],
        source=row[6],
    )
