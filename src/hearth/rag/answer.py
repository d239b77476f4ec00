"""Grounded answers: numbered sources packed into the model's context, citations checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from hearth.api.docs import Source
from hearth.errors import ContextOverflow

__all__ = [
    "NOT_FOUND",
    "SYSTEM_PROMPT",
    "Packed",
    "check_citations",
    "pack_sources",
    "render_source",
]

NOT_FOUND = "I could not find the answer in the documents."

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources given by the user. "
    "After each claim, cite the sources it comes from by number in square brackets, "
    "like [1] or [2][3]. Do not use outside knowledge. If the sources do not contain "
    f'the answer, reply exactly: "{NOT_FOUND}"'
)

# Tokens kept free for the chat template's own markup (role headers, BOS/EOS).
TEMPLATE_MARGIN = 48

# [1], [1, 2], and the full-width brackets Chinese output often uses: 【1】, ［1］, 【1，2】.
# `lead` is the space before a citation, dropped with the citation when none of it is valid.
_ITEM = r"\d{1,3}(?:\s*[-–~～]\s*\d{1,3})?"  # 2, or a range 2-4
_CITATION = re.compile(
    rf"(?P<lead>[ \t]*)[\[［【]\s*(?P<numbers>{_ITEM}(?:\s*[,，、]\s*{_ITEM})*)\s*[\]］】]"
)


def render_source(source: Source) -> str:
    where = source.file
    if source.page is not None:
        where += f", page {source.page}"
    if source.anchor:
        where += f", {source.anchor}"
    return f"[{source.n}] ({where})\n{source.text}"


def _user_prompt(question: str, rendered: Sequence[str]) -> str:
    return (
        "Sources:\n\n" + "\n\n".join(rendered) + f"\n\nQuestion: {question}\nAnswer with citations:"
    )


class Packed:
    def __init__(self, user: str, fit: int, prompt_tokens: int) -> None:
        self.user = user
        self.fit = fit  # how many sources (1..n, in rank order) are in the prompt
        self.prompt_tokens = prompt_tokens


def pack_sources(
    question: str,
    sources: Sequence[Source],
    count_tokens: Callable[[str], int],
    context_length: int,
    reserve: int,
) -> Packed:
    """Put as many whole sources (in rank order) as fit in `context_length - reserve` tokens.

    Sources are never cut; the ones that do not fit are left out and reported (`fit`).
    Raises ContextOverflow when not even the question and the first source fit.
    """
    budget = context_length - reserve - TEMPLATE_MARGIN
    system_tokens = count_tokens(SYSTEM_PROMPT)
    rendered: list[str] = []
    best = _user_prompt(question, [])
    used = system_tokens + count_tokens(best)
    if used > budget:
        raise ContextOverflow(
            f"the question alone needs {used} tokens but the model's context allows {budget}; "
            "ask a shorter question or use a model with a larger context (num_ctx)"
        )
    for source in sources:
        candidate = _user_prompt(question, [*rendered, render_source(source)])
        tokens = system_tokens + count_tokens(candidate)
        if tokens > budget:
            break
        rendered.append(render_source(source))
        best, used = candidate, tokens
    if sources and not rendered:
        raise ContextOverflow(
            f"not even the best source fits the model's context ({budget} tokens for the prompt); "
            "use a model with a larger context (num_ctx) or add the documents with smaller chunks"
        )
    return Packed(user=best, fit=len(rendered), prompt_tokens=used)


def check_citations(answer: str, given: int) -> tuple[str, list[int]]:
    """The valid citation numbers (1..given) of `answer`, and the answer with its citations
    written as [1][2] (full-width 【1】 and ［1］ too) and the invalid ones removed."""
    cited: set[int] = set()

    def keep(match: re.Match[str]) -> str:
        numbers: list[int] = []
        for item in re.split(r"\s*[,，、]\s*", match.group("numbers")):
            ends = [int(n) for n in re.split(r"\s*[-–~～]\s*", item)]
            if len(ends) == 1:
                numbers += ends
            elif ends[0] <= ends[1] <= given:  # [2-4]: 2, 3 and 4; [1-30] of 5 cites nothing
                numbers += range(ends[0], ends[1] + 1)
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= given]
        cited.update(valid)
        if not valid:
            return ""
        return match.group("lead") + "".join(f"[{n}]" for n in valid)

    cleaned = _CITATION.sub(keep, answer)
    return cleaned, sorted(cited)
