"""hearth.speech: audio, video or a URL -> a punctuated, translated transcript and a summary.

Media fetch (yt-dlp), decoding (PyAV), recognition (faster-whisper) and post-processing
with any hearth model. `SpeechService` is the entry point; the server and the CLI are
thin adapters over it.
"""

from hearth.speech.asr import Recognition, Recognizer
from hearth.speech.models import ensure_bundled_whisper, resolve_whisper_model
from hearth.speech.postprocess import EngineTextModel, TextModel
from hearth.speech.service import NoSpeechFound, SpeechService

__all__ = [
    "EngineTextModel",
    "NoSpeechFound",
    "Recognition",
    "Recognizer",
    "SpeechService",
    "TextModel",
    "ensure_bundled_whisper",
    "resolve_whisper_model",
]
