"""Recognition of real (synthesized) speech from local files, and the errors around it."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import time
from pathlib import Path

import pytest
from speech_media import Clip, make_silence, make_video, word_error_rate

from hearth.api.speech import TranscribeDone, TranscribeProgress, TranscribeRequest, Transcript
from hearth.config import Settings
from hearth.errors import CorruptModel, ModelNotFound, NotFound, UnsupportedMedia
from hearth.speech import NoSpeechFound, Recognizer, SpeechService
from hearth.speech.media import Audio, decode_audio
from hearth.speech.models import (
    BUNDLED_SHA256,
    ensure_bundled_whisper,
    resolve_whisper_model,
    verify_bundled_whisper,
)
from hearth.speech.subtitles import parse_captions

MAX_WER = 0.2


def transcribe(
    service: SpeechService, source: str | Path, **fields: object
) -> tuple[list[TranscribeProgress], Transcript]:
    events = list(service.transcribe(source, TranscribeRequest(**fields)))  # type: ignore[arg-type]
    assert isinstance(events[-1], TranscribeDone)
    progress = [e for e in events[:-1] if isinstance(e, TranscribeProgress)]
    assert len(progress) == len(events) - 1
    return progress, events[-1].result


def assert_srt_sane(srt: str, duration: float) -> None:
    cues = parse_captions(srt)
    assert cues
    last = 0.0
    for cue in cues:
        assert last <= cue.start < cue.end <= duration + 0.05
        last = cue.end


def test_wav_is_transcribed_with_low_word_error_rate(
    speech: SpeechService, speech_clip: Clip
) -> None:
    progress, result = transcribe(speech, speech_clip.path)
    assert result.language == "en"  # detected: no hint given
    assert word_error_rate(speech_clip.text, result.text) <= MAX_WER, result.text
    assert result.source == "speech"
    assert abs(result.duration - speech_clip.duration) < 0.1
    assert_srt_sane(result.srt, result.duration)
    assert result.vtt.startswith("WEBVTT")
    assert result.translation is None and result.summary is None
    # Progress: decode then transcribe, as a percentage of the audio's duration.
    stages = [p.stage for p in progress]
    assert stages.index("decode") < stages.index("transcribe")
    recognition = [p for p in progress if p.stage == "transcribe"]
    done = [p.completed for p in recognition]
    assert done == sorted(done)
    assert (
        recognition[-1].completed
        == recognition[-1].total
        == pytest.approx(result.duration, abs=0.01)
    )
    # The temporary folder is gone.
    assert list(speech.work_root.iterdir()) == []


def test_video_file_is_transcribed(speech: SpeechService, video_clip: Clip) -> None:
    _, result = transcribe(speech, video_clip.path, language="en")
    assert word_error_rate(video_clip.text, result.text) <= MAX_WER, result.text
    assert_srt_sane(result.srt, result.duration)
    assert result.title == "report"


def test_matroska_video_and_word_timestamps(
    speech: SpeechService, speech_clip: Clip, tmp_path: Path
) -> None:
    video = make_video(speech_clip.path, tmp_path / "clip.mkv")
    _, result = transcribe(speech, video, language="en", word_timestamps=True)
    assert word_error_rate(speech_clip.text, result.text) <= MAX_WER
    words = [w for s in result.segments for w in (s.words or [])]
    assert len(words) >= 10
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))


def test_file_without_audio_track(speech: SpeechService, tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "mute.mp4"
    with av.open(str(path), "w") as dst:
        stream = dst.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    with pytest.raises(UnsupportedMedia, match="has no audio track"):
        list(speech.transcribe(path))
    assert list(speech.work_root.iterdir()) == []


def test_unreadable_file(speech: SpeechService, tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 20)
    with pytest.raises(UnsupportedMedia, match=r"cannot read notes\.mp3"):
        list(speech.transcribe(path))


def test_missing_file(speech: SpeechService, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        list(speech.transcribe(tmp_path / "nope.wav"))


def test_silence_is_no_speech(speech: SpeechService, tmp_path: Path) -> None:
    with pytest.raises(NoSpeechFound, match="no speech found"):
        list(speech.transcribe(make_silence(tmp_path / "quiet.wav")))


def test_noise_without_voice_is_no_speech(speech: SpeechService, tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "hum.wav"
    t = np.arange(16000 * 3) / 16000
    tone = (0.05 * np.sin(2 * np.pi * 50 * t) * 32767).astype(np.int16).reshape(1, -1)
    with av.open(str(path), "w") as dst:
        stream = dst.add_stream("pcm_s16le", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            dst.mux(packet)
    with pytest.raises(NoSpeechFound, match="no speech found"):
        list(speech.transcribe(path, TranscribeRequest(language="en")))


def test_captions_file_as_source(speech: SpeechService, tmp_path: Path) -> None:
    path = tmp_path / "talk.en.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nHello there.\n\n2\n00:00:02,500 --> 00:00:04,000\nGoodbye.\n"
    )
    _, result = transcribe(speech, path)
    assert result.source == "captions"
    assert result.language == "en"
    assert [s.text for s in result.segments] == ["Hello there.", "Goodbye."]
    assert result.duration == 4.0


def test_captions_beside_the_media(
    speech: SpeechService, speech_clip: Clip, tmp_path: Path
) -> None:
    media = tmp_path / "lecture.wav"
    shutil.copy(speech_clip.path, media)
    (tmp_path / "lecture.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nFrom the captions file.\n"
    )
    _, result = transcribe(speech, media)
    assert (result.source, result.text) == ("captions", "From the captions file.")
    _, result = transcribe(speech, media, captions="never", language="en")
    assert result.source == "speech"
    assert word_error_rate(speech_clip.text, result.text) <= MAX_WER

    # The CLI says that it used the captions, and how not to.
    from typer.testing import CliRunner

    from hearth.cli.main import app

    run = CliRunner().invoke(
        app, ["transcribe", str(media)], env={"HEARTH_HOME": str(speech.settings.home)}
    )
    assert run.exit_code == 0, run.output
    assert run.stdout == "From the captions file.\n"
    assert run.stderr.endswith(
        "Note: used the captions file beside it (en); pass --captions never to run speech "
        "recognition\n"
    )


def test_captions_only_without_captions(speech: SpeechService, speech_clip: Clip) -> None:
    with pytest.raises(NotFound, match=r"no captions found beside report\.wav"):
        list(speech.transcribe(speech_clip.path, TranscribeRequest(captions="only")))


def test_bad_language_codes(speech: SpeechService, speech_clip: Clip) -> None:
    from hearth.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a language code"):
        list(speech.transcribe(speech_clip.path, TranscribeRequest(translate_to="Klingon!")))
    with pytest.raises(InvalidInput, match="unknown spoken language 'xx'"):
        list(speech.transcribe(speech_clip.path, TranscribeRequest(language="xx")))


def test_closing_early_removes_temp_files(speech: SpeechService, speech_clip: Clip) -> None:
    events = speech.transcribe(speech_clip.path)
    next(events)
    assert len(list(speech.work_root.iterdir())) == 1
    events.close()  # what Ctrl-C or a client disconnect does
    assert list(speech.work_root.iterdir()) == []


# The bundled model -------------------------------------------------------------------


def test_bundled_model_is_assembled_once_and_verified(
    speech_home: Path, recognizer: Recognizer
) -> None:
    settings = Settings().with_(home=speech_home)
    folder = ensure_bundled_whisper(settings)
    stamp = json.loads((folder / "hearth.json").read_text())
    assert (folder / "model.bin").stat().st_size == stamp["size"] == sum(stamp["part_sizes"])
    assert {p.name for p in folder.iterdir()} >= {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    assert stamp["sha256"] == BUNDLED_SHA256
    assert verify_bundled_whisper(settings)
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert ensure_bundled_whisper(settings) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


def test_damaged_model_is_rebuilt(tmp_path: Path) -> None:
    settings = Settings().with_(home=tmp_path)
    folder = ensure_bundled_whisper(settings)
    with (folder / "model.bin").open("r+b") as f:
        f.truncate(1000)
    assert ensure_bundled_whisper(settings) == folder
    assert verify_bundled_whisper(settings)


def test_whisper_model_by_path(speech_home: Path, recognizer: Recognizer, tmp_path: Path) -> None:
    settings = Settings().with_(
        home=tmp_path, whisper_model=str(speech_home / "models/whisper/base")
    )
    assert resolve_whisper_model(settings) == (speech_home / "models/whisper/base").resolve()
    with pytest.raises(ModelNotFound, match=r"not found: use `base` \(bundled\), the name"):
        resolve_whisper_model(settings, str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="is not a CTranslate2 Whisper model"):
        resolve_whisper_model(settings, str(tmp_path / "empty"))
    assert not (tmp_path / "models").exists()  # a path never assembles the bundled model
    # By name: a folder the user put in HEARTH_HOME/models/whisper.
    (tmp_path / "models/whisper/mine").mkdir(parents=True)
    (tmp_path / "models/whisper/mine/model.bin").write_bytes(b"x")
    assert resolve_whisper_model(settings, "mine") == (tmp_path / "models/whisper/mine").resolve()


def test_recognizer_uses_a_model_given_by_path(
    recognizer: Recognizer, speech_home: Path, speech_clip: Clip, settings: Settings
) -> None:
    service = SpeechService(settings, None, recognizer=recognizer)
    path = str(speech_home / "models/whisper/base")
    events = list(
        service.transcribe(speech_clip.path, TranscribeRequest(language="en"), whisper_model=path)
    )
    assert isinstance(events[-1], TranscribeDone)
    assert word_error_rate(speech_clip.text, events[-1].result.text) <= MAX_WER
    assert recognizer.model(path) is recognizer.model("base")  # the same folder: one model


def test_idle_whisper_model_is_released_after_keep_alive(
    speech_home: Path, speech_clip: Clip
) -> None:
    rec = Recognizer(Settings().with_(home=speech_home, num_threads=2, keep_alive=0.2))
    audio = next(a for a in decode_audio(speech_clip.path) if isinstance(a, Audio))
    recognition = rec.recognize(audio.samples, language="en")
    assert next(recognition.segments).text
    time.sleep(0.5)  # longer than keep_alive, but the recognition is still running
    assert rec.loaded is not None
    assert len(list(recognition.segments)) >= 1
    deadline = time.monotonic() + 30
    while rec.loaded is not None:  # idle now: released once keep_alive has passed
        assert time.monotonic() < deadline, "the idle model was never released"
        time.sleep(0.05)
    rec.close()


def _fake_parts(folder: Path) -> list[Path]:
    """Two small model parts and the tokenizer files beside the first."""
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (folder / name).write_text("{}")
    (folder / "model.bin.part1").write_bytes(b"first half|")
    (folder / "model.bin.part2").write_bytes(b"second half")
    return [folder / "model.bin.part1", folder / "model.bin.part2"]


def test_assembly_is_checked_against_the_pinned_digest(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path / "parts")
    settings = Settings().with_(home=tmp_path / "home")
    with pytest.raises(CorruptModel, match=r"has sha256 .*not the pinned d01c3014"):
        ensure_bundled_whisper(settings, parts=parts)  # pinned: the real model's digest
    folder = settings.models_dir / "whisper" / "base"
    assert list(folder.iterdir()) == []  # the bad file is gone, nothing marks it complete

    digest = hashlib.sha256(b"first half|second half").hexdigest()
    assert ensure_bundled_whisper(settings, parts=parts, sha256=digest) == folder
    assert (folder / "model.bin").read_bytes() == b"first half|second half"
    assert json.loads((folder / "hearth.json").read_text())["sha256"] == digest
