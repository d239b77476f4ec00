"""Fetch media and captions from a URL with yt-dlp (YouTube, the other sites it supports,
or a direct link to a media file) into a folder the caller owns and removes.

yt-dlp reports progress through callbacks, so it runs in a worker thread and `fetch`
turns its callbacks into an iterator. Closing the iterator (Ctrl-C, client gone) makes
the next callback raise inside yt-dlp, which stops the download.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hearth.api.speech import CaptionsMode, Segment
from hearth.errors import DownloadError, HearthError, InvalidInput, UnsupportedMedia
from hearth.speech.subtitles import parse_captions

__all__ = ["DownloadProgress", "Fetched", "fetch", "is_url", "pick_captions"]

_CAPTION_EXTS = ("vtt", "srt")


def is_url(source: str) -> bool:
    return urlparse(source).scheme.lower() in {"http", "https"}


@dataclass(frozen=True)
class DownloadProgress:
    status: str
    completed: float | None = None  # bytes
    total: float | None = None


@dataclass(frozen=True)
class Fetched:
    title: str | None
    media: Path | None  # None when captions were used instead
    captions: list[Segment] | None = None
    captions_language: str | None = None
    duration: float | None = None


class _Stop(Exception):
    """Raised inside yt-dlp's callbacks when the consumer went away."""


class _Logger:
    """Keeps yt-dlp quiet; remembers its last error for our message."""

    def __init__(self) -> None:
        self.last_error = ""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.last_error = msg


def _primary(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()


def pick_captions(info: dict[str, Any], language: str | None) -> tuple[str, dict[str, Any]] | None:
    """The caption track to use for `language` (None: the media's own language), if any.

    Uploaded subtitles win over automatic captions; of automatic captions only the
    original-language track counts (the machine-translated ones are worse than Whisper).
    """
    subtitles: dict[str, list[dict[str, Any]]] = {
        k: v for k, v in (info.get("subtitles") or {}).items() if k != "live_chat"
    }
    media_language = info.get("language")
    automatic: dict[str, list[dict[str, Any]]] = {}
    for key, tracks in (info.get("automatic_captions") or {}).items():
        if key.endswith("-orig"):
            automatic[key.removesuffix("-orig")] = tracks
        elif media_language and key == media_language:
            automatic.setdefault(key, tracks)
    wanted = _primary(language) if language else None
    if wanted is None:
        if media_language:
            wanted = _primary(media_language)
        elif len(subtitles) == 1:
            wanted = _primary(next(iter(subtitles)))
        elif len(automatic) == 1:
            wanted = _primary(next(iter(automatic)))
        else:
            return None
    for tracks_by_lang in (subtitles, automatic):
        for key, tracks in tracks_by_lang.items():
            if _primary(key) != wanted:
                continue
            for ext in _CAPTION_EXTS:
                for track in tracks:
                    if track.get("ext") == ext and track.get("url"):
                        return key, track
    return None


def _no_captions(url: str, info: dict[str, Any], language: str | None) -> str:
    have = sorted(k for k in (info.get("subtitles") or {}) if k != "live_chat")
    if language:
        found = f" (it has {', '.join(have)})" if have else ""
        return (
            f"{url} has no captions in {language!r}{found}: "
            "use --captions auto to recognise the speech"
        )
    if have:
        return f"{url} has captions in {', '.join(have)}: pass --language to pick one"
    return f"{url} has no captions: use --captions auto to recognise the speech"


def _run_ytdlp(
    url: str,
    workdir: Path,
    language: str | None,
    captions: CaptionsMode,
    events: queue.Queue[Any],
    stop: threading.Event,
) -> None:
    import yt_dlp

    logger = _Logger()

    def hook(status: dict[str, Any]) -> None:
        if stop.is_set():
            raise _Stop
        if status.get("status") == "downloading":
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            events.put(DownloadProgress("downloading", status.get("downloaded_bytes"), total))

    options = {
        "logger": logger,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        # Speech needs no pictures: audio alone, else a small video with sound.
        "format": "bestaudio/best[height<=480][acodec!=none]/best",
        "outtmpl": {"default": str(workdir / "media.%(ext)s")},
        "paths": {"home": str(workdir), "temp": str(workdir)},
        "progress_hooks": [hook],
        "socket_timeout": 30,
        "retries": 2,
        "cachedir": False,
        "overwrites": True,
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
            if info is None or stop.is_set():
                raise _Stop
            if info.get("_type") in {"playlist", "multi_video"}:
                raise InvalidInput(f"{url} is a playlist: give the URL of one video")
            if info.get("is_live"):
                raise InvalidInput(f"{url} is a live stream: transcribe it once it has ended")
            title = info.get("title")
            duration = info.get("duration")
            if captions != "never":
                picked = pick_captions(info, language)
                if picked is not None:
                    lang, track = picked
                    events.put(DownloadProgress(f"downloading {lang} captions"))
                    text = ydl.urlopen(track["url"]).read().decode("utf-8", "replace")
                    segments = parse_captions(text, name=f"the {lang} captions of {url}")
                    events.put(Fetched(title, None, segments, lang, duration))
                    return
                if captions == "only":
                    raise UnsupportedMedia(_no_captions(url, info, language))
            events.put(
                DownloadProgress(
                    "downloading", 0, info.get("filesize") or info.get("filesize_approx")
                )
            )
            ydl.process_info(info)
            files = [
                p
                for p in workdir.iterdir()
                if p.name.startswith("media.") and not p.name.endswith(".part")
            ]
            if not files:
                raise DownloadError(
                    f"downloading {url} produced no file: try again or download it yourself"
                )
            events.put(Fetched(title, files[0], None, None, duration))
    except _Stop:
        events.put(None)
    except HearthError as exc:
        events.put(exc)
    except yt_dlp.utils.DownloadError as exc:
        inner = exc.exc_info[1] if exc.exc_info else None
        events.put(None if isinstance(inner, _Stop) else _translate(url, exc, logger.last_error))
    except Exception as exc:  # yt-dlp raises many kinds; each becomes one clear message
        events.put(DownloadError(f"cannot fetch {url}: {exc}"))


def _translate(url: str, exc: Exception, last_error: str) -> HearthError:
    import yt_dlp

    cause = getattr(exc, "exc_info", None)
    inner = cause[1] if cause else None
    if isinstance(inner, yt_dlp.utils.UnsupportedError):
        return UnsupportedMedia(
            f"no audio or video found at {url}: give a page yt-dlp supports or a direct link to a media file"
        )
    detail = (last_error or str(exc)).removeprefix("ERROR: ").strip()
    detail = detail.split(" (caused by", 1)[0]
    detail = re.sub(r"^\[[^\]]+\] [^:]*: ", "", detail)  # yt-dlp's "[generic] name: " prefix
    if "Unsupported URL" in detail:
        return UnsupportedMedia(
            f"no audio or video found at {url}: give a page yt-dlp supports or a direct link to a media file"
        )
    return DownloadError(f"cannot download {url}: {detail}; check the URL and your connection")


def fetch(
    url: str, workdir: Path, *, language: str | None = None, captions: CaptionsMode = "auto"
) -> Iterator[DownloadProgress | Fetched]:
    """Download `url`'s media (or its captions) into `workdir`; yields progress, then a `Fetched`."""
    if not is_url(url):
        raise InvalidInput(f"{url!r} is not an http(s) URL")
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    worker = threading.Thread(
        target=_run_ytdlp,
        args=(url, workdir, language, captions, events, stop),
        daemon=True,
        name="hearth-fetch",
    )
    worker.start()
    try:
        while True:
            try:
                event = events.get(timeout=0.25)
            except queue.Empty:
                if not worker.is_alive() and events.empty():
                    raise DownloadError(
                        f"cannot fetch {url}: the download stopped unexpectedly"
                    ) from None
                continue
            if event is None:
                return
            if isinstance(event, HearthError):
                raise event
            yield event
            if isinstance(event, Fetched):
                return
    finally:
        stop.set()
        worker.join(timeout=35)  # a blocked socket read ends within socket_timeout
