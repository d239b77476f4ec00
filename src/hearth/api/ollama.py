"""Ollama-shaped API types (docs/api.md of Ollama, field by field).

These are hearth's own service types too: the engine takes a `ChatRequest` and yields
`ChatResponse` chunks; the OpenAI routes convert to and from them at the edge. Fields
that clients send as `null` are accepted (LangChain does so). Unknown top-level fields
are rejected with a 400 that names them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "CopyRequest",
    "CreateRequest",
    "DeleteRequest",
    "EmbedRequest",
    "EmbedResponse",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "GenerateRequest",
    "GenerateResponse",
    "Message",
    "ModelDetails",
    "ModelInfo",
    "Options",
    "ProcessModel",
    "ProcessResponse",
    "ProgressResponse",
    "PullRequest",
    "ShowRequest",
    "ShowResponse",
    "TagsResponse",
    "Tool",
    "ToolCall",
    "ToolCallFunction",
    "VersionResponse",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Options(_Open):
    """Model parameters (Ollama's `options`, also a Modelfile's PARAMETERs).

    Unknown options are kept (extra="allow") and reported by the engine, as Ollama does.
    """

    num_ctx: int | None = Field(default=None, ge=16)
    num_predict: int | None = None
    num_keep: int | None = None
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_k: int | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    typical_p: float | None = None
    repeat_penalty: float | None = Field(default=None, ge=0)
    repeat_last_n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    mirostat: int | None = None
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    tfs_z: float | None = None
    penalize_newline: bool | None = None
    stop: list[str] | None = None
    # hearth's extension (OpenAI's logit_bias): token id -> bias added to its logit;
    # -100 bans a token, 100 all but forces it.
    logit_bias: dict[int, Annotated[float, Field(ge=-100, le=100)]] | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    num_thread: int | None = Field(default=None, ge=0)
    main_gpu: int | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    numa: bool | None = None
    low_vram: bool | None = None

    def merged(self, *layers: Options | dict[str, Any] | None) -> Options:
        """Return a copy with each later layer's non-null values on top."""
        data = self.model_dump(exclude_none=True)
        for layer in layers:
            if layer is None:
                continue
            more = layer.model_dump(exclude_none=True) if isinstance(layer, Options) else layer
            data.update({k: v for k, v in more.items() if v is not None})
        return Options.model_validate(data)


class ToolCallFunction(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: str | None = None
    function: ToolCallFunction


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "function"
    function: ToolFunction


FormatSpec = Literal["json", ""] | dict[str, Any] | None
# A duration ("5m", "1h30m") or seconds; strict numbers, so `true` is refused, not read as 1 s.
KeepAlive = str | StrictInt | StrictFloat | None


class _Generation(_Strict):
    model: str = Field(min_length=1)
    format: FormatSpec = None
    options: Options | None = None
    stream: bool | None = True
    keep_alive: KeepAlive = None
    think: bool | str | None = None
    logprobs: bool | None = None  # the log probability of each generated token
    top_logprobs: int | None = Field(default=None, ge=0, le=20)  # and of the N likeliest


class GenerateRequest(_Generation):
    prompt: str | None = None
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool | None = False
    images: list[str] | None = None


class ChatRequest(_Generation):
    messages: list[Message] | None = None
    tools: list[Tool] | None = None


class _Timings(BaseModel):
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class Logprob(TokenLogprob):
    """A generated token's log probability, and the likeliest tokens at its position."""

    top_logprobs: list[TokenLogprob] | None = None


class GenerateResponse(_Timings):
    model: str
    created_at: datetime
    response: str = ""
    done: bool = False
    done_reason: str | None = None
    context: list[int] | None = None
    logprobs: list[Logprob] | None = None


class ChatResponse(_Timings):
    model: str
    created_at: datetime
    message: Message
    done: bool = False
    done_reason: str | None = None
    logprobs: list[Logprob] | None = None


class EmbedRequest(_Strict):
    model: str = Field(min_length=1)
    input: str | list[str] | None = None
    truncate: bool | None = True
    options: Options | None = None
    keep_alive: KeepAlive = None
    dimensions: int | None = None


class EmbedResponse(BaseModel):
    model: str
    embeddings: list[list[float]]
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None


class EmbeddingsRequest(_Strict):
    """The legacy `/api/embeddings` (one prompt, one vector)."""

    model: str = Field(min_length=1)
    prompt: str | None = None
    options: Options | None = None
    keep_alive: KeepAlive = None


class EmbeddingsResponse(BaseModel):
    embedding: list[float]


class ModelDetails(BaseModel):
    parent_model: str = ""
    format: str = "gguf"
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class ModelInfo(BaseModel):
    """One row of `/api/tags`."""

    name: str
    model: str
    modified_at: datetime
    size: int
    digest: str
    details: ModelDetails


class TagsResponse(BaseModel):
    models: list[ModelInfo]


class ShowRequest(_Strict):
    model: str | None = None
    name: str | None = None  # older clients
    system: str | None = None
    template: str | None = None
    verbose: bool | None = None
    options: Options | None = None


class ShowResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    license: str = ""
    modelfile: str = ""
    parameters: str = ""
    template: str = ""
    system: str = ""
    details: ModelDetails
    model_info: dict[str, Any] = Field(default_factory=dict)
    capabilities: list[str] = Field(default_factory=list)
    modified_at: datetime | None = None
    # hearth's additions: how the name reads, and what it takes to run it.
    name_parts: dict[str, Any] = Field(default_factory=dict)
    memory: dict[str, Any] = Field(default_factory=dict)


class PullRequest(_Strict):
    model: str | None = None
    name: str | None = None
    insecure: bool | None = False
    stream: bool | None = True
    username: str | None = None
    password: str | None = None


class ProgressResponse(BaseModel):
    """A progress event of pull / create / push (the NDJSON lines of Ollama's pull)."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


class CreateRequest(_Strict):
    model: str | None = None
    name: str | None = None
    modelfile: str | None = None  # hearth and older Ollama: the Modelfile text
    from_: str | None = Field(default=None, alias="from")
    files: dict[str, str] | None = None
    adapters: dict[str, str] | None = None
    template: str | None = None
    license: str | list[str] | None = None
    system: str | None = None
    parameters: dict[str, Any] | None = None
    messages: list[Message] | None = None
    quantize: str | None = None
    stream: bool | None = True


class CopyRequest(_Strict):
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


class DeleteRequest(_Strict):
    model: str | None = None
    name: str | None = None


class ProcessModel(BaseModel):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails
    expires_at: datetime | None
    size_vram: int = 0
    context_length: int | None = None


class ProcessResponse(BaseModel):
    models: list[ProcessModel]


class VersionResponse(BaseModel):
    version: str
