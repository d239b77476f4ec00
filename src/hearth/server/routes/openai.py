"""Routes: OpenAI's API under /v1, converted at the edge.

Each route converts the OpenAI request into hearth's (Ollama-shaped) request, calls the
same service as the Ollama route (`chat_chunks`, `generate_chunks`, `embed_texts`),
and converts the answer back: one object with `usage`, or server-sent events ending in
`data: [DONE]`. Errors take OpenAI's shape (see `hearth.server.app.error_response`).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hearth.api import ollama as o
from hearth.api.openai import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Delta,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
    ErrorResponse,
    Model,
    ModelList,
    ResponseFormat,
    ResponseMessage,
    ToolCall,
    ToolCallFunction,
    Usage,
)
from hearth.engine.grammar import check_json_schema
from hearth.errors import HearthError, InvalidInput
from hearth.server.routes.ollama import (
    chat_chunks,
    embed_texts,
    generate_chunks,
    merge_chat,
    merge_generate,
    services_of,
    warn_unenforced,
)
from hearth.server.streaming import collect, open_pump, stream_response

if TYPE_CHECKING:
    from hearth.store.records import ModelRecord

__all__ = [
    "chat_request",
    "completion_request",
    "router",
    "to_chat_completion",
    "to_completion",
]

router = APIRouter(tags=["openai"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid input"},
    404: {"model": ErrorResponse, "description": "Unknown model"},
}
SSE = "text/event-stream"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_DONE = b"data: [DONE]\n\n"


# Requests: OpenAI -> hearth -----------------------------------------------------------


def _logit_bias(bias: dict[str, float] | None) -> dict[int, float] | None:
    """OpenAI's logit_bias ({"token id": -100..100}) checked, with integer keys."""
    if not bias:
        return None
    out: dict[int, float] = {}
    for key, value in bias.items():
        if not (key.strip().isascii() and key.strip().isdigit()):
            raise InvalidInput(
                f"invalid request: field 'logit_bias': key {key!r} is not a token id"
            )
        if not -100 <= value <= 100:
            raise InvalidInput(
                f"invalid request: field 'logit_bias': bias {value} for token {key} is not between -100 and 100"
            )
        out[int(key)] = float(value)
    return out


def _options(req: Any, max_tokens: int | None) -> o.Options:
    stop = [req.stop] if isinstance(req.stop, str) else req.stop
    return o.Options(
        logit_bias=_logit_bias(req.logit_bias),
        temperature=req.temperature,
        top_p=req.top_p,
        seed=req.seed,
        stop=stop or None,
        num_predict=max_tokens,
        frequency_penalty=req.frequency_penalty,
        presence_penalty=req.presence_penalty,
    )


def _check_n(n: int | None) -> None:
    if n not in (None, 1):
        raise InvalidInput("invalid request: field 'n': only n=1 is supported")


def response_format(fmt: ResponseFormat | None) -> o.FormatSpec:
    """OpenAI's response_format as hearth's `format` (json, or a checked JSON schema)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json"
    schema = fmt.json_schema.schema_ if fmt.json_schema else None
    if not schema:
        raise InvalidInput(
            "invalid request: field 'response_format.json_schema.schema' is required for json_schema"
        )
    check_json_schema(schema, "invalid request: response_format.json_schema.schema")
    return schema


def _text_and_images(message: ChatMessage, index: int) -> tuple[str, list[str] | None]:
    if message.content is None or isinstance(message.content, str):
        return message.content or "", None
    texts: list[str] = []
    images: list[str] = []
    for part in message.content:
        if part.type == "text":
            texts.append(part.text or "")
        elif part.type == "image_url":
            url = part.image_url.get("url") if isinstance(part.image_url, dict) else part.image_url
            if not url or not url.startswith("data:") or "," not in url:
                raise InvalidInput(
                    f"invalid request: field 'messages.{index}.content': images must be base64 data URLs "
                    "(data:image/png;base64,...); hearth does not fetch URLs"
                )
            images.append(url.split(",", 1)[1])
        else:
            raise InvalidInput(
                f"invalid request: field 'messages.{index}.content': content part type {part.type!r} "
                "is not supported (use 'text' or 'image_url')"
            )
    return "".join(texts), images or None


def _arguments(call: ToolCall, index: int) -> dict[str, Any]:
    raw = call.function.arguments
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"invalid request: field 'messages.{index}.tool_calls': arguments are not valid JSON: {exc.msg}"
        ) from exc
    if not isinstance(value, dict):
        raise InvalidInput(
            f"invalid request: field 'messages.{index}.tool_calls': arguments must be a JSON object"
        )
    return value


def _check_stream_options(req: Any) -> None:
    if req.stream_options is not None and not req.stream:
        raise InvalidInput(
            "invalid request: field 'stream_options': only allowed when stream is true"
        )


def chat_request(req: ChatCompletionRequest) -> o.ChatRequest:
    """Convert an OpenAI chat completion request into hearth's ChatRequest."""
    _check_n(req.n)
    _check_stream_options(req)
    if req.modalities and set(req.modalities) != {"text"}:
        raise InvalidInput("invalid request: field 'modalities': only text output is supported")
    if req.top_logprobs is not None and not req.logprobs:
        raise InvalidInput("invalid request: field 'top_logprobs': needs logprobs: true")
    if req.top_logprobs is not None and not 0 <= req.top_logprobs <= 20:
        raise InvalidInput("invalid request: field 'top_logprobs': must be between 0 and 20")
    if not req.messages:
        raise InvalidInput("invalid request: field 'messages': must contain at least one message")
    names: dict[str, str] = {}
    messages: list[o.Message] = []
    for i, m in enumerate(req.messages):
        text, images = _text_and_images(m, i)
        role = {"developer": "system", "function": "tool"}.get(m.role, m.role)
        calls = None
        if m.tool_calls:
            calls = []
            for call in m.tool_calls:
                if call.id:
                    names[call.id] = call.function.name
                calls.append(
                    o.ToolCall(
                        id=call.id,
                        type="function",
                        function=o.ToolCallFunction(
                            name=call.function.name, arguments=_arguments(call, i)
                        ),
                    )
                )
        tool_name = None
        if role == "tool":
            tool_name = m.name or names.get(m.tool_call_id or "")
        messages.append(
            o.Message(
                role=role,  # type: ignore[arg-type]
                content=text,
                images=images,
                tool_calls=calls,
                tool_call_id=m.tool_call_id,
                tool_name=tool_name,
            )
        )
    tools = None
    if req.tools and req.tool_choice != "none":
        tools = [o.Tool.model_validate(t.model_dump(exclude_none=True)) for t in req.tools]
    fmt = response_format(req.response_format)
    forced = _forced_call(req)
    if forced is not None:
        if fmt is not None:
            raise InvalidInput(
                "invalid request: tool_choice that forces a call cannot be combined with response_format"
            )
        fmt = forced
    return o.ChatRequest(
        model=req.model,
        messages=messages,
        tools=tools,
        format=fmt,
        options=_options(
            req,
            req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens,
        ),
        stream=bool(req.stream),
        logprobs=bool(req.logprobs),
        top_logprobs=req.top_logprobs,
    )


def _forced_call(req: ChatCompletionRequest) -> dict[str, Any] | None:
    """Check `tool_choice`; for "required" or a named function, the JSON schema of the
    call(s) allowed, which constrains generation (so a call is made, with valid arguments)."""
    choice = req.tool_choice
    if choice is None:
        return None
    if not req.tools:
        raise InvalidInput(
            "invalid request: field 'tool_choice': only allowed when 'tools' are given"
        )
    offered = {t.function.name: t.function for t in req.tools}
    if len(offered) < len(req.tools):
        raise InvalidInput("invalid request: field 'tools': two tools have the same name")
    if isinstance(choice, str):
        if choice in ("none", "auto"):
            return None
        if choice != "required":
            raise InvalidInput(
                f"invalid request: field 'tool_choice': {choice!r} is not one of none, auto, "
                'required or {"type": "function", "function": {"name": ...}}'
            )
        chosen = list(offered.values())
    else:
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if choice.get("type") != "function" or not isinstance(name, str):
            raise InvalidInput(
                "invalid request: field 'tool_choice': use "
                '{"type": "function", "function": {"name": ...}}'
            )
        if name not in offered:
            raise InvalidInput(
                f"invalid request: field 'tool_choice': no tool named {name!r} in 'tools'"
            )
        chosen = [offered[name]]
    defs: dict[str, Any] = {}
    calls = []
    for i, f in enumerate(chosen):
        parameters = f.parameters or {"type": "object"}
        check_json_schema(
            parameters, f"invalid request: field 'tools': the parameter schema of {f.name!r}"
        )
        arguments = _lift_defs(parameters, f"t{i}_", defs)
        calls.append(
            {
                "type": "object",
                "properties": {"name": {"const": f.name}, "arguments": arguments},
                "required": ["name", "arguments"],
            }
        )
    schema: dict[str, Any] = calls[0] if len(calls) == 1 else {"anyOf": calls}
    if defs:
        schema["$defs"] = defs
    return schema


def _lift_defs(parameters: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """A tool's parameter schema nested in the call's schema: its `$defs` (pydantic's nested
    models) move to the root under `prefix`, and its `$ref`s follow them."""
    params = dict(parameters)
    local = {**params.pop("definitions", {}), **params.pop("$defs", {})}

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: fix(v) for k, v in node.items()}
        ref = out.get("$ref")
        for head in ("#/$defs/", "#/definitions/"):
            if isinstance(ref, str) and ref.startswith(head):
                out["$ref"] = "#/$defs/" + prefix + ref[len(head) :]
        if ref == "#":  # the parameters themselves (a recursive model)
            out["$ref"] = f"#/$defs/{prefix}root"
        return out

    if any(_has_root_ref(v) for v in local.values()) or _has_root_ref(params):
        defs[prefix + "root"] = fix(params)
    defs.update({prefix + k: fix(v) for k, v in local.items()})
    return fix(params)


def _has_root_ref(node: Any) -> bool:
    if isinstance(node, list):
        return any(_has_root_ref(v) for v in node)
    if isinstance(node, dict):
        return node.get("$ref") == "#" or any(_has_root_ref(v) for v in node.values())
    return False


def completion_request(req: CompletionRequest) -> o.GenerateRequest:
    """Convert an OpenAI (legacy) completion request: a raw text continuation."""
    _check_n(req.n)
    _check_stream_options(req)
    if req.best_of not in (None, 1):
        raise InvalidInput("invalid request: field 'best_of': only best_of=1 is supported")
    if req.logprobs is not None and not 0 <= req.logprobs <= 5:
        raise InvalidInput("invalid request: field 'logprobs': must be between 0 and 5")
    prompt: Any = req.prompt
    if isinstance(prompt, list):
        if prompt and not all(isinstance(p, str) for p in prompt):
            raise InvalidInput(
                "invalid request: field 'prompt': token arrays are not supported; send text"
            )
        if len(prompt) != 1:
            raise InvalidInput(
                "invalid request: field 'prompt': send exactly one prompt per request"
            )
        prompt = prompt[0]
    if not prompt:
        raise InvalidInput("invalid request: field 'prompt': must not be empty")
    return o.GenerateRequest(
        model=req.model,
        prompt=str(prompt),
        suffix=req.suffix,
        raw=True,
        options=_options(req, req.max_tokens),
        stream=bool(req.stream),
        logprobs=req.logprobs is not None,
        top_logprobs=req.logprobs,
    )


# Responses: hearth -> OpenAI -----------------------------------------------------------


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def _created(at: datetime) -> int:
    return int(at.timestamp())


def _usage(last: Any) -> Usage:
    prompt = last.prompt_eval_count or 0
    completion = last.eval_count or 0
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _tool_calls(calls: Sequence[o.ToolCall] | None, start: int = 0) -> list[ToolCall] | None:
    if not calls:
        return None
    return [
        ToolCall(
            id=call.id or _id("call"),
            index=start + i,
            type="function",
            function=ToolCallFunction(
                name=call.function.name,
                arguments=json.dumps(call.function.arguments, ensure_ascii=False),
            ),
        )
        for i, call in enumerate(calls)
    ]


def _finish(reason: str | None, called: bool) -> str:
    reason = reason or "stop"
    if reason == "stop" and called:
        return "tool_calls"
    return reason if reason in {"stop", "length", "tool_calls", "content_filter"} else "stop"


def to_chat_completion(answer: o.ChatResponse, completion_id: str | None = None) -> ChatCompletion:
    calls = _tool_calls(answer.message.tool_calls)
    return ChatCompletion(
        id=completion_id or _id("chatcmpl"),
        created=_created(answer.created_at),
        model=answer.model,
        choices=[
            Choice(
                message=ResponseMessage(
                    content=answer.message.content or ("" if not calls else None),
                    reasoning=answer.message.thinking or None,
                    tool_calls=calls,
                ),
                finish_reason=_finish(answer.done_reason, bool(calls)),
                logprobs=_chat_logprobs(answer.logprobs),
            )
        ],
        usage=_usage(answer),
    )


def _chat_logprobs(entries: list[o.Logprob] | None) -> dict[str, Any] | None:
    """OpenAI's chat `logprobs`: {"content": [{token, logprob, bytes, top_logprobs}]}."""
    if entries is None:
        return None
    return {"content": [e.model_dump() | {"top_logprobs": e.top_logprobs or []} for e in entries]}


def _completion_logprobs(entries: list[o.Logprob] | None, offset: int) -> dict[str, Any] | None:
    """The legacy completions' `logprobs`: parallel lists, and each position's top tokens."""
    if entries is None:
        return None
    offsets = []
    for e in entries:
        offsets.append(offset)
        offset += len(e.token)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [{t.token: t.logprob for t in e.top_logprobs or []} for e in entries],
        "text_offset": offsets,
    }


def to_completion(answer: o.GenerateResponse, echo: str = "") -> Completion:
    return Completion(
        id=_id("cmpl"),
        created=_created(answer.created_at),
        model=answer.model,
        choices=[
            CompletionChoice(
                text=echo + answer.response,
                finish_reason=_finish(answer.done_reason, False),
                logprobs=_completion_logprobs(answer.logprobs, len(echo)),
            )
        ],
        usage=_usage(answer),
    )


def _event(item: BaseModel) -> bytes:
    return b"data: " + item.model_dump_json(exclude_none=True).encode() + b"\n\n"


def _error_event(exc: HearthError) -> bytes:
    body = {
        "error": {
            "message": exc.message,
            "type": "server_error" if exc.status >= 500 else "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


class _ChatEvents:
    """Turns hearth chat chunks into OpenAI chunk events (role first, finish last)."""

    def __init__(self, include_usage: bool) -> None:
        self.id = _id("chatcmpl")
        self.include_usage = include_usage
        self.sent_role = False
        self.calls = 0
        self.created = 0

    def __call__(self, chunk: o.ChatResponse) -> bytes:
        out: list[bytes] = []
        created = self.created = self.created or _created(chunk.created_at)  # one per stream
        calls = _tool_calls(chunk.message.tool_calls, self.calls)
        self.calls += len(calls or [])
        content = chunk.message.content or ""
        thinking = chunk.message.thinking or None
        if content or calls or thinking or not self.sent_role:
            delta = Delta(
                role=None if self.sent_role else "assistant",
                content=content if (content or not calls) else None,
                reasoning=thinking,
                tool_calls=calls,
            )
            self.sent_role = True
            choice = ChunkChoice(delta=delta, logprobs=_chat_logprobs(chunk.logprobs))
            out.append(_event(self._chunk(chunk, created, [choice])))
        elif chunk.logprobs:  # tokens of a stop string: no text, but they were generated
            choice = ChunkChoice(delta=Delta(), logprobs=_chat_logprobs(chunk.logprobs))
            out.append(_event(self._chunk(chunk, created, [choice])))
        if chunk.done:
            finish = ChunkChoice(
                delta=Delta(), finish_reason=_finish(chunk.done_reason, self.calls > 0)
            )
            out.append(_event(self._chunk(chunk, created, [finish])))
            if self.include_usage:
                out.append(_event(self._chunk(chunk, created, [], _usage(chunk))))
        return b"".join(out)

    def _chunk(
        self,
        chunk: o.ChatResponse,
        created: int,
        choices: list[ChunkChoice],
        usage: Usage | None = None,
    ) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id, created=created, model=chunk.model, choices=choices, usage=usage
        )


class _CompletionEvents:
    def __init__(self, include_usage: bool, echo: str) -> None:
        self.id = _id("cmpl")
        self.include_usage = include_usage
        self.echo = echo
        self.created = 0
        self.offset = 0  # characters sent so far (text_offset of the log probabilities)

    def __call__(self, chunk: o.GenerateResponse) -> bytes:
        self.created = self.created or _created(chunk.created_at)  # one per stream
        echo = len(self.echo)
        text, self.echo = self.echo + chunk.response, ""
        reason = _finish(chunk.done_reason, False) if chunk.done else None
        logprobs = _completion_logprobs(chunk.logprobs, self.offset + echo)
        self.offset += len(text)
        choice = CompletionChoice(text=text, finish_reason=reason, logprobs=logprobs)
        out = [_event(self._chunk(chunk, [choice]))]
        if chunk.done and self.include_usage:
            out.append(_event(self._chunk(chunk, [], _usage(chunk))))
        return b"".join(out)

    def _chunk(
        self, chunk: o.GenerateResponse, choices: list[CompletionChoice], usage: Usage | None = None
    ) -> Completion:
        return Completion(
            id=self.id,
            created=self.created,
            model=chunk.model,
            choices=choices,
            usage=usage,
        )


def _dump(item: BaseModel) -> JSONResponse:
    return JSONResponse(item.model_dump(mode="json", exclude_none=True))


# Routes ------------------------------------------------------------------------------


@router.post(
    "/v1/chat/completions",
    summary="Chat completion (OpenAI)",
    responses={200: {"model": ChatCompletion}, **_ERRORS},
)
async def chat_completions(request: Request, body: ChatCompletionRequest) -> Response:
    services = services_of(request)
    req = chat_request(body)
    first, pump = await open_pump(lambda: chat_chunks(services, req))
    if not body.stream:
        items = await collect(request, first, pump)
        if not items:
            return Response(status_code=204)
        return warn_unenforced(_dump(to_chat_completion(merge_chat(items))), req.format)
    usage = bool(body.stream_options and body.stream_options.include_usage)
    response = stream_response(
        first,
        pump,
        _ChatEvents(usage),
        _error_event,
        media_type=SSE,
        trailer=_DONE,
        headers=_SSE_HEADERS,
    )
    return warn_unenforced(response, req.format)


@router.post(
    "/v1/completions",
    summary="Text completion (OpenAI, legacy)",
    responses={200: {"model": Completion}, **_ERRORS},
)
async def completions(request: Request, body: CompletionRequest) -> Response:
    services = services_of(request)
    req = completion_request(body)
    echo = (req.prompt or "") if body.echo else ""
    first, pump = await open_pump(lambda: generate_chunks(services, req))
    if not body.stream:
        items = await collect(request, first, pump)
        if not items:
            return Response(status_code=204)
        return _dump(to_completion(merge_generate(items), echo))
    usage = bool(body.stream_options and body.stream_options.include_usage)
    return stream_response(
        first,
        pump,
        _CompletionEvents(usage, echo),
        _error_event,
        media_type=SSE,
        trailer=_DONE,
        headers=_SSE_HEADERS,
    )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not value:
        raise InvalidInput("invalid request: field 'input': must not be empty")
    if not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            "invalid request: field 'input': token arrays are not supported; send text"
        )
    return list(value)


@router.post(
    "/v1/embeddings",
    summary="Embeddings (OpenAI; float or base64)",
    responses={200: {"model": EmbeddingList}, **_ERRORS},
)
async def create_embeddings(request: Request, body: EmbeddingRequest) -> Response:
    texts = _texts(body.input)
    vectors, tokens = await anyio.to_thread.run_sync(
        lambda: embed_texts(services_of(request), body.model, texts, None, body.dimensions)
    )
    data: list[Embedding] = []
    for i, vector in enumerate(vectors):
        if body.encoding_format == "base64":
            value: list[float] | str = base64.b64encode(
                np.asarray(vector, dtype="<f4").tobytes()
            ).decode()
        else:
            value = vector.tolist()
        data.append(Embedding(embedding=value, index=i))
    answer = EmbeddingList(
        data=data, model=body.model, usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
    )
    return _dump(answer)


def _model(record: ModelRecord) -> Model:
    return Model(id=record.name, created=_created(record.modified_at), owned_by="hearth")


@router.get("/v1/models", summary="List models (OpenAI)", response_model=ModelList)
def list_models(request: Request) -> Response:
    records = services_of(request).store.list()
    return _dump(ModelList(data=[_model(r) for r in records]))


@router.get(
    "/v1/models/{model:path}",
    summary="Describe a model (OpenAI)",
    response_model=Model,
    responses={404: {"model": ErrorResponse, "description": "Unknown model"}},
)
def get_model(request: Request, model: str) -> Response:
    return _dump(_model(services_of(request).store.resolve(model)))
