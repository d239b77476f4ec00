"""Transcription API types: hearth's native `/api/transcribe` and OpenAI's `/v1/audio/...`.

`TranscribeRequest` is also the speech service's own request type; the service yields
`TranscribeProgress` events and ends with a `TranscribeDone` holding a `Transcript`.
The server streams these as NDJSON; the CLI draws them as progress bars.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CaptionsMode",
    "OpenAITranscription",
    "OpenAITranscriptionSegment",
    "OpenAITranscriptionWord",
    "OpenAIVerboseTranscription",
    "Segment",
    "Stage",
    "TranscribeDone",
    "TranscribeProgress",
    "TranscribeRequest",
    "Transcript",
    "Word",
]

Stage = Literal["download", "decode", "transcribe", "punctuate", "translate", "summarize"]
CaptionsMode = Literal["auto", "only", "never"]


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    """A stretch of speech with its times in seconds from the start of the media."""

    start: float
    end: float
    text: str
    words: list[Word] | None = Field(default=None, exclude=True)


class TranscribeRequest(BaseModel):
    """What to transcribe and what to do with the transcript.

    `url` is for the server's JSON body; the CLI and an upload pass the source separately.
    """

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    language: str | None = Field(
        default=None, description="spoken language (ISO code such as en, zh) or auto"
    )
    translate_to: str | None = Field(
        default=None, description="target language of a translation: zh-TW, zh-CN, en, ja, ..."
    )
    summary: bool = False
    model: str | None = Field(default=None, description="hearth model for post-processing")
    punctuate: bool | None = Field(
        default=None,
        description="restore punctuation and paragraphs with the model; default: only when "
        "the transcript has little punctuation",
    )
    captions: CaptionsMode = "auto"
    prompt: str | None = Field(default=None, description="vocabulary hint for recognition")
    temperature: float | None = Field(default=None, ge=0, le=1)
    word_timestamps: bool = Field(
        default=False, description="also time every word (slower); segments are always timed"
    )


class TranscribeProgress(BaseModel):
    status: str
    stage: Stage
    completed: float | None = None
    total: float | None = None


class Transcript(BaseModel):
    """The result of a transcription, with every rendering the clients need."""

    language: str
    duration: float
    segments: list[Segment]
    text: str
    translation: str | None = None
    translated_segments: list[Segment] | None = None
    untranslated: list[int] | None = Field(
        default=None,
        description="indexes of the segments the model did not translate: in "
        "`translated_segments` they keep the original text",
    )
    summary: list[str] | None = None
    srt: str = ""
    vtt: str = ""
    markdown: str = ""
    title: str | None = Field(default=None, description="title of the media, when known")
    source: Literal["speech", "captions"] = "speech"
    warnings: list[str] = Field(
        default_factory=list,
        description="one line per problem with the result, e.g. segments left untranslated",
    )


class TranscribeDone(BaseModel):
    done: Literal[True] = True
    result: Transcript


# OpenAI's shapes -------------------------------------------------------------


class OpenAITranscription(BaseModel):
    text: str


class OpenAITranscriptionWord(BaseModel):
    word: str
    start: float
    end: float


class OpenAITranscriptionSegment(BaseModel):
    id: int
    seek: int = 0
    start: float
    end: float
    text: str
    tokens: list[int] = Field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


class OpenAIVerboseTranscription(BaseModel):
    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[OpenAITranscriptionSegment]
    words: list[OpenAITranscriptionWord] | None = None
