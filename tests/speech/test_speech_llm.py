"""Post-processing with the real bundled model (SmolLM2-135M), end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from speech_media import Clip

from hearth.api.speech import TranscribeDone, TranscribeRequest
from hearth.speech import Recognizer, SpeechService


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.mark.slow
def test_punctuate_translate_and_summarize_with_the_bundled_model(
    services: Any, recognizer: Recognizer, speech_clip: Clip
) -> None:
    speech = SpeechService(services.settings, services.engine, recognizer=recognizer)
    request = TranscribeRequest(
        language="en", punctuate=True, translate_to="fr", summary=True, captions="never"
    )
    events = list(speech.transcribe(speech_clip.path, request))
    stages = [e.stage for e in events[:-1]]  # type: ignore[union-attr]
    assert stages.index("transcribe") < stages.index("punctuate") < stages.index("translate")
    assert stages.index("translate") < stages.index("summarize")
    done = events[-1]
    assert isinstance(done, TranscribeDone)
    result = done.result
    # Punctuation can change punctuation and case, never the recognised words.
    plain = SpeechService(services.settings, None, recognizer=recognizer)
    baseline = list(
        plain.transcribe(speech_clip.path, TranscribeRequest(language="en", captions="never"))
    )[-1]
    assert isinstance(baseline, TranscribeDone)
    assert words(result.text) == words(baseline.result.text)
    # One translated segment per segment, with the same timestamps.
    assert result.translated_segments is not None
    assert [(s.start, s.end) for s in result.translated_segments] == [
        (s.start, s.end) for s in result.segments
    ]
    assert all(s.text.strip() for s in result.translated_segments)
    assert result.translation
    # The subtitles carry the translation, with the original timing.
    assert result.translated_segments[0].text in result.srt
    # The summary is bullet points, whatever the tiny model wrote.
    assert isinstance(result.summary, list) and 1 <= len(result.summary) <= 10
    assert all(isinstance(b, str) and b.strip() and "\n" not in b for b in result.summary)
    assert "## Summary" in result.markdown
    assert all(f"- {b}" in result.markdown for b in result.summary)


@pytest.mark.slow
def test_cli_transcribes_and_summarizes(settings: Any, speech_clip: Clip, tmp_path: Path) -> None:
    """The real CLI, in-process: its own services, the bundled Whisper and chat models."""
    from typer.testing import CliRunner

    from hearth.cli.main import app

    runner = CliRunner()
    env = {"HEARTH_HOME": str(settings.home), "HEARTH_NUM_THREADS": "2"}
    out = tmp_path / "report.md"
    result = runner.invoke(
        app,
        ["transcribe", str(speech_clip.path), "--language", "en", "--summary", "-o", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# report\n")
    summary = text.split("## Summary\n\n", 1)[1].split("\n\n", 1)[0]
    assert summary.splitlines() and all(line.startswith("- ") for line in summary.splitlines())
    assert "weekly report" in text.lower()

    srt = runner.invoke(
        app, ["transcribe", str(speech_clip.path), "-l", "en", "-f", "json"], env=env
    )
    assert srt.exit_code == 0, srt.output
    data = json.loads(srt.stdout)
    assert data["language"] == "en" and data["segments"][0]["start"] == 0.0
    assert list((settings.home / "tmp" / "speech").iterdir()) == []


def test_cli_errors_are_one_line(settings: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hearth.cli.main import app

    runner = CliRunner()
    env = {"HEARTH_HOME": str(settings.home)}
    bad = tmp_path / "song.mp3"
    bad.write_text("not audio\n" * 30)
    cases = [
        ([str(bad)], "cannot read song.mp3"),
        ([str(tmp_path / "missing.wav")], "does not exist"),
        ([str(bad), "--format", "docx"], "--format 'docx' is not supported"),
        ([str(bad), "--captions", "maybe"], "--captions 'maybe' is not valid"),
        ([str(bad), "--translate-to", "no such language"], "not a language code"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["transcribe", *args], env=env)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output
        assert "Traceback" not in result.output
    assert "--translate-to" in runner.invoke(app, ["transcribe", "--help"]).output


def test_bad_output_folder_or_language_fails_before_any_work(
    settings: Any, speech_clip: Clip, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from hearth.cli.main import app

    runner = CliRunner()
    env = {"HEARTH_HOME": str(settings.home)}
    out = tmp_path / "out.txt"
    cases = [
        (["-o", str(tmp_path / "missing" / "out.txt")], "the folder"),
        (["--language", "xx", "-o", str(out)], "unknown spoken language 'xx'"),
        (["--language", "english", "-o", str(out)], "not a language code"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["transcribe", str(speech_clip.path), *args], env=env)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert "decoding" not in result.output.lower()  # failed before the media was touched
    assert not (tmp_path / "missing").exists() and not out.exists()
    assert not (settings.home / "tmp" / "speech").exists()


def test_unknown_model_fails_before_recognition(
    services: Any, recognizer: Recognizer, speech_clip: Clip
) -> None:
    from hearth.errors import ModelNotFound

    speech = SpeechService(services.settings, services.engine, recognizer=recognizer)
    events = speech.transcribe(
        speech_clip.path, TranscribeRequest(summary=True, model="nosuchmodel:7b")
    )
    with pytest.raises(ModelNotFound, match="nosuchmodel:7b"):
        next(events)  # before any decoding or recognition
    assert not speech.work_root.exists() or list(speech.work_root.iterdir()) == []
