"""Speech fixtures: real synthesized speech (espeak-ng), one shared Whisper model, a media server.

Recognition is the slow part (about real time on two cores), so the clips are short and
one `Recognizer` (one loaded Whisper model, assembled once into a session home) serves
every test of the area.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from speech_media import SENTENCE, Clip, make_video, synthesize, wav_duration

from hearth.config import Settings
from hearth.speech import Recognizer, SpeechService


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-media")


@pytest.fixture(scope="session")
def speech_clip(media_dir: Path) -> Clip:
    path = synthesize(SENTENCE, media_dir / "report.wav")
    return Clip(path, SENTENCE, wav_duration(path))


@pytest.fixture(scope="session")
def video_clip(speech_clip: Clip, media_dir: Path) -> Clip:
    path = make_video(speech_clip.path, media_dir / "report.mp4")
    return Clip(path, speech_clip.text, speech_clip.duration)


@pytest.fixture(scope="session")
def speech_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-home")


@pytest.fixture(scope="session")
def recognizer(speech_home: Path) -> Iterator[Recognizer]:
    """One Whisper model for the whole session (assembled into a session home once)."""
    rec = Recognizer(Settings().with_(home=speech_home, num_threads=2, keep_alive=float("inf")))
    rec.model()
    yield rec
    rec.close()


@pytest.fixture
def speech(settings: Settings, recognizer: Recognizer) -> Iterator[SpeechService]:
    """A speech service with no language model (recognition only), temp files in tmp_path."""
    service = SpeechService(settings, None, recognizer=recognizer)
    yield service
    service.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def media_server(media_dir: Path) -> Iterator[str]:
    """A real HTTP server on a random loopback port serving `media_dir`."""
    handler = functools.partial(_QuietHandler, directory=str(media_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
