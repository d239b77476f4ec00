"""Chunking: CJK sentence ends, anchors, overlap, token sizes; lexical terms."""

from __future__ import annotations

import itertools

from hearth.rag.chunking import Section, chunk_sections
from hearth.rag.text import estimate_tokens, lexical_terms, split_sentences


def test_chinese_sentences_split_on_cjk_punctuation() -> None:
    text = "台北是臺灣的首都。你去過嗎？「好！」他說；然後離開\n第二段開始"
    assert split_sentences(text) == [
        "台北是臺灣的首都。",
        "你去過嗎？",
        "「好！」",
        "他說；",
        "然後離開",
        "第二段開始",
    ]


def test_latin_sentences_keep_decimals_and_abbreviations_together() -> None:
    assert split_sentences("Pi is 3.14 roughly. Next one! e.g.x") == [
        "Pi is 3.14 roughly.",
        "Next one!",
        "e.g.x",
    ]


def test_chunks_respect_size_keep_anchor_and_overlap() -> None:
    sentences = [f"第{i}句話的內容比較長一點點。" for i in range(40)]
    chunks = chunk_sections(
        [Section("".join(sentences), page=3, anchor="Slide 3")], max_tokens=48, overlap=16
    )
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.page == 3 and chunk.anchor == "Slide 3"
        assert chunk.tokens <= 48
        assert " " not in chunk.text  # CJK pieces are joined without spaces
    for prev, nxt in itertools.pairwise(chunks):
        last = split_sentences(prev.text)[-1]
        assert nxt.text.startswith(last), (
            "the next chunk repeats the previous chunk's last sentence"
        )
    assert chunks[0].text.startswith("第0句")
    # every sentence appears in some chunk
    for s in sentences:
        assert any(s in c.text for c in chunks)


def test_chunks_never_cross_sections() -> None:
    chunks = chunk_sections(
        [Section("Intro text.", anchor="A"), Section("Body text here.", anchor="A > B", page=2)],
        max_tokens=200,
    )
    assert [(c.text, c.anchor, c.page) for c in chunks] == [
        ("Intro text.", "A", None),
        ("Body text here.", "A > B", 2),
    ]


def test_over_long_sentence_is_cut_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    chunks = chunk_sections([Section(text)], max_tokens=50, overlap=0)
    assert len(chunks) > 3
    assert all(c.tokens <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_lexical_terms_mix_cjk_bigrams_and_latin_words() -> None:
    assert lexical_terms("臺灣ＡＢＣ是 Hello-World 2024年") == [
        "臺",
        "灣",
        "臺灣",
        "abc",
        "是",
        "hello",
        "world",
        "2024",
        "年",
    ]


def test_token_estimate_is_in_the_right_range() -> None:
    assert 5 <= estimate_tokens("台北是臺灣的首都。") <= 12
    assert 8 <= estimate_tokens("The quick brown fox jumps over the lazy dog.") <= 16
