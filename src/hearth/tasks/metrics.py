"""BLEU and ROUGE over parallel lines of references and hypotheses.

- BLEU is sacrebleu's corpus BLEU (and sentence BLEU per line, with effective order),
  with the `zh` tokenizer when the text is Chinese and `13a` otherwise.
- ROUGE-1/2/L are computed here. English (and other space-separated text) is scored on
  words: lowercased, split on anything that is not a letter or a digit, no stemming, the
  same tokens as Google's `rouge-score` package gives for English. Chinese is scored on
  characters (each CJK character is a token; runs of Latin letters or digits in it are
  one token each), because Chinese has no spaces and word ROUGE would be meaningless.
  ROUGE-L is the sentence-level LCS F-measure (`rougeL`, not `rougeLsum`). The corpus
  score of each metric is the mean F1 over lines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from hearth.api.tasks import (
    BLEU_TOKENIZERS,
    BleuLine,
    BleuResult,
    RougeLine,
    RougeResult,
    RougeScore,
)
from hearth.errors import InvalidInput, NotFound, UnsupportedMedia

__all__ = [
    "bleu",
    "is_chinese",
    "read_lines",
    "rouge",
    "rouge_tokens",
]

_CJK_CLASS = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]"
_CJK = re.compile(_CJK_CLASS)
# One token per CJK character; a run of other letters or digits is one token.
_CHAR_TOKENS = re.compile(f"{_CJK_CLASS}|(?:(?!{_CJK_CLASS})[^\\W_])+")
_WORD_TOKENS = re.compile(r"[^\W_]+")
# A text is "Chinese" when at least this share of its letters are CJK characters.
CHINESE_SHARE = 0.3


def is_chinese(texts: Sequence[str]) -> bool:
    """True when the texts are mostly Chinese (CJK characters among all letters)."""
    cjk = letters = 0
    for text in texts:
        cjk += len(_CJK.findall(text))
        letters += sum(1 for ch in text if ch.isalnum())
    return letters > 0 and cjk / letters >= CHINESE_SHARE


def read_lines(path: str | Path, what: str) -> list[str]:
    """The lines of a UTF-8 text file (a final newline does not make an empty line)."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(
            f"{what} file {str(p)!r} not found: give the path of a UTF-8 text file, one segment per line"
        )
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMedia(
            f"{what} file {str(p)!r} is not UTF-8 text: convert it to UTF-8"
        ) from exc
    return text.splitlines()


def _check_pair(references: Sequence[Sequence[str]], hypotheses: Sequence[str]) -> None:
    if not hypotheses:
        raise InvalidInput("no hypotheses: give one hypothesis line per reference line")
    if not references or not references[0]:
        raise InvalidInput("no references: give one reference line per hypothesis line")
    for i, refs in enumerate(references):
        if len(refs) != len(hypotheses):
            which = "references" if len(references) == 1 else f"reference set {i + 1}"
            raise InvalidInput(
                f"{which} have {len(refs)} lines but hypotheses have {len(hypotheses)}: "
                "give exactly one hypothesis per reference line"
            )
    if not any(h.strip() for h in hypotheses):
        raise InvalidInput("every hypothesis line is empty: nothing to score")
    if not any(r.strip() for refs in references for r in refs):
        raise InvalidInput("every reference line is empty: nothing to score against")


def _reference_sets(references: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    if not references:
        return [[]]
    if all(isinstance(r, str) for r in references):
        return [list(references)]  # type: ignore[arg-type]
    return [list(refs) for refs in references]


def bleu(
    references: Sequence[str] | Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    tokenize: str = "auto",
) -> BleuResult:
    """Corpus BLEU of `hypotheses` against one or more reference sets (sacrebleu).

    `references` is one list of lines, or a list of reference sets (several references
    per line). `tokenize`: "auto" (zh for Chinese text, else 13a), "word" (13a), or one of
    sacrebleu's offline tokenizers (`BLEU_TOKENIZERS`: 13a, intl, zh, char, none, ja-mecab,
    ko-mecab).
    """
    from sacrebleu.metrics import BLEU

    if tokenize == "word":
        tokenize = "13a"
    if tokenize != "auto" and tokenize not in BLEU_TOKENIZERS:
        raise InvalidInput(
            f"unknown BLEU tokenizer {tokenize!r}: use auto, {', '.join(BLEU_TOKENIZERS)}"
        )
    ref_sets = _reference_sets(references)
    _check_pair(ref_sets, hypotheses)
    if tokenize == "auto":
        tokenize = "zh" if is_chinese([*hypotheses, *ref_sets[0]]) else "13a"
    try:
        corpus_metric = BLEU(tokenize=tokenize)
        line_metric = BLEU(tokenize=tokenize, effective_order=True)
    except (ImportError, RuntimeError) as exc:  # ja-mecab / ko-mecab without their packages
        extra = tokenize.split("-")[0]
        raise InvalidInput(
            f"the BLEU tokenizer {tokenize!r} needs extra packages: "
            f"pip install 'sacrebleu[{extra}]', or use intl"
        ) from exc
    score = corpus_metric.corpus_score(list(hypotheses), ref_sets)
    lines = []
    for i, hyp in enumerate(hypotheses):
        line = line_metric.sentence_score(hyp, [refs[i] for refs in ref_sets])
        lines.append(
            BleuLine(
                bleu=round(line.score, 4),
                precisions=[round(p, 4) for p in line.precisions],
                brevity_penalty=round(line.bp, 4),
            )
        )
    return BleuResult(
        bleu=score.score,
        precisions=list(score.precisions),
        brevity_penalty=score.bp,
        ratio=score.sys_len / score.ref_len if score.ref_len else 0.0,
        hyp_len=score.sys_len,
        ref_len=score.ref_len,
        tokenize=tokenize,
        signature=str(corpus_metric.get_signature()),
        lines=lines,
    )


# ---------------------------------------------------------------------- ROUGE
def rouge_tokens(text: str, mode: Literal["char", "word"]) -> list[str]:
    """The tokens ROUGE compares: words (lowercased) or Chinese characters."""
    pattern = _CHAR_TOKENS if mode == "char" else _WORD_TOKENS
    return pattern.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _score(overlap: int, hyp_total: int, ref_total: int) -> RougeScore:
    precision = overlap / hyp_total if hyp_total else 0.0
    recall = overlap / ref_total if ref_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return RougeScore(precision=precision, recall=recall, f1=f1)


def _rouge_n(ref: list[str], hyp: list[str], n: int) -> RougeScore:
    ref_grams, hyp_grams = _ngrams(ref, n), _ngrams(hyp, n)
    overlap = sum((ref_grams & hyp_grams).values())
    return _score(overlap, sum(hyp_grams.values()), sum(ref_grams.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (O(len(a)*len(b)) time, O(len(b)) memory)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _rouge_l(ref: list[str], hyp: list[str]) -> RougeScore:
    return _score(lcs_length(ref, hyp), len(hyp), len(ref))


def rouge(
    references: Sequence[str] | Sequence[Sequence[str]],
    hypotheses: Sequence[str],
    tokenize: str = "auto",
) -> RougeResult:
    """ROUGE-1, ROUGE-2 and ROUGE-L (F1) per line and as the mean over lines.

    `tokenize`: "auto" (characters for Chinese text, else words), "char" or "word"
    ("zh" is taken as "char" and "13a" as "word", so one option serves both metrics).
    """
    ref_sets = _reference_sets(references)
    if len(ref_sets) != 1:
        raise InvalidInput("ROUGE takes one reference per line: give a single reference file")
    refs = ref_sets[0]
    _check_pair(ref_sets, hypotheses)
    mode: Literal["char", "word"]
    if tokenize == "auto":
        mode = "char" if is_chinese([*hypotheses, *refs]) else "word"
    elif tokenize in {"char", "zh"}:
        mode = "char"
    elif tokenize in {"word", "13a"}:
        mode = "word"
    else:
        raise InvalidInput(
            f"unknown ROUGE tokenizer {tokenize!r}: use auto, char (Chinese) or word"
        )
    lines = []
    for ref_text, hyp_text in zip(refs, hypotheses, strict=True):
        ref, hyp = rouge_tokens(ref_text, mode), rouge_tokens(hyp_text, mode)
        lines.append(
            RougeLine(
                rouge1=_rouge_n(ref, hyp, 1),
                rouge2=_rouge_n(ref, hyp, 2),
                rougeL=_rouge_l(ref, hyp),
            )
        )
    n = len(lines)
    return RougeResult(
        rouge1=sum(line.rouge1.f1 for line in lines) / n,
        rouge2=sum(line.rouge2.f1 for line in lines) / n,
        rougeL=sum(line.rougeL.f1 for line in lines) / n,
        tokenize=mode,
        lines=lines,
    )
