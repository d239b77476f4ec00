"""Documents / RAG API types: collections, documents, ingest progress, search and ask."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AddResult",
    "AskChunk",
    "AskRequest",
    "AskResponse",
    "Collection",
    "CollectionList",
    "CreateCollectionRequest",
    "Document",
    "DocumentList",
    "FileError",
    "IngestProgress",
    "RetrievalReport",
    "SearchRequest",
    "SearchResponse",
    "Source",
    "UrlsRequest",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Collection(BaseModel):
    name: str
    documents: int
    chunks: int
    embed_model: str


class CollectionList(BaseModel):
    collections: list[Collection]


class CreateCollectionRequest(_Strict):
    name: str = Field(pattern=_NAME)
    embed_model: str | None = None


class Document(BaseModel):
    id: str
    file: str
    pages: int | None = None
    chunks: int
    bytes: int
    added_at: str
    source: str = ""  # where it came from: an absolute path, a URL, or upload:<name>


class DocumentList(BaseModel):
    documents: list[Document]


class FileError(BaseModel):
    file: str
    error: str


class AddResult(BaseModel):
    added: list[Document] = Field(default_factory=list)
    skipped: list[Document] = Field(default_factory=list)  # unchanged since last added
    errors: list[FileError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class IngestProgress(BaseModel):
    """One step of an ingest: reading, embedding or writing one file."""

    status: Literal["reading", "embedding", "writing", "added", "skipped", "error"]
    file: str
    completed: int = 0  # chunks embedded so far (status "embedding")
    total: int = 0
    error: str | None = None


class UrlsRequest(_Strict):
    urls: list[str] = Field(min_length=1)


class Source(BaseModel):
    n: int
    file: str
    page: int | None = None
    anchor: str | None = None
    text: str
    score: float
    document_id: str


class SearchRequest(_Strict):
    query: str = Field(min_length=1)
    collection: str = "default"
    k: int = Field(default=5, ge=1, le=100)
    diversity: float = Field(default=0.0, ge=0.0, lt=1.0)  # MMR: 0 = pure relevance


class SearchResponse(BaseModel):
    results: list[Source]


class AskRequest(_Strict):
    question: str = Field(min_length=1)
    collection: str = "default"
    model: str | None = None
    k: int = Field(default=5, ge=1, le=50)
    diversity: float = Field(default=0.0, ge=0.0, lt=1.0)  # MMR: 0 = pure relevance
    stream: bool = True


class AskChunk(BaseModel):
    """One NDJSON line of a streamed answer: sources first, then deltas, then done."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Source] | None = None
    delta: str | None = None
    done: bool | None = None
    answer: str | None = None
    cited: list[int] | None = None
    sources_fit: int | None = None
    not_found: bool | None = None
    error: str | None = None


class AskResponse(BaseModel):
    answer: str
    sources: list[Source]
    cited: list[int]
    sources_fit: int  # how many of the sources fit in the model's context
    not_found: bool = False


class RetrievalReport(BaseModel):
    """`hearth eval retrieval --json`."""

    model_config = ConfigDict(populate_by_name=True)

    recall_at_1: float = Field(alias="recall@1")
    recall_at_5: float = Field(alias="recall@5")
    mrr_at_10: float = Field(alias="mrr@10")
    questions: int
    paragraphs: int
    chunks: int
    index_seconds: float
    embed_seconds: float
    latency_p50_ms: float
    latency_p95_ms: float
    method: str
