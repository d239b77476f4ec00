"""BLEU and ROUGE against published reference values and reference implementations."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from hearth.errors import InvalidInput
from hearth.tasks.metrics import bleu, is_chinese, lcs_length, rouge, rouge_tokens

# sacrebleu's README example: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944
# hyp_len = 17 ref_len = 18)".
README_REFS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
README_SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]


def test_bleu_matches_sacrebleu_published_example() -> None:
    result = bleu(README_REFS, README_SYS)
    assert result.bleu == pytest.approx(48.53, abs=0.005)
    assert [round(p, 1) for p in result.precisions] == [82.4, 50.0, 45.5, 37.5]
    assert result.brevity_penalty == pytest.approx(0.943, abs=0.0005)
    assert result.ratio == pytest.approx(0.944, abs=0.0005)
    assert (result.hyp_len, result.ref_len) == (17, 18)
    assert result.tokenize == "13a"
    assert "nrefs:2" in result.signature
    assert len(result.lines) == 3
    assert result.lines[0].bleu == pytest.approx(100.0)  # identical to its first reference


def test_bleu_uses_the_chinese_tokenizer_for_chinese() -> None:
    refs = ["我爱北京天安门。", "今天天气很好。"]
    hyps = ["我爱北京。", "今天天气不错。"]
    auto = bleu(refs, hyps)
    assert auto.tokenize == "zh"
    # 13a sees each Chinese sentence as one or two "words" and scores (almost) nothing.
    assert bleu(refs, hyps, tokenize="13a").bleu < auto.bleu
    # Hand count for line 1 (zh splits every character): the hypothesis 我/爱/北/京/。 has
    # all 5 characters in the reference (5/5); of its bigrams 我爱, 爱北, 北京 are in it
    # but 京。 is not (the reference has 京天): 3/4.
    assert auto.lines[0].precisions[:2] == [100.0, 75.0]


def test_rouge_matches_rouge_score_for_english() -> None:
    refs = [
        "The quick brown fox jumps over the lazy dog",
        "Police killed the gunman.",
        "A cat sat on the mat, and the dog sat on the log!",
        "It is raining heavily in Lisbon today",
    ]
    hyps = [
        "The quick brown dog jumps on the log.",
        "The gunman was shot dead by police.",
        "the cat was on the mat and a dog on a log",
        "Sunny weather in Porto",
    ]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    result = rouge(refs, hyps)
    assert result.tokenize == "word"
    expected = [scorer.score(r, h) for r, h in zip(refs, hyps, strict=True)]
    for line, ref in zip(result.lines, expected, strict=True):
        for key in ("rouge1", "rouge2", "rougeL"):
            mine = getattr(line, key)
            assert mine.precision == pytest.approx(ref[key].precision, abs=1e-12)
            assert mine.recall == pytest.approx(ref[key].recall, abs=1e-12)
            assert mine.f1 == pytest.approx(ref[key].fmeasure, abs=1e-12)
    assert result.rouge1 == pytest.approx(sum(e["rouge1"].fmeasure for e in expected) / 4)
    assert result.rougeL == pytest.approx(sum(e["rougeL"].fmeasure for e in expected) / 4)
    assert result.lines[3].rouge2.f1 == 0.0


def test_rouge_is_character_level_for_chinese() -> None:
    # Hand computed. Reference 我爱北京天安门 (7 characters), hypothesis 我爱北京 (4).
    # ROUGE-1: overlap 4, P 4/4, R 4/7, F1 = 2*(4/7)/(1+4/7) = 8/11.
    # ROUGE-2: hypothesis bigrams 我爱 爱北 北京 all in the reference's 6: P 1, R 1/2, F1 2/3.
    # ROUGE-L: LCS 我爱北京 = 4 -> same as ROUGE-1, 8/11. Punctuation is not a token.
    result = rouge(["我爱北京天安门。"], ["我爱北京！"])
    assert result.tokenize == "char"
    line = result.lines[0]
    assert line.rouge1.f1 == pytest.approx(8 / 11)
    assert line.rouge2.precision == pytest.approx(1.0)
    assert line.rouge2.recall == pytest.approx(0.5)
    assert line.rouge2.f1 == pytest.approx(2 / 3)
    assert line.rougeL.f1 == pytest.approx(8 / 11)
    # Reordered characters: ROUGE-1 perfect, ROUGE-L only the LCS (北京天安 = 4 of 6).
    swapped = rouge(["北京天安我爱"], ["我爱北京天安"]).lines[0]
    assert swapped.rouge1.f1 == pytest.approx(1.0)
    assert swapped.rougeL.f1 == pytest.approx(4 / 6)


def test_tokens_and_detection() -> None:
    assert rouge_tokens("我爱 Python 编程3次!", "char") == [
        "我",
        "爱",
        "python",
        "编",
        "程",
        "3",
        "次",
    ]
    assert rouge_tokens("Don't STOP-me_now", "word") == ["don", "t", "stop", "me", "now"]
    assert is_chinese(["今天天气很好", "hello"])
    assert not is_chinese(["The weather is fine today, 很好"])
    assert not is_chinese(["", "  "])
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert lcs_length([], ["a"]) == 0


def test_word_override_on_chinese_and_char_override_on_english() -> None:
    assert rouge(["我爱北京"], ["我爱北京"], tokenize="word").tokenize == "word"
    assert rouge(["abc"], ["abd"], tokenize="char").lines[0].rouge1.f1 == 0.0  # one token each


@pytest.mark.parametrize("metric", [bleu, rouge])
def test_bad_input_is_a_clear_error(metric: object) -> None:
    fn = metric  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="2 lines but hypotheses have 1"):
        fn(["a b c", "d e f"], ["a b c"])  # type: ignore[operator]
    with pytest.raises(InvalidInput, match="no hypotheses"):
        fn(["a"], [])  # type: ignore[operator]
    with pytest.raises(InvalidInput, match="no references"):
        fn([], ["a"])  # type: ignore[operator]
    with pytest.raises(InvalidInput, match="every hypothesis line is empty"):
        fn(["a", "b"], ["", " "])  # type: ignore[operator]
    with pytest.raises(InvalidInput, match="every reference line is empty"):
        fn(["", ""], ["a", "b"])  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=r"unknown .* tokenizer"):
        fn(["a"], ["a"], tokenize="klingon")  # type: ignore[operator]


def test_rouge_takes_a_single_reference_set() -> None:
    with pytest.raises(InvalidInput, match="one reference per line"):
        rouge(README_REFS, README_SYS)


def test_an_empty_line_scores_zero_without_failing_the_corpus() -> None:
    result = rouge(["the cat", "a dog"], ["the cat", ""])
    assert result.lines[1].rouge1.f1 == 0.0
    assert result.rouge1 == pytest.approx(0.5)
    assert bleu(["the cat sat", "a dog"], ["the cat sat", ""]).lines[1].bleu == 0.0
