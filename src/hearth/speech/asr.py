"""Speech recognition with faster-whisper (CTranslate2, int8 on the CPU).

`Recognizer` loads a Whisper model once per folder and keeps the last one loaded; it is
thread-safe and shared by every request of a process (tests share one across modules).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hearth.api.speech import Segment, Word
from hearth.config import Settings
from hearth.errors import CorruptModel, InvalidInput
from hearth.speech.models import resolve_whisper_model

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["Recognition", "Recognizer", "check_spoken_language", "whisper_options"]


def whisper_options(
    language: str | None,
    prompt: str | None = None,
    temperature: float | None = None,
    word_timestamps: bool = False,
) -> dict[str, Any]:
    """The keyword arguments hearth passes to `WhisperModel.transcribe` (shared with bench/)."""
    options: dict[str, Any] = {
        "language": language,
        "vad_filter": True,
        "word_timestamps": word_timestamps,
        "initial_prompt": prompt or None,
    }
    if temperature is not None:
        options["temperature"] = temperature
    return options


@dataclass
class Recognition:
    """A running recognition: the detected language and the segments as they come."""

    language: str
    language_probability: float
    duration: float
    segments: Iterator[Segment]


class Recognizer:
    """faster-whisper models by folder; the most recently used one stays loaded.

    Like the chat models, it is released after `settings.keep_alive` seconds without a
    recognition running (HEARTH_KEEP_ALIVE; -1 keeps it forever).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded: tuple[Path, WhisperModel] | None = None
        self._active = 0  # recognitions running
        self._timer: threading.Timer | None = None

    @property
    def loaded(self) -> Path | None:
        """The folder of the model in memory, if any."""
        loaded = self._loaded
        return loaded[0] if loaded else None

    def _arm(self) -> None:
        """Start the idle countdown (called with the lock held, when nothing runs)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        keep = self.settings.keep_alive
        if self._active or self._loaded is None or keep == float("inf"):
            return
        self._timer = threading.Timer(max(keep, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._active == 0:
                self._loaded = None
            self._timer = None

    def _tracked(self, raw_segments: Any) -> Iterator[Segment]:
        try:
            yield from _convert(raw_segments)
        finally:
            with self._lock:
                self._active -= 1
                self._arm()

    def model(self, name: str | None = None) -> WhisperModel:
        """Load (or reuse) the model named `name` (`base` or a folder path)."""
        path = resolve_whisper_model(self.settings, name)
        with self._lock:
            if self._loaded is not None and self._loaded[0] == path:
                return self._loaded[1]
            from faster_whisper import WhisperModel

            self._loaded = None  # free the old one before loading the next
            try:
                model = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.settings.threads(),
                    num_workers=1,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise CorruptModel(
                    f"cannot load the Whisper model in {path}: {exc}; "
                    "give a CTranslate2 Whisper model folder"
                ) from exc
            self._loaded = (path, model)
            self._arm()
            return model

    def recognize(
        self,
        samples: np.ndarray,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = False,
    ) -> Recognition:
        """Start recognising 16 kHz mono samples; segments are produced lazily.

        The model counts as in use until the segments are exhausted or closed.
        """
        whisper = self.model(model)
        if language and whisper.model.is_multilingual is False and language != "en":
            raise InvalidInput(
                f"this Whisper model is English-only; it cannot recognise {language!r}"
            )
        check_spoken_language(language)
        with self._lock:
            self._active += 1
            self._arm()  # stops the countdown
        try:
            raw_segments, info = whisper.transcribe(
                samples, **whisper_options(language, prompt, temperature, word_timestamps)
            )
        except BaseException as exc:
            with self._lock:
                self._active -= 1
                self._arm()
            if isinstance(exc, ValueError):
                raise InvalidInput(f"speech recognition rejected the request: {exc}") from exc
            raise
        return Recognition(
            language=info.language,
            language_probability=float(info.language_probability),
            duration=float(info.duration),
            segments=self._tracked(raw_segments),
        )

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._loaded = None


def _convert(raw_segments: Any) -> Iterator[Segment]:
    for seg in raw_segments:
        text = seg.text.strip()
        if not text:
            continue
        words = None
        if seg.words:
            words = [
                Word(start=w.start, end=w.end, word=w.word, probability=w.probability)
                for w in seg.words
            ]
        yield Segment(start=round(seg.start, 3), end=round(seg.end, 3), text=text, words=words)


def check_spoken_language(language: str | None) -> None:
    """Reject a spoken-language code Whisper does not know (None: detect it)."""
    if language and language not in _whisper_languages():
        raise InvalidInput(
            f"unknown spoken language {language!r}: use an ISO 639-1 code such as en, zh, ja, "
            "de, or auto"
        )


def _whisper_languages() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)
