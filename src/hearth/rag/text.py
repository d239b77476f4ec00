"""Text utilities shared by chunking and lexical search: CJK-aware terms, sentences, token estimates.

Chinese, Japanese and Korean text has no spaces between words, so lexical terms for CJK
runs are single characters plus overlapping character bigrams (a cheap, dictionary-free
stand-in for word segmentation that BM25 handles well); Latin text is split into
lower-cased words and numbers.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["estimate_tokens", "has_cjk", "lexical_terms", "normalize", "split_sentences"]

# CJK ideographs (incl. extension A and compatibility), kana, hangul.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_TERM = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+", re.UNICODE)
_CJK_CHAR = re.compile(f"[{_CJK}]")
_WORD = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)

# A sentence ends after CJK or Latin end punctuation (plus any closing quotes/brackets),
# or at a newline. Latin "." only counts when followed by whitespace (not "3.14", "e.g.x").
_SENTENCE_END = re.compile(
    r"(?<=[。！？；!?;])[」』”’）)\]]*"
    r"|(?<=[.])[\"'”’)\]]*(?=\s)"
    r"|\n+"
)


def normalize(text: str) -> str:
    """NFKC (full-width letters/digits to ASCII, compatibility ideographs) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def has_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


def lexical_terms(text: str) -> list[str]:
    """BM25 terms: CJK unigrams + bigrams, Latin words (normalised, lower case)."""
    terms: list[str] = []
    for run in _TERM.findall(normalize(text)):
        if _CJK_RUN.fullmatch(run):
            terms.extend(run)
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.append(run)
    return terms


def estimate_tokens(text: str) -> int:
    """A cheap token estimate that suits multilingual subword tokenizers.

    About 0.8 tokens per CJK character and 1.3 per Latin word or punctuation mark
    (measured against the multilingual-e5 tokenizer on DRCD and English prose).
    """
    cjk = len(_CJK_CHAR.findall(text))
    rest = len(_WORD.findall(_CJK_CHAR.sub(" ", text)))
    return int(cjk * 0.8 + rest * 1.3 + 0.999)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping the end punctuation with its sentence.

    Splits after 。！？；!?; (and closing quotes), after "." followed by space, and at
    newlines. Empty pieces are dropped; joining the result with "" gives back the text
    minus newlines and surrounding whitespace of each piece.
    """
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end <= start:
            continue
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        start = end
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces
