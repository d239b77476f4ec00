"""The speech service: a source (file or URL) -> a transcript, with progress events.

    events = speech.transcribe("talk.mp4", TranscribeRequest(translate_to="zh-TW", summary=True))
    for event in events: ...   # TranscribeProgress ..., then one TranscribeDone

Stages: download (URLs) -> decode -> transcribe, or captions instead of the first three
when the site or a file beside the media has them; then, with a model, punctuate ->
translate -> summarize. Temporary files live in one folder removed when the iterator
ends, fails or is closed (Ctrl-C, a client that went away).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from hearth.api.speech import (
    Segment,
    Stage,
    TranscribeDone,
    TranscribeProgress,
    TranscribeRequest,
    Transcript,
)
from hearth.config import Settings
from hearth.errors import InvalidInput, NotFound, UnsupportedMedia
from hearth.speech.asr import Recognizer, check_spoken_language
from hearth.speech.fetch import DownloadProgress, Fetched, fetch, is_url
from hearth.speech.media import Audio, DecodeProgress, decode_audio, is_silent
from hearth.speech.postprocess import (
    EngineTextModel,
    TextModel,
    Translation,
    language_name,
    needs_punctuation,
    normalize_language,
    paragraphs_by_pauses,
    punctuate,
    summarize,
    translate,
)
from hearth.speech.subtitles import (
    join_text,
    parse_captions,
    render_markdown,
    render_srt,
    render_vtt,
)

__all__ = ["NoSpeechFound", "SpeechService", "check_request"]

Event = TranscribeProgress | TranscribeDone
CAPTION_SUFFIXES = (".vtt", ".srt")


class NoSpeechFound(UnsupportedMedia):
    """The media decoded fine but holds no speech."""


class SpeechService:
    """Transcription, translation and summaries of audio, video and URLs.

    `recognizer` (faster-whisper models) and `text_model` (name -> `TextModel`) are passed
    in so tests can share one loaded Whisper model or script the LLM.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Any,
        *,
        recognizer: Recognizer | None = None,
        text_model: Callable[[str], TextModel] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._own_recognizer = recognizer is None
        self.recognizer = recognizer or Recognizer(settings)
        self._text_model = text_model
        self._sweep_stale()

    @property
    def work_root(self) -> Path:
        """Where temporary media lives: HEARTH_HOME/tmp/speech (same disk as the models)."""
        return self.settings.home / "tmp" / "speech"

    def new_workdir(self) -> Path:
        """A fresh private folder for one job's temporary files; the caller removes it."""
        self.work_root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="job-", dir=self.work_root))

    def _sweep_stale(self) -> None:
        """Remove folders a killed process left behind (older than a day, so never a live job's)."""
        try:
            entries = list(self.work_root.iterdir())
        except OSError:
            return
        cutoff = time.time() - 86_400
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)

    def text_model(self, name: str | None) -> TextModel:
        name = name or self.settings.default_model
        if self._text_model is not None:
            return self._text_model(name)
        if self.engine is None:
            raise InvalidInput("post-processing needs a language model, and no engine is running")
        return EngineTextModel(self.engine, name)

    def close(self) -> None:
        if self._own_recognizer:
            self.recognizer.close()

    # The pipeline -----------------------------------------------------------

    def transcribe(
        self,
        source: str | Path,
        request: TranscribeRequest | None = None,
        *,
        whisper_model: str | None = None,
    ) -> Iterator[Event]:
        """Transcribe `source` (a path or an http(s) URL); yields progress, then the result."""
        request = request or TranscribeRequest()
        spoken, target = check_request(request)
        if request.model or request.summary or target or request.punctuate:
            # An unknown model fails now, not after minutes of recognition.
            self.text_model(request.model).context_length()
        workdir = self.new_workdir()
        try:
            segments, detected, duration, title, origin = yield from self._recognize(
                str(source), request, spoken, workdir, whisper_model
            )
            shutil.rmtree(workdir, ignore_errors=True)  # media no longer needed
            result = yield from self._post_process(
                segments, request, detected, target, duration, title, origin
            )
            yield TranscribeDone(result=result)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _recognize(
        self,
        source: str,
        request: TranscribeRequest,
        spoken: str | None,
        workdir: Path,
        whisper_model: str | None,
    ) -> Generator[Event, None, tuple[list[Segment], str, float, str | None, str]]:
        title: str | None = None
        segments: list[Segment]
        media: Path
        if is_url(source):
            fetched: Fetched | None = None
            for event in fetch(source, workdir, language=spoken, captions=request.captions):
                if isinstance(event, DownloadProgress):
                    yield TranscribeProgress(
                        status=event.status,
                        stage="download",
                        completed=event.completed,
                        total=event.total,
                    )
                else:
                    fetched = event
            if fetched is None:
                raise UnsupportedMedia(f"nothing to transcribe at {source}")
            title = fetched.title
            if fetched.captions is not None:
                yield _progress("using the site's captions", "download", None, None)
                return self._from_captions(
                    fetched.captions, fetched.captions_language, spoken, fetched.duration, title
                )
            assert fetched.media is not None
            media = fetched.media
        else:
            media = Path(source).expanduser()
            if not media.exists():
                raise NotFound(
                    f"{source} does not exist: give a path to an audio or video file, or a URL"
                )
            if media.suffix.lower() in CAPTION_SUFFIXES:
                segments = _read_captions(media)
                return self._from_captions(
                    segments, _caption_language(media), spoken, None, media.stem
                )
            title = media.stem
            if request.captions != "never":
                sidecar = find_sidecar_captions(media, spoken)
                if sidecar is not None:
                    yield _progress(f"using captions from {sidecar.name}", "decode", None, None)
                    return self._from_captions(
                        _read_captions(sidecar), _caption_language(sidecar), spoken, None, title
                    )
            if request.captions == "only":
                raise NotFound(
                    f"no captions found beside {media.name} (looked for {media.stem}.vtt / .srt): "
                    "use --captions auto to recognise the speech"
                )

        audio: Audio | None = None
        shown = source if is_url(source) else media.name
        last: DecodeProgress | None = None
        for item in decode_audio(media, shown):
            if isinstance(item, DecodeProgress):
                if last is not None:
                    yield _progress("decoding audio", "decode", last.completed, last.total)
                last = (
                    item  # the final one waits for the silence check: an HTTP status, not a stream
                )
            else:
                audio = item
        assert audio is not None
        title = audio.title or title
        duration = audio.duration
        if is_silent(audio.samples):
            raise NoSpeechFound(f"no speech found in {shown}: the audio is silent")
        if last is not None:
            yield _progress("decoding audio", "decode", last.completed, last.total)

        yield _progress("loading the speech model", "transcribe", 0, duration)
        recognition = self.recognizer.recognize(
            audio.samples,
            model=whisper_model,
            language=spoken,
            prompt=request.prompt,
            temperature=request.temperature,
            word_timestamps=request.word_timestamps,
        )
        del audio
        status = f"transcribing ({language_name(recognition.language)})"
        segments = []
        yield _progress(status, "transcribe", 0, duration)
        for seg in recognition.segments:
            # Whisper's timestamps are coarse and may overshoot the end of the audio.
            end = min(seg.end, duration)
            seg = seg.model_copy(update={"start": min(seg.start, end), "end": end})
            segments.append(seg)
            yield _progress(status, "transcribe", min(seg.end, duration), duration)
        yield _progress(status, "transcribe", duration, duration)
        if not segments:
            raise NoSpeechFound(
                f"no speech found in {shown}: the voice-activity filter heard nothing to transcribe"
            )
        return segments, recognition.language, duration, title, "speech"

    @staticmethod
    def _from_captions(
        segments: list[Segment],
        caption_language: str | None,
        spoken: str | None,
        duration: float | None,
        title: str | None,
    ) -> tuple[list[Segment], str, float, str | None, str]:
        language = (caption_language or spoken or "und").split("-")[0].lower()
        end = max(s.end for s in segments)
        return segments, language, max(duration or 0.0, end), title, "captions"

    def _post_process(
        self,
        segments: list[Segment],
        request: TranscribeRequest,
        language: str,
        target: str | None,
        duration: float,
        title: str | None,
        origin: str,
    ) -> Generator[Event, None, Transcript]:
        wants_punctuation = request.punctuate
        if wants_punctuation is None:
            wants_punctuation = needs_punctuation(segments) and (
                self.engine is not None or self._text_model is not None
            )
        needs_model = wants_punctuation or target is not None or request.summary
        model = self.text_model(request.model) if needs_model else None
        text = paragraphs_by_pauses(segments)
        if wants_punctuation and model is not None:
            segments, text = yield from _stage(
                punctuate(segments, model), "restoring punctuation", "punctuate"
            )
        translated: list[Segment] | None = None
        translation: str | None = None
        untranslated: list[int] | None = None
        warnings: list[str] = []
        # A transcript already in the target language stays as it is.
        if target is not None and model is not None and target != language:
            done: Translation = yield from _stage(
                translate(segments, model, language, target),
                f"translating to {language_name(target)}",
                "translate",
            )
            translated, untranslated = done.segments, done.untranslated
            translation = paragraphs_by_pauses(translated)
            if untranslated:
                warnings.append(
                    f"{len(untranslated)} of {len(segments)} segments were not translated into "
                    f"{language_name(target)} ({done.reason}); they keep the original text"
                )
        summary: list[str] | None = None
        if request.summary and model is not None:
            extracted: list[int] = []
            summary = yield from _stage(
                summarize(segments, model, target or language, extracted),
                "summarizing",
                "summarize",
            )
            empty = not summary
            if empty:
                summary = [join_text([s.text for s in segments])[:300]]
            if extracted or empty:
                warnings.append(
                    "the model wrote no summary for "
                    + (f"{len(extracted)} part(s) of the transcript" if extracted else "it")
                    + ": those bullets are the transcript's opening sentences, not a summary"
                )
        subtitles = translated or segments
        result = Transcript(
            language=language,
            duration=round(duration, 3),
            segments=segments,
            text=text,
            translation=translation,
            translated_segments=translated,
            untranslated=untranslated,
            summary=summary,
            title=title,
            source=origin,  # type: ignore[arg-type]
            warnings=warnings,
        )
        result.srt = render_srt(subtitles)
        result.vtt = render_vtt(subtitles)
        spoken_name = language_name(language) if language != "und" else "Language unknown"
        result.markdown = render_markdown(
            result, spoken_name, language_name(target) if target else None
        )
        return result


def check_request(request: TranscribeRequest) -> tuple[str | None, str | None]:
    """The spoken language (None: detect it) and the translation target of `request`.

    Raises InvalidInput for a language code that is not one, or that Whisper does not
    know, so that a typo fails before minutes of download and recognition.
    """
    language = normalize_language(request.language, "spoken language")
    target = normalize_language(request.translate_to, "translation language")
    spoken = language.split("-")[0] if language else None
    check_spoken_language(spoken)
    return spoken, target


def _progress(
    status: str, stage: Stage, completed: float | None, total: float | None
) -> TranscribeProgress:
    return TranscribeProgress(status=status, stage=stage, completed=completed, total=total)


def _stage(
    steps: Generator[tuple[int, int], None, Any], status: str, stage: Stage
) -> Generator[Event, None, Any]:
    """Forward a post-processing step's (done, total) counts as progress events."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as stop:
            return stop.value
        yield _progress(status, stage, done, total)


def _read_captions(path: Path) -> list[Segment]:
    try:
        text = path.read_bytes().decode("utf-8-sig", "replace")
    except OSError as exc:
        raise UnsupportedMedia(f"cannot read {path}: {exc.strerror}") from exc
    return parse_captions(text, name=path.name)


def _caption_language(path: Path) -> str | None:
    """`talk.zh-TW.vtt` -> `zh-tw`; `talk.vtt` -> None."""
    parts = path.name.split(".")
    if len(parts) >= 3:
        try:
            return normalize_language(parts[-2])
        except InvalidInput:
            return None
    return None


def find_sidecar_captions(media: Path, language: str | None) -> Path | None:
    """Captions beside `media`: `NAME.LANG.vtt|srt` for the wanted language, else `NAME.vtt|srt`."""
    tagged: list[Path] = []
    untagged: list[Path] = []
    for path in sorted(media.parent.glob(f"{_glob_escape(media.stem)}.*")):
        if path.suffix.lower() not in CAPTION_SUFFIXES or path == media:
            continue
        tag = _caption_language(path)
        if path.stem == media.stem:
            untagged.append(path)  # no language in the name: taken to be the spoken one
        elif tag is not None and (language is None or tag.split("-")[0] == language):
            tagged.append(path)
    ordered = tagged + untagged if language else untagged + tagged
    return ordered[0] if ordered else None


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
