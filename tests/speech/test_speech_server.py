"""The transcription routes on a real server: OpenAI's client, NDJSON streaming, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from speech_media import Clip, make_silence, word_error_rate

from hearth.errors import BadGateway
from hearth.speech import Recognizer, SpeechService


@pytest.fixture
def speech_server(services: Any, recognizer: Recognizer, live_server: str) -> str:
    """The live server, its speech service sharing the session's Whisper model."""
    services.speech = SpeechService(services.settings, services.engine, recognizer=recognizer)
    return live_server


def leftovers(services: Any) -> list[Path]:
    """Temporary files the speech service left behind."""
    root: Path = services.speech.work_root
    return list(root.iterdir()) if root.exists() else []


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_openai_client_transcribes(speech_server: str, speech_clip: Clip, services: Any) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{speech_server}/v1", api_key="unused")
    with speech_clip.path.open("rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert word_error_rate(speech_clip.text, result.text) <= 0.2, result.text

    with speech_clip.path.open("rb") as f:
        verbose = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            language="en",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert verbose.language == "english"
    assert verbose.duration == pytest.approx(speech_clip.duration, abs=0.1)
    assert verbose.segments and verbose.segments[0].start == 0.0
    assert verbose.words and len(verbose.words) >= 10

    with speech_clip.path.open("rb") as f:
        srt = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="srt", language="en"
        )
    assert isinstance(srt, str) and srt.startswith("1\n00:00:")
    assert leftovers(services) == []


def test_openai_errors(speech_server: str, speech_clip: Clip, tmp_path: Path) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{speech_server}/v1", api_key="unused", max_retries=0)
    with speech_clip.path.open("rb") as f, pytest.raises(openai.NotFoundError, match="whisper-1"):
        client.audio.transcriptions.create(model="gpt-4o-transcribe-huge", file=f)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    with bad.open("rb") as f, pytest.raises(openai.APIStatusError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert info.value.status_code == 415
    assert "cannot read bad.wav" in info.value.message
    response = httpx.post(
        f"{speech_server}/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"x": b"1"}
    )
    assert response.status_code == 400
    assert "missing `file`" in response.json()["error"]["message"]


def test_native_endpoint_streams_progress_then_the_result(
    speech_server: str, speech_clip: Clip, services: Any
) -> None:
    with speech_clip.path.open("rb") as f:
        response = httpx.post(
            f"{speech_server}/api/transcribe",
            files={"file": ("report.wav", f, "audio/wav")},
            data={"language": "en"},
            timeout=120,
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = ndjson(response)
    progress, final = lines[:-1], lines[-1]
    assert progress and all(set(p) == {"status", "stage", "completed", "total"} for p in progress)
    assert {p["stage"] for p in progress} >= {"decode", "transcribe"}
    assert final["done"] is True
    result = final["result"]
    assert set(result) >= {
        "language",
        "duration",
        "segments",
        "text",
        "translation",
        "translated_segments",
        "summary",
        "srt",
        "vtt",
        "markdown",
    }
    assert result["language"] == "en"
    assert word_error_rate(speech_clip.text, result["text"]) <= 0.2
    assert all(set(s) == {"start", "end", "text"} for s in result["segments"])
    assert result["translation"] is None and result["summary"] is None
    assert result["vtt"].startswith("WEBVTT") and "## Transcript" in result["markdown"]
    assert leftovers(services) == []


def test_native_endpoint_by_url_without_streaming(
    speech_server: str, media_server: str, speech_clip: Clip
) -> None:
    response = httpx.post(
        f"{speech_server}/api/transcribe",
        json={"url": f"{media_server}/{speech_clip.path.name}", "language": "en", "stream": False},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["done"] is True
    assert word_error_rate(speech_clip.text, body["result"]["text"]) <= 0.2


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"json": {"language": "en"}}, 400, "give a `url`"),
        ({"json": {"url": "file:///etc/passwd"}}, 400, "not an http(s) URL"),
        ({"json": {"url": "http://127.0.0.1:9/x", "colour": "red"}}, 400, "unknown field 'colour'"),
        (
            {"json": {"url": "http://127.0.0.1:9/x", "translate_to": "??"}},
            400,
            "not a language code",
        ),
        (
            {"json": {"url": "http://127.0.0.1:9/x", "language": "xx"}},
            400,
            "unknown spoken language 'xx'",
        ),
        ({"files": {"nofile": ("a.txt", b"1")}}, 400, "has no `file` field"),
        ({"files": {"file": ("a.mp3", b"not audio" * 50)}}, 415, "cannot read a.mp3"),
        ({"files": {"file": ("../../x.mp3", b"not audio" * 50)}}, 415, "cannot read x.mp3"),
        ({"files": {"file": ("..", b"not audio" * 50)}}, 415, "cannot read upload"),
        (
            {"content": b"[1, 2]", "headers": {"content-type": "application/json"}},
            400,
            "send JSON like",
        ),
    ],
)
def test_native_endpoint_rejects_bad_input(
    speech_server: str, services: Any, kwargs: dict[str, Any], status: int, message: str
) -> None:
    response = httpx.post(f"{speech_server}/api/transcribe", timeout=60, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert leftovers(services) == []


def test_native_endpoint_silence_and_bad_url(
    speech_server: str, media_server: str, tmp_path: Path
) -> None:
    silence = make_silence(tmp_path / "quiet.wav")
    with silence.open("rb") as f:
        response = httpx.post(
            f"{speech_server}/api/transcribe", files={"file": ("quiet.wav", f)}, timeout=60
        )
    assert response.status_code == 415
    assert response.json() == {"error": "no speech found in quiet.wav: the audio is silent"}
    response = httpx.post(
        f"{speech_server}/api/transcribe", json={"url": f"{media_server}/nothing.mp4"}, timeout=60
    )
    assert response.status_code == 502
    assert "404" in response.json()["error"]


class _HalfTranslator:
    """A plumbing model that translates the word `hello` and fails on anything else."""

    def complete(self, system: str, user: str, max_tokens: int) -> str:
        if user.strip() == "hello":
            return "bonjour"
        raise BadGateway("the engine stopped")

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def context_length(self) -> int:
        return 2048


CAPTIONS = (
    "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nhello\n\n00:00:02.000 --> 00:00:04.000\ngoodbye\n"
)


def test_native_endpoint_reports_untranslated_segments(services: Any, live_server: str) -> None:
    services.speech = SpeechService(
        services.settings, None, text_model=lambda name: _HalfTranslator()
    )
    response = httpx.post(
        f"{live_server}/api/transcribe",
        files={"file": ("talk.vtt", CAPTIONS.encode())},
        data={"translate_to": "fr", "stream": "false"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert [s["text"] for s in result["translated_segments"]] == ["bonjour", "goodbye"]
    assert result["untranslated"] == [1]
    assert result["warnings"] == [
        "1 of 2 segments were not translated into French (the model failed: the engine "
        "stopped); they keep the original text"
    ]
    # Nothing translated at all: a clear error instead of the original passed off as French.
    response = httpx.post(
        f"{live_server}/api/transcribe",
        files={"file": ("talk.vtt", CAPTIONS.replace("hello", "welcome").encode())},
        data={"translate_to": "fr", "stream": "false"},
        timeout=60,
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("the translation into French failed")


class _Mute(_HalfTranslator):
    """A plumbing model that answers nothing (no summary bullets)."""

    def complete(self, system: str, user: str, max_tokens: int) -> str:
        return ""


def test_a_summary_the_model_did_not_write_is_flagged(services: Any, live_server: str) -> None:
    services.speech = SpeechService(services.settings, None, text_model=lambda name: _Mute())
    response = httpx.post(
        f"{live_server}/api/transcribe",
        files={"file": ("talk.vtt", CAPTIONS.encode())},
        data={"summary": "true", "stream": "false"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["summary"]  # the opening sentences stand in ...
    assert any("the model wrote no summary" in w for w in result["warnings"])  # ... and say so


def test_openai_route_joins_chinese_segments_without_spaces(
    services: Any, live_server: str
) -> None:
    services.speech = SpeechService(services.settings, None)
    captions = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n今天天氣很好\n\n"
        "00:00:02.000 --> 00:00:04.000\n我們去公園\n\n00:00:04.000 --> 00:00:05.000\nOK fine\n"
    )
    for fmt in ("json", "text"):
        response = httpx.post(
            f"{live_server}/v1/audio/transcriptions",
            files={"file": ("talk.zh.vtt", captions.encode())},
            data={"model": "whisper-1", "response_format": fmt},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        text = response.json()["text"] if fmt == "json" else response.text.strip()
        assert text == "今天天氣很好我們去公園 OK fine"
