"""Pure logic of the speech area: captions, subtitles, languages, and the LLM steps over a
scripted model (the plumbing; the real model runs in test_speech_llm.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hearth.api.speech import Segment, Transcript
from hearth.errors import BadGateway, InvalidInput, UnsupportedMedia
from hearth.speech.fetch import pick_captions
from hearth.speech.postprocess import (
    TranslationFailed,
    language_name,
    needs_punctuation,
    normalize_language,
    paragraphs_by_pauses,
    parse_bullets,
    punctuate,
    summarize,
    translate,
)
from hearth.speech.service import find_sidecar_captions
from hearth.speech.subtitles import (
    join_text,
    parse_captions,
    render_markdown,
    render_srt,
    render_vtt,
)


class ScriptedModel:
    """A TextModel whose replies come from `reply(system, user)`; words count as tokens."""

    def __init__(self, reply: Callable[[str, str], str], context: int = 4096) -> None:
        self.reply = reply
        self.context = context
        self.calls: list[tuple[str, str, int]] = []

    def complete(self, system: str, user: str, max_tokens: int) -> str:
        self.calls.append((system, user, max_tokens))
        return self.reply(system, user)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def context_length(self) -> int:
        return self.context


def run(steps):  # type: ignore[no-untyped-def]
    """Drive a post-processing step; return (progress events, result)."""
    events = []
    while True:
        try:
            events.append(next(steps))
        except StopIteration as stop:
            return events, stop.value


def segs(*texts: str, gap: float = 0.0) -> list[Segment]:
    out, t = [], 0.0
    for text in texts:
        out.append(Segment(start=t, end=t + 2.0, text=text))
        t += 2.0 + gap
    return out


# Captions and subtitles ---------------------------------------------------------


VTT = """WEBVTT
Kind: captions

00:00:01.000 --> 00:00:03.500 align:start position:0%
<c>Hello</c> &amp; welcome

00:00:03.500 --> 00:00:05.000
to the show.

00:00:05.000 --> 00:00:05.010
to the show.
"""


def test_parse_vtt_strips_tags_and_merges_repeats() -> None:
    cues = parse_captions(VTT)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.5, "Hello & welcome"),
        (3.5, 5.01, "to the show."),
    ]


def test_parse_srt() -> None:
    srt = "1\n00:00:00,500 --> 00:00:02,000\nFirst line\nsecond line\n\n2\n01:00:02,000 --> 01:00:03,250\nLater\n"
    cues = parse_captions(srt)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.5, 2.0, "First line second line"),
        (3602.0, 3603.25, "Later"),
    ]


def test_parse_captions_rejects_text_without_cues() -> None:
    with pytest.raises(UnsupportedMedia, match="holds no captions"):
        parse_captions("just some words\n", name="notes.vtt")


def test_srt_and_vtt_render_monotonic_times() -> None:
    overlapping = [
        Segment(start=0.0, end=2.5, text="one"),
        Segment(start=2.0, end=4.0, text="two"),
        Segment(start=3661.5, end=3662.0, text="three"),
    ]
    srt = render_srt(overlapping)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,500\none\n")
    assert "2\n00:00:02,500 --> 00:00:04,000\ntwo\n" in srt
    assert "01:01:01,500 --> 01:01:02,000" in srt
    vtt = render_vtt(overlapping)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\none\n")
    assert parse_captions(vtt)[1].start == 2.5  # round trip


def test_join_text_spaces_only_between_words() -> None:
    assert join_text(["你好", "世界", "OK", "fine"]) == "你好世界 OK fine"


def test_markdown_has_summary_transcript_and_translation() -> None:
    t = Transcript(
        language="en",
        duration=65,
        segments=segs("Hi."),
        text="Hi.",
        translation="你好。",
        summary=["greets"],
        title="Talk",
    )
    md = render_markdown(t, "English", "Traditional Chinese")
    assert md.startswith("# Talk\n")
    assert "*English, 1:05*" in md
    assert "## Summary\n\n- greets" in md
    assert "## Transcript\n\nHi." in md
    assert "## Translation (Traditional Chinese)\n\n你好。" in md
    assert "Warning" not in md
    t.warnings = ["1 of 1 segments were not translated"]
    md = render_markdown(t, "English", "Traditional Chinese")
    assert "*English, 1:05*\n\n> Warning: 1 of 1 segments were not translated\n\n## Summary" in md


def test_sidecar_captions_prefers_the_wanted_language(tmp_path: Path) -> None:
    media = tmp_path / "talk.mp4"
    media.write_bytes(b"")
    assert find_sidecar_captions(media, None) is None
    (tmp_path / "talk.fr.vtt").write_text(VTT)
    (tmp_path / "talk.srt").write_text(VTT)
    (tmp_path / "other.vtt").write_text(VTT)
    assert find_sidecar_captions(media, "fr") == tmp_path / "talk.fr.vtt"
    assert find_sidecar_captions(media, "en") == tmp_path / "talk.srt"
    assert find_sidecar_captions(media, None) == tmp_path / "talk.srt"


def test_pick_captions_prefers_uploaded_then_original_automatic() -> None:
    info = {
        "language": "en",
        "subtitles": {"de": [{"ext": "vtt", "url": "u-de"}]},
        "automatic_captions": {
            "en-orig": [{"ext": "json3", "url": "j"}, {"ext": "vtt", "url": "u-en"}],
            "fr": [{"ext": "vtt", "url": "u-fr-translated"}],
        },
    }
    assert pick_captions(info, None) == (
        "en-orig".removesuffix("-orig"),
        {"ext": "vtt", "url": "u-en"},
    )
    assert pick_captions(info, "de") == ("de", {"ext": "vtt", "url": "u-de"})
    assert pick_captions(info, "fr") is None  # machine-translated tracks do not count
    assert pick_captions({"subtitles": {"ja": [{"ext": "srt", "url": "s"}]}}, None) == (
        "ja",
        {"ext": "srt", "url": "s"},
    )
    assert pick_captions({"subtitles": {"ja": [], "ko": []}}, None) is None


# Languages ------------------------------------------------------------------------


def test_languages() -> None:
    assert normalize_language("auto") is None
    assert normalize_language(None) is None
    assert normalize_language("zh_TW") == "zh-tw"
    assert "Traditional Chinese" in language_name("zh-TW")
    assert "Simplified Chinese" in language_name("zh-CN")
    assert language_name("en") == "English"
    assert language_name("und") == "the original language"
    with pytest.raises(InvalidInput, match="not a language code"):
        normalize_language("traditional chinese!")


# Punctuation ------------------------------------------------------------------------


RAW = ["so today we talk about rivers", "they carry water to the sea", "and then we stop"]


def test_needs_punctuation() -> None:
    assert needs_punctuation(segs(*RAW * 2))
    assert not needs_punctuation(
        segs("So today we talk. About rivers, they carry water.", "Then we stop.")
    )


def test_punctuate_keeps_words_and_timestamps_and_adds_paragraphs() -> None:
    model = ScriptedModel(
        lambda s, u: (
            "So today, we talk about rivers. They carry water to the sea.\n\nAnd then we stop."
        )
    )
    events, (out, text) = run(punctuate(segs(*RAW), model))
    assert [s.text for s in out] == [
        "So today, we talk about rivers.",
        "They carry water to the sea.",
        "And then we stop.",
    ]
    assert [(s.start, s.end) for s in out] == [(s.start, s.end) for s in segs(*RAW)]
    assert (
        text == "So today, we talk about rivers. They carry water to the sea.\n\nAnd then we stop."
    )
    assert events[0] == (0, 1) and events[-1] == (1, 1)


def test_punctuate_rejects_a_reply_that_rewrites_the_words() -> None:
    model = ScriptedModel(lambda s, u: "Today's lecture covers how rivers flow into oceans.")
    _, (out, _) = run(punctuate(segs(*RAW), model))
    assert [s.text for s in out] == RAW


def test_punctuate_chinese_characters() -> None:
    model = ScriptedModel(lambda s, u: "今天天氣很好，我們去公園吧。")
    _, (out, text) = run(punctuate(segs("今天天氣很好", "我們去公園吧"), model))
    assert [s.text for s in out] == ["今天天氣很好，", "我們去公園吧。"]
    assert text == "今天天氣很好，我們去公園吧。"


def test_punctuate_splits_long_transcripts_into_chunks_that_fit() -> None:
    model = ScriptedModel(lambda s, u: u.capitalize() + ".", context=200)
    many = segs(*(["we keep talking about the river and the sea"] * 30))
    events, (out, _) = run(punctuate(many, model))
    assert len(model.calls) > 1
    assert all(len(user.split()) <= 200 for _, user, _ in model.calls)
    assert events[-1][0] == events[-1][1] == len(model.calls)
    assert out[0].text.startswith("We keep")


# Translation ------------------------------------------------------------------------


def test_translate_numbered_lines_keep_timestamps() -> None:
    def reply(system: str, user: str) -> str:
        assert "Traditional Chinese" in system
        return "\n".join(f"{n}. 譯{n}" for n in range(1, user.count("\n") + 2))

    source = segs("one", "two", "three", gap=1.0)
    _, out = run(translate(source, ScriptedModel(reply), "en", "zh-tw"))
    assert [s.text for s in out.segments] == ["譯1", "譯2", "譯3"]
    assert [(s.start, s.end) for s in out.segments] == [(s.start, s.end) for s in source]
    assert out.untranslated == []


def test_translate_fills_skipped_lines_one_by_one() -> None:
    def reply(system: str, user: str) -> str:
        if "numbered" in system:
            return "Here you go:\n1. uno\n3. tres"
        return f'Translation: "{ {"two": "dos"}[user] }"'.replace("{ ", "{").replace(" }", "}")

    model = ScriptedModel(reply)
    _, out = run(translate(segs("one", "two", "three"), model, "en", "es"))
    assert [s.text for s in out.segments] == ["uno", "dos", "tres"]
    assert len(model.calls) == 2


def test_translate_fails_clearly_when_the_model_translates_nothing() -> None:
    with pytest.raises(TranslationFailed, match=r"into German failed .*no translation"):
        run(translate(segs("one", "two"), ScriptedModel(lambda s, u: ""), "en", "de"))


def test_translate_marks_the_segments_the_model_failed_on() -> None:
    def reply(system: str, user: str) -> str:
        if "numbered" in system:
            raise BadGateway("the engine crashed")  # the group fails: one by one
        if user == "two":
            raise BadGateway("the engine crashed again")
        return {"one": "eins", "three": "drei"}[user]

    _, out = run(translate(segs("one", "two", "three"), ScriptedModel(reply), "en", "de"))
    assert [s.text for s in out.segments] == ["eins", "two", "drei"]
    assert out.untranslated == [1]
    assert out.reason == "the model failed: the engine crashed again"


# Summary ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "Here are the key points:\n- Rivers carry water.\n* They reach the sea.\n",
            ["Rivers carry water.", "They reach the sea."],
        ),
        ("1. **First** point\n2) Second point", ["First point", "Second point"]),
        (
            "Rivers carry water. They reach the sea! Then it ends?",
            ["Rivers carry water.", "They reach the sea!", "Then it ends?"],
        ),
        ("- same\n- same\n- Same\n- other", ["same", "other"]),
    ],
)
def test_parse_bullets(reply: str, expected: list[str]) -> None:
    assert parse_bullets(reply) == expected


def test_parse_bullets_caps_rambling() -> None:
    out = parse_bullets("\n".join(f"- point number {i} " + "word " * 200 for i in range(40)))
    assert len(out) == 10
    assert all(len(b) <= 301 for b in out)


def test_summary_map_reduce_over_a_small_context() -> None:
    def reply(system: str, user: str) -> str:
        if "Merge" in system:
            return "- merged point one\n- merged point two"
        return f"- part about {user.split()[0]}"

    model = ScriptedModel(reply, context=700)
    texts = [f"topic{i} " + "filler words go here " * 10 for i in range(40)]
    events, bullets = run(summarize(segs(*texts), model, "en"))
    maps = [c for c in model.calls if "Merge" not in c[0]]
    reduces = [c for c in model.calls if "Merge" in c[0]]
    assert len(maps) > 1 and reduces
    assert bullets == ["merged point one", "merged point two"]
    assert all(done <= total for done, total in events)
    assert events[-1][0] == events[-1][1]


def test_summary_falls_back_to_sentences_when_the_model_says_nothing() -> None:
    extracted: list[int] = []
    _, bullets = run(
        summarize(
            segs("Rivers carry water. They reach the sea."),
            ScriptedModel(lambda s, u: ""),
            "en",
            extracted,
        )
    )
    assert bullets == ["Rivers carry water.", "They reach the sea."]
    assert extracted == [0]


def test_paragraphs_by_pauses() -> None:
    text = paragraphs_by_pauses(
        [
            Segment(start=0, end=1, text="A."),
            Segment(start=1.2, end=2, text="B."),
            Segment(start=5, end=6, text="C."),
        ]
    )
    assert text == "A. B.\n\nC."
    assert re.fullmatch(r"[^\n]+", paragraphs_by_pauses(segs("x", "y")))


YOUTUBE_AUTO = """WEBVTT
Kind: captions
Language: en

00:00:00.160 --> 00:00:02.790 align:start position:0%
 
hello<00:00:00.480><c> everyone</c><00:00:00.880><c> and</c><00:00:01.040><c> welcome</c>

00:00:02.790 --> 00:00:02.800 align:start position:0%
hello everyone and welcome
 

00:00:02.800 --> 00:00:05.190 align:start position:0%
hello everyone and welcome
to<00:00:03.120><c> the</c><00:00:03.280><c> show</c>

00:00:05.190 --> 00:00:05.200 align:start position:0%
to the show
 
"""


def test_parse_youtube_rolling_auto_captions() -> None:
    cues = parse_captions(YOUTUBE_AUTO)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.16, 2.8, "hello everyone and welcome"),
        (2.8, 5.2, "to the show"),
    ]


def test_summary_that_cannot_shrink_keeps_distinct_points() -> None:
    model = ScriptedModel(
        lambda s, u: "- the same point " + "again " * 30 + "\n- another", context=160
    )
    texts = [f"topic{i} " + "words " * 20 for i in range(12)]
    _, bullets = run(summarize(segs(*texts), model, "en"))
    assert len(bullets) == 2
    assert bullets[1] == "another"


def test_cli_notes_say_what_was_not_recognised_or_translated() -> None:
    from hearth.cli.transcribe import notes

    result = Transcript(language="en", duration=4.0, segments=segs("hello", "goodbye"), text="")
    assert notes(result, "talk.mp4") == []
    result.warnings = ["1 of 2 segments were not translated into French (...)"]
    assert notes(result, "talk.mp4") == [
        "Warning: 1 of 2 segments were not translated into French (...)"
    ]
    result.warnings, result.source = [], "captions"
    assert notes(result, "https://example.org/watch?v=1") == [
        "Note: used the video's captions (en); pass --captions never to run speech recognition"
    ]
    assert notes(result, "talk.en.vtt") == []  # captions were what the user gave
