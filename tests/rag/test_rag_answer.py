"""Grounded answers: citation checking, and sources packed by the model's own tokenizer."""

from __future__ import annotations

from typing import Any

import pytest

from hearth.api.docs import Source
from hearth.errors import ContextOverflow
from hearth.rag.answer import SYSTEM_PROMPT, TEMPLATE_MARGIN, check_citations, pack_sources


@pytest.mark.parametrize(
    ("answer", "given", "cleaned", "cited"),
    [
        (
            "The ferry leaves at 08:15 [1]. Permits cost 12 euros [2][7]. Moons [9].",
            2,
            "The ferry leaves at 08:15 [1]. Permits cost 12 euros [2]. Moons.",
            [1, 2],
        ),
        ("Both say so [1, 3] and [2，1].", 2, "Both say so [1] and [2][1].", [1, 2]),
        # Full-width brackets, as Chinese answers often write them, become [n].
        (
            "渡輪八點出發【1】，許可證十二歐元［2］【5】。",
            2,
            "渡輪八點出發[1]，許可證十二歐元[2]。",
            [1, 2],
        ),
        ("No citation at all, [0] is none either.", 3, "No citation at all, is none either.", []),
        (
            "Ranges count [2-3]; one past the sources [3–5] or reversed [4-2] counts for nothing.",
            4,
            "Ranges count [2][3]; one past the sources or reversed counts for nothing.",
            [2, 3],
        ),
    ],
)
def test_check_citations(answer: str, given: int, cleaned: str, cited: list[int]) -> None:
    assert check_citations(answer, given) == (cleaned, cited)


def _sources(count: int) -> list[Source]:
    return [
        Source(
            n=n,
            file=f"harbour-{n}.txt",
            page=n,
            text=f"Passage {n}: 渡輪每天早上八點十五分從七號碼頭出發。 The ferry leaves pier 7. "
            * 6,
            score=1.0 / n,
            document_id=f"d{n}",
        )
        for n in range(1, count + 1)
    ]


def test_pack_sources_counts_with_the_models_tokenizer(services: Any) -> None:
    model = services.settings.default_model

    def count(text: str) -> int:
        return len(services.engine.tokenize(model, text))

    question = "When does the ferry leave?"
    sources = _sources(5)
    everything = pack_sources(question, sources, count, 100_000, 0)
    assert everything.fit == 5
    one_source = pack_sources(question, sources[:1], count, 100_000, 0).prompt_tokens
    # Room for the question and about two and a half sources: two go in, whole, in rank order.
    per_source = (everything.prompt_tokens - one_source) // 4
    reserve = 200
    context = one_source + per_source + per_source // 2 + reserve + TEMPLATE_MARGIN
    packed = pack_sources(question, sources, count, context, reserve)
    assert packed.fit == 2, "the sources left out are reported by fit < len(sources)"
    assert packed.prompt_tokens == count(SYSTEM_PROMPT) + count(packed.user)
    assert packed.prompt_tokens <= context - reserve - TEMPLATE_MARGIN
    assert "[1] (harbour-1.txt, page 1)" in packed.user and "[2] (harbour-2.txt" in packed.user
    assert "harbour-3.txt" not in packed.user
    assert packed.user.count(sources[0].text) == 1 and packed.user.count(sources[1].text) == 1
    assert packed.user.rstrip().endswith(f"Question: {question}\nAnswer with citations:")

    # Room for the question but only half a source: an error, never a cut source.
    context = one_source - per_source // 2 + reserve + TEMPLATE_MARGIN
    with pytest.raises(ContextOverflow, match="not even the best source fits"):
        pack_sources(question, sources, count, context, reserve)
