"""Transcription by URL through yt-dlp, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from speech_media import Clip, word_error_rate

from hearth.api.speech import TranscribeDone, TranscribeProgress, TranscribeRequest, Transcript
from hearth.config import Settings
from hearth.errors import DownloadError, InvalidInput, UnsupportedMedia
from hearth.speech import SpeechService

# The real CLI; SIGINT gets Python's usual handler even when this test runs in a background
# job that ignores it (as non-interactive shells do for `cmd &`).
CLI = [
    "-c",
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from hearth.cli.main import main; main()",
]

CAPTIONS = """WEBVTT

00:00:00.000 --> 00:00:03.500
Captions written by the site.

00:00:03.500 --> 00:00:06.000
They win over recognition.
"""


@pytest.fixture(scope="module")
def site(media_server: str, media_dir: Path, video_clip: Clip) -> str:
    """A page with a video and an English caption track, and a page with no media."""
    (media_dir / "report.en.vtt").write_text(CAPTIONS)
    (media_dir / "watch.html").write_text(
        "<html><head><title>Weekly report</title></head><body>"
        '<video controls><source src="report.mp4" type="video/mp4">'
        '<track kind="captions" src="report.en.vtt" srclang="en" label="English"></video>'
        "</body></html>"
    )
    (media_dir / "about.html").write_text("<html><body><p>No media here.</p></body></html>")
    return media_server


def run(
    service: SpeechService, url: str, **fields: object
) -> tuple[list[TranscribeProgress], Transcript]:
    events = list(service.transcribe(url, TranscribeRequest(**fields)))  # type: ignore[arg-type]
    assert isinstance(events[-1], TranscribeDone)
    return events[:-1], events[-1].result  # type: ignore[return-value]


def test_direct_media_link(speech: SpeechService, site: str, speech_clip: Clip) -> None:
    progress, result = run(speech, f"{site}/report.wav", language="en")
    assert word_error_rate(speech_clip.text, result.text) <= 0.2, result.text
    downloads = [p for p in progress if p.stage == "download"]
    assert (
        downloads
        and downloads[-1].completed == downloads[-1].total == speech_clip.path.stat().st_size
    )
    assert list(speech.work_root.iterdir()) == []


def test_page_with_captions_uses_them(speech: SpeechService, site: str) -> None:
    progress, result = run(speech, f"{site}/watch.html")
    assert result.source == "captions"
    assert result.language == "en"
    assert [s.text for s in result.segments] == [
        "Captions written by the site.",
        "They win over recognition.",
    ]
    assert "00:00:03,500 --> 00:00:06,000" in result.srt
    assert result.title and "Weekly report" in result.title
    assert not any(p.stage == "transcribe" for p in progress)


def test_page_with_captions_never_recognises_the_video(
    speech: SpeechService, site: str, video_clip: Clip
) -> None:
    _, result = run(speech, f"{site}/watch.html", captions="never", language="en")
    assert result.source == "speech"
    assert word_error_rate(video_clip.text, result.text) <= 0.2
    assert list(speech.work_root.iterdir()) == []


def test_captions_only_in_another_language_fails(speech: SpeechService, site: str) -> None:
    with pytest.raises(UnsupportedMedia, match=r"has no captions in 'de' \(it has en\)"):
        run(speech, f"{site}/watch.html", captions="only", language="de")
    assert list(speech.work_root.iterdir()) == []


def test_missing_url(speech: SpeechService, site: str) -> None:
    with pytest.raises(DownloadError, match=r"cannot download .*404"):
        run(speech, f"{site}/missing.mp4")
    assert list(speech.work_root.iterdir()) == []


def test_page_without_media(speech: SpeechService, site: str) -> None:
    with pytest.raises(UnsupportedMedia, match="no audio or video found at"):
        run(speech, f"{site}/about.html")


def test_url_that_is_not_media(speech: SpeechService, site: str, media_dir: Path) -> None:
    (media_dir / "notes.txt").write_text("plain words, not sound\n" * 50)
    with pytest.raises(UnsupportedMedia, match=f"cannot read {site}/notes.txt: not an audio"):
        run(speech, f"{site}/notes.txt")
    with pytest.raises(UnsupportedMedia, match=f"{site}/report.en.vtt has no audio track"):
        run(speech, f"{site}/report.en.vtt", captions="never")
    assert list(speech.work_root.iterdir()) == []


def test_unreachable_server(speech: SpeechService) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot download"):
        run(speech, f"http://127.0.0.1:{port}/talk.mp4")


def test_fetch_takes_only_http_urls(tmp_path: Path) -> None:
    from hearth.speech.fetch import fetch

    with pytest.raises(InvalidInput, match="not an http"):
        list(fetch("ftp://127.0.0.1/a.mp3", tmp_path))


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves a large WAV very slowly, so a download is still running when it is stopped."""

    size = 4_000_000

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(self.size))
        self.end_headers()

    def do_GET(self) -> None:
        self.do_HEAD()
        try:
            for _ in range(self.size // 8000):
                self.wfile.write(b"\0" * 8000)
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/long.wav"
    server.shutdown()
    server.server_close()


def test_stopping_a_download_removes_its_files(speech: SpeechService, slow_server: str) -> None:
    events = speech.transcribe(slow_server)
    for event in events:
        if event.stage == "download" and (event.completed or 0) > 0:  # type: ignore[union-attr]
            break
    assert [p.name for p in speech.work_root.iterdir()]  # the job's folder exists meanwhile
    events.close()
    assert list(speech.work_root.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "hearth-fetch"]


def test_ctrl_c_in_the_cli_removes_temp_files(settings: Settings, slow_server: str) -> None:
    env = {**os.environ, "HEARTH_HOME": str(settings.home), "HEARTH_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, *CLI, "transcribe", slow_server],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    work = settings.home / "tmp" / "speech"
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("media.") for p in work.glob("*/*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert list(work.iterdir()) == []
