"""BM25 over CJK-aware terms, in memory, with numpy postings.

Built from chunk texts (about 0.3 s per 1,000 paragraphs) and saved in the document
store (`DocumentStore.save_lexical`), so another process loads the raw postings instead of
re-tokenising every text; per-posting BM25 weights are computed on load, so a query is one
gather and one `bincount` over the postings of its terms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hearth.rag.text import lexical_terms

__all__ = ["BM25", "Postings"]


@dataclass(frozen=True)
class Postings:
    """BM25's raw postings, grouped by term id (the i-th term's postings are
    `docs[offsets[i]:offsets[i + 1]]` with term frequencies `tfs[...]`)."""

    terms: list[str]  # term of each id
    docs: np.ndarray  # int32, row of the text in the collection
    tfs: np.ndarray  # float32
    offsets: np.ndarray  # int64, len(terms) + 1
    lengths: np.ndarray  # float32, terms per text


class BM25:
    """Okapi BM25 (k1, b) over `lexical_terms` of each text."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        tfs: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for doc, text in enumerate(texts):
            terms = lexical_terms(text)
            lengths[doc] = len(terms)
            for term, tf in Counter(terms).items():
                tid = vocab.setdefault(term, len(vocab))
                term_ids.append(tid)
                doc_ids.append(doc)
                tfs.append(tf)
        tid_arr = np.asarray(term_ids, dtype=np.int64)
        order = np.argsort(tid_arr, kind="stable")
        df = np.bincount(tid_arr, minlength=len(vocab))
        self._setup(
            vocab,
            np.asarray(doc_ids, dtype=np.int32)[order],
            np.asarray(tfs, dtype=np.float32)[order],
            np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
            lengths,
            k1,
            b,
        )
        self.loaded = False

    @classmethod
    def from_postings(cls, postings: Postings, k1: float = 1.2, b: float = 0.75) -> BM25:
        """An index from saved `postings` (see `postings`), without tokenising any text."""
        self = cls.__new__(cls)
        vocab = dict(zip(postings.terms, range(len(postings.terms)), strict=True))
        self._setup(vocab, postings.docs, postings.tfs, postings.offsets, postings.lengths, k1, b)
        self.loaded = True
        return self

    def postings(self) -> Postings:
        """The raw term postings (what the store saves; k1 and b are applied on load)."""
        return Postings(
            terms=list(self.vocab),
            docs=self._docs,
            tfs=self._tfs,
            offsets=self._offsets,
            lengths=self._lengths,
        )

    def _setup(
        self,
        vocab: dict[str, int],
        docs: np.ndarray,
        tfs: np.ndarray,
        offsets: np.ndarray,
        lengths: np.ndarray,
        k1: float,
        b: float,
    ) -> None:
        if len(offsets) != len(vocab) + 1 or len(docs) != len(tfs) or offsets[-1] != len(docs):
            raise ValueError("inconsistent BM25 postings")
        self.k1, self.b = k1, b
        self.size = len(lengths)
        self.vocab = vocab
        self._docs, self._tfs, self._offsets, self._lengths = docs, tfs, offsets, lengths
        avg = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        norm = k1 * (1.0 - b + b * lengths / avg)
        self._weights = tfs * (k1 + 1.0) / (tfs + norm[docs])
        df = np.diff(offsets).astype(np.float32)
        n = float(self.size)
        self._idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for `query` (float32, shape (size,))."""
        out = np.zeros(self.size, dtype=np.float32)
        tids = [self.vocab[t] for t in set(lexical_terms(query)) if t in self.vocab]
        if not tids or not self.size:
            return out
        docs = []
        weights = []
        for tid in tids:
            a, z = self._offsets[tid], self._offsets[tid + 1]
            docs.append(self._docs[a:z])
            weights.append(self._weights[a:z] * self._idf[tid])
        return np.bincount(
            np.concatenate(docs), weights=np.concatenate(weights), minlength=self.size
        ).astype(np.float32)

    def max_score(self, query: str) -> float:
        """The score of a text that matches every query term at saturation (for coverage).

        Terms the collection lacks count with the highest idf, so a question about something
        absent from the documents gets a low coverage.
        """
        terms = set(lexical_terms(query))
        unseen = np.log1p((self.size + 0.5) / 0.5)
        idf = sum(float(self._idf[self.vocab[t]]) if t in self.vocab else unseen for t in terms)
        return float(idf * (self.k1 + 1.0))
