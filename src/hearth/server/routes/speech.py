"""Routes: transcription. Thin adapters over `services.speech` (hearth.speech.SpeechService).

- `POST /api/transcribe`: multipart `file` (+ form fields) or JSON `{"url": ...}`;
  streams NDJSON progress events, then `{"done": true, "result": {...}}`
  (`"stream": false` answers with the last object only).
- `POST /v1/audio/transcriptions`: OpenAI's multipart shape; a converter in front of the
  same service call.

Uploads are spooled to a private temp folder that is removed when the response ends,
fails, or the client goes away.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from hearth.api.speech import (
    OpenAITranscription,
    OpenAITranscriptionSegment,
    OpenAITranscriptionWord,
    OpenAIVerboseTranscription,
    TranscribeDone,
    TranscribeProgress,
    TranscribeRequest,
    Transcript,
)
from hearth.errors import HearthError, InvalidInput, ModelNotFound
from hearth.server.streaming import collect, open_pump, stream_response

__all__ = ["router"]

router = APIRouter(tags=["speech"])

NDJSON = "application/x-ndjson"
_OPENAI_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_WHISPER_ALIASES = {"whisper-1", "whisper", "base", "whisper-base"}
_FORM_FIELDS = {
    "language",
    "translate_to",
    "summary",
    "model",
    "punctuate",
    "captions",
    "prompt",
    "stream",
}


# Request parsing ------------------------------------------------------------------


async def _form(request: Request) -> FormData:
    """The multipart form, also when a middleware relabelled it as JSON.

    The body guard treats every /api/ body as JSON; a multipart body still starts with
    its boundary line, from which the real content type is rebuilt.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await request.form()
    body = await request.body()
    first_line = body.split(b"\r\n", 1)[0]
    if not (first_line.startswith(b"--") and b"form-data" in body[:4096]):
        raise InvalidInput("send a multipart form with a `file` field, or JSON with a `url`")
    boundary = first_line[2:].decode("latin-1")
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", f"multipart/form-data; boundary={boundary}".encode("latin-1")))
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request({**request.scope, "headers": headers}, replay).form()


def _bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise InvalidInput(f"field {name!r} must be true or false, not {value!r}")


def _safe_name(filename: str | None) -> str:
    """The upload's own name (errors and titles show it), made safe as one file name."""
    name = re.sub(r"[^\w.\- ]", "_", Path((filename or "").replace("\\", "/")).name)
    name = name.strip(" .")[-120:]
    return name or "upload"


async def _save_upload(request: Request, upload: UploadFile) -> Path:
    """Copy an uploaded file into a new private temp folder; return its path."""
    folder: Path = request.app.state.services.speech.new_workdir()
    target = folder / _safe_name(upload.filename)

    def copy() -> None:
        upload.file.seek(0)
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)

    try:
        await anyio.to_thread.run_sync(copy)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        await upload.close()
    return target


def _request_from_form(form: FormData) -> TranscribeRequest:
    unknown = sorted(set(form.keys()) - _FORM_FIELDS - {"file"})
    if unknown:
        raise InvalidInput(f"invalid request: unknown field {unknown[0]!r}")
    values: dict[str, Any] = {}
    for key in ("language", "translate_to", "model", "captions", "prompt"):
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            values[key] = value.strip()
    for key in ("summary", "punctuate"):
        raw = form.get(key)
        flag = _bool(raw if isinstance(raw, str) else None, key)
        if flag is not None:
            values[key] = flag
    return _validate(values)


def _validate(values: dict[str, Any]) -> TranscribeRequest:
    try:
        return TranscribeRequest.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "extra_forbidden":
            raise InvalidInput(f"invalid request: unknown field {field!r}") from None
        raise InvalidInput(f"invalid request: field {field!r}: {first.get('msg')}") from None


def _events(
    request: Request, source: str, req: TranscribeRequest, cleanup: Path | None
) -> Iterator[TranscribeProgress | TranscribeDone]:
    """The service's events; the upload folder goes when the iterator ends or is closed."""
    try:
        yield from request.app.state.services.speech.transcribe(source, req)
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def _line(item: Any) -> bytes:
    return (item.model_dump_json(exclude_none=False) + "\n").encode()


def _error_line(exc: HearthError) -> bytes:
    return (json.dumps({"error": exc.message}) + "\n").encode()


# Routes -----------------------------------------------------------------------------

# The bodies these routes parse by hand (JSON or multipart), described for the OpenAPI snapshot.
_FILE = {"type": "string", "format": "binary"}
_TRANSCRIBE_JSON = TranscribeRequest.model_json_schema()
_TRANSCRIBE_JSON["properties"]["stream"] = {"type": "boolean", "default": True}
_TRANSCRIBE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _TRANSCRIBE_JSON},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": _FILE}
                    | {name: {"type": "string"} for name in sorted(_FORM_FIELDS)},
                }
            },
        },
    }
}
_OPENAI_TRANSCRIPTION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": _FILE,
                        "model": {"type": "string", "default": "whisper-1"},
                        "language": {"type": "string"},
                        "prompt": {"type": "string"},
                        "response_format": {
                            "type": "string",
                            "enum": list(_OPENAI_FORMATS),
                            "default": "json",
                        },
                        "temperature": {"type": "number"},
                        "timestamp_granularities[]": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["word", "segment"]},
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/api/transcribe",
    summary="Transcribe an upload or a URL, streaming progress (NDJSON)",
    openapi_extra=_TRANSCRIBE_BODY,
    responses={
        200: {"model": TranscribeDone, "description": "NDJSON: progress events, then the result"}
    },
)
async def transcribe(request: Request) -> Response:
    multipart = request.headers.get("content-type", "").startswith("multipart/")
    body = b"" if multipart else await request.body()
    stream = True
    upload_dir: Path | None = None
    if multipart or body.startswith(b"--"):
        form = await _form(request)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the form has no `file` field: attach the audio or video as `file`")
        req = _request_from_form(form)
        stream_flag = form.get("stream")
        stream = _bool(stream_flag if isinstance(stream_flag, str) else None, "stream") is not False
        path = await _save_upload(request, upload)
        upload_dir, source = path.parent, str(path)
    else:
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            raise InvalidInput(f"invalid JSON in request body: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput(
                'send JSON like {"url": "https://..."} or a multipart form with a file'
            )
        stream = data.pop("stream", True) is not False
        req = _validate(data)
        if not req.url:
            raise InvalidInput('give a `url` (JSON {"url": ...}) or upload a `file` (multipart)')
        source = req.url
        if not source.lower().startswith(("http://", "https://")):
            raise InvalidInput(f"url {source!r} is not an http(s) URL")
    try:
        first, pump = await open_pump(lambda: _events(request, source, req, upload_dir))
    except BaseException:
        if upload_dir is not None:
            shutil.rmtree(upload_dir, ignore_errors=True)
        raise
    if not stream:
        items = await collect(request, first, pump)
        if not items:
            return Response(status_code=204)
        return JSONResponse(items[-1].model_dump(mode="json"))
    return stream_response(first, pump, _line, _error_line, media_type=NDJSON)


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe audio (OpenAI)",
    openapi_extra=_OPENAI_TRANSCRIPTION_BODY,
    responses={200: {"model": OpenAIVerboseTranscription}},
)
async def audio_transcriptions(request: Request) -> Response:
    form = await _form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("missing `file`: attach the audio as a multipart field named file")
    model = str(form.get("model") or "whisper-1").strip()
    settings = request.app.state.services.settings
    if model.lower() not in _WHISPER_ALIASES and model != settings.whisper_model:
        raise ModelNotFound(
            model, f"model {model!r} not found: use whisper-1 (the local Whisper model)"
        )
    fmt = str(form.get("response_format") or "json").strip()
    if fmt not in _OPENAI_FORMATS:
        raise InvalidInput(
            f"response_format {fmt!r} is not supported: use one of {', '.join(_OPENAI_FORMATS)}"
        )
    values: dict[str, Any] = {"captions": "never", "punctuate": False}
    for key in ("language", "prompt"):
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            values[key] = value.strip()
    temperature = form.get("temperature")
    if isinstance(temperature, str) and temperature.strip():
        try:
            values["temperature"] = float(temperature)
        except ValueError:
            raise InvalidInput(f"temperature {temperature!r} is not a number") from None
    granularities = {str(v) for v in form.getlist("timestamp_granularities[]")}
    values["word_timestamps"] = "word" in granularities and fmt == "verbose_json"
    req = _validate(values)
    path = await _save_upload(request, upload)
    try:
        first, pump = await open_pump(lambda: _events(request, str(path), req, path.parent))
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    items = await collect(request, first, pump)
    if not items or not isinstance(items[-1], TranscribeDone):
        return Response(status_code=204)
    return _openai_response(items[-1].result, fmt, "word" in granularities)


def _openai_response(result: Transcript, fmt: str, words: bool) -> Response:
    from hearth.speech.postprocess import language_name
    from hearth.speech.subtitles import join_text

    text = join_text([s.text for s in result.segments])  # no spaces between CJK segments
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt == "srt":
        return PlainTextResponse(result.srt)
    if fmt == "vtt":
        return PlainTextResponse(result.vtt, media_type="text/vtt")
    if fmt == "json":
        return JSONResponse(OpenAITranscription(text=text).model_dump())
    name = language_name(result.language)
    verbose = OpenAIVerboseTranscription(
        language=name.lower() if name.isalpha() else result.language,
        duration=result.duration,
        text=text,
        segments=[
            OpenAITranscriptionSegment(id=i, start=s.start, end=s.end, text=s.text)
            for i, s in enumerate(result.segments)
        ],
        words=[
            OpenAITranscriptionWord(word=w.word.strip(), start=w.start, end=w.end)
            for s in result.segments
            for w in (s.words or [])
        ]
        if words
        else None,
    )
    return JSONResponse(verbose.model_dump(exclude_none=True))
