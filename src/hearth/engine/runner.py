"""One loaded GGUF model, decoded with continuous batching.

A `LlamaRunner` owns a llama.cpp context with `n_parallel` sequence slots sharing one
KV cache, and one decode thread. Requests are admitted into free slots as they come;
each step of the loop puts, into ONE `llama_batch`, a chunk of prompt tokens for every
sequence still prefilling and the last sampled token of every sequence generating,
decodes it once, then samples each sequence with its own sampler chain (temperature,
top-k/p, min-p, penalties, seed, grammar). Four clients therefore cost about one
decode step each, not four: that is where the throughput of concurrent requests comes
from (llama-cpp-python's high-level API decodes one sequence at a time).

Only the decode thread touches the context. Tokenizing uses the read-only vocabulary
and is safe from any thread.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals

from hearth.engine.embedder import utf8
from hearth.errors import ContextOverflow, CorruptModel, HearthError, InvalidInput
from hearth.store.gguf import read_gguf

__all__ = ["LlamaRunner", "Sampling", "SequenceEvent"]

log = logging.getLogger(__name__)


def set_llama_verbose(verbose: bool) -> None:
    """llama.cpp's own log lines only with HEARTH_DEBUG (they go to stderr otherwise)."""
    from llama_cpp import _logger

    _logger.set_verbose(verbose)


class ThreadTuner:
    """Picks the thread count of each decode step by measuring, and keeps measuring.

    On 2 cores, 2 threads decode fastest on an idle machine (measured 129 tokens/s against
    64 with 1), but collapse as soon as another process needs a core (5 tokens/s: the
    threads wait for each other at every operation), where 1 thread keeps ~60. So the
    runner times its decode steps: now and then (every `every` steps, backing off while the
    current choice keeps winning), or at once when a step is much slower than usual, it
    tries the other count for up to `probe` steps and keeps the faster. Prompt batches use
    the same choice; `record` only takes pure decode steps.
    """

    def __init__(self, max_threads: int, *, every: int = 48, probe: int = 3) -> None:
        self.choices = sorted({1, max(1, max_threads)})
        self.current = self.choices[-1]
        self.every = every
        self.interval = every
        self.probe = probe
        self._recent: deque[float] = deque(maxlen=probe)
        self._trial: list[float] = []
        self._trying: int | None = None
        self._since = 0

    def choose(self, generating: bool) -> int:
        if self._trying is not None:
            return self._trying
        return self.current

    def record(self, threads: int, seconds: float) -> None:
        if len(self.choices) == 1:
            return
        if self._trying is not None:
            self._trial.append(seconds)
            mine = sorted(self._recent)[len(self._recent) // 2] if self._recent else float("inf")
            lost = seconds > 1.5 * mine  # clearly worse: stop trying at once
            if lost or len(self._trial) >= self.probe:
                theirs = sorted(self._trial)[len(self._trial) // 2]
                if not lost and theirs < mine:
                    self.current = self._trying
                    self._recent = deque(self._trial, maxlen=self.probe)
                    self.interval = self.every
                else:  # the current choice holds: look again later, less often
                    self.interval = min(self.interval * 2, 64 * self.every)
                self._trying = None
                self._trial = []
                self._since = 0
            return
        typical = (
            sorted(self._recent)[len(self._recent) // 2]
            if len(self._recent) == self.probe
            else None
        )
        self._recent.append(seconds)
        self._since += 1
        sudden = typical is not None and seconds > 3 * typical
        if self._since >= self.interval or sudden:
            self._trying = next(c for c in self.choices if c != self.current)
            self._trial = []


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one sequence (Ollama's defaults)."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int = -1
    grammar: str | None = None
    logprobs: int = -1  # -1: off; N >= 0: each token's log probability and the N likeliest
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias added to its logit)


@dataclass
class SequenceEvent:
    """What the decode loop tells a waiting request."""

    text: str = ""
    done: bool = False
    done_reason: str | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    prompt_ns: int = 0
    generate_ns: int = 0
    tokens: list[int] | None = None
    error: HearthError | None = None
    logprobs: list[dict[str, Any]] | None = None  # of the tokens since the last event


@dataclass
class _Sequence:
    prompt: list[int]
    sampling: Sampling
    max_tokens: int
    stop: tuple[str, ...]
    events: queue.Queue[SequenceEvent] = field(default_factory=queue.Queue)
    slot: int = -1
    n_past: int = 0  # tokens of this sequence already in the KV cache
    pending: list[int] = field(default_factory=list)  # tokens to feed next
    generated: list[int] = field(default_factory=list)
    sampler: internals.LlamaSampler | None = None
    decoder: Any = None
    held: str = ""  # text held back because it may start a stop string
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # not yet sent
    cancelled: bool = False
    started_ns: int = 0
    first_token_ns: int = 0


def _model_params(use_mmap: bool = True) -> Any:
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = 0
    params.use_mmap = use_mmap
    return params


class LlamaRunner:
    """A loaded GGUF chat model serving up to `n_parallel` sequences at once."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int,
        n_parallel: int = 4,
        n_threads: int = 2,
        adapters: tuple[Path, ...] = (),
        n_batch: int = 512,
    ) -> None:
        self.model_path = Path(model_path)
        self.n_parallel = max(1, n_parallel)
        self.n_ctx = n_ctx  # per sequence
        self.n_batch = n_batch
        # llama.cpp aborts the whole process (not an exception) on some contradictions
        # between a GGUF's metadata and its tensors: check the header first.
        read_gguf(self.model_path)
        try:
            self.model = internals.LlamaModel(
                path_model=str(self.model_path), params=_model_params(), verbose=False
            )
        except (ValueError, OSError) as exc:
            raise CorruptModel(
                f"llama.cpp could not load {self.model_path.name}: the file is not a usable GGUF model; "
                "remove it with `hearth rm` and pull it again"
            ) from exc
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.n_ctx_train = self.model.n_ctx_train()
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx * self.n_parallel
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = self.n_parallel
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        cparams.kv_unified = (
            False  # one KV stream per sequence: results do not depend on neighbours
        )
        cparams.no_perf = True
        # llama.cpp's default ("auto") turns flash attention on; on this CPU build it cost
        # a quarter of the generation speed (SmolLM2: 40 vs 50 tokens/s with 1 thread, 66 vs
        # 89 with 2) for ~10% faster prompts. llama-cpp-python's Llama has it off too.
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        try:
            self.ctx = internals.LlamaContext(model=self.model, params=cparams, verbose=False)
        except ValueError as exc:
            self.model.close()
            raise HearthError(
                f"could not create a context of {n_ctx} tokens x {self.n_parallel} sequences for "
                f"{self.model_path.name}: not enough memory? lower num_ctx or HEARTH_NUM_PARALLEL"
            ) from exc
        self._adapters = []
        for adapter in adapters:
            handle = llama_cpp.llama_adapter_lora_init(self.model.model, str(adapter).encode())
            if not handle:  # (adapters already loaded are freed with their model)
                self.ctx.close()
                self.model.close()
                raise CorruptModel(
                    f"could not load the LoRA adapter {adapter.name}: not a LoRA GGUF for this model"
                )
            llama_cpp.llama_set_adapter_lora(self.ctx.ctx, handle, 1.0)
            self._adapters.append(handle)
        self.batch = internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        self._threads = ThreadTuner(n_threads)
        self._threads_set = n_threads
        self.metadata = self.model.metadata()
        self._lock = threading.Condition()
        self._waiting: deque[_Sequence] = deque()
        self._active: list[_Sequence] = []
        self._free_slots = list(range(self.n_parallel))
        # What each slot's KV cache holds, kept after a sequence ends, so the next prompt
        # that shares a prefix with it (the rest of a conversation, the same system prompt)
        # only evaluates what is new.
        self._slot_tokens: list[list[int]] = [[] for _ in range(self.n_parallel)]
        self.reused_tokens = 0  # prompt tokens served from the cache (for tests and stats)
        self._closed = False
        self._freed = False
        self._thread = threading.Thread(
            target=self._loop, name=f"decode-{self.model_path.name[:24]}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ tokens
    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        data = utf8(text)
        n_max = len(data) + 16
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_bos, special)
        if n < 0:
            n_max = -n
            buf = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_bos, special)
        return list(buf[:n])

    def token_bytes(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def detokenize(self, tokens: list[int], special: bool = False) -> str:
        return b"".join(self.token_bytes(t, special) for t in tokens).decode("utf-8", "replace")

    @property
    def add_bos(self) -> bool:
        return bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))

    def token_text(self, token: int) -> str:
        return self.token_bytes(token, special=True).decode("utf-8", "replace")

    @property
    def bos_token(self) -> str:
        tok = llama_cpp.llama_vocab_bos(self.vocab)
        return self.token_text(tok) if tok >= 0 else ""

    @property
    def eos_token(self) -> str:
        tok = llama_cpp.llama_vocab_eos(self.vocab)
        return self.token_text(tok) if tok >= 0 else ""

    # ------------------------------------------------------------------ requests
    def generate(
        self,
        prompt: list[int],
        sampling: Sampling,
        *,
        max_tokens: int = -1,
        stop: tuple[str, ...] = (),
    ) -> Iterator[SequenceEvent]:
        """Queue one sequence and yield its events; closing the iterator cancels it.

        `max_tokens` as Ollama reads num_predict: a limit when positive; 0 or negative: none
        but the room left in the context."""
        if not prompt:
            raise InvalidInput("the prompt is empty")
        outside = next((t for t in prompt if not 0 <= t < self.n_vocab), None)
        if outside is not None:
            # llama_decode fails on such a token, which would take the whole runner down.
            raise InvalidInput(
                f"token id {outside} is not in this model's vocabulary (0..{self.n_vocab - 1}): "
                "context must be the one a previous response of this model returned"
            )
        unknown = next((t for t, _ in sampling.logit_bias if not 0 <= t < self.n_vocab), None)
        if unknown is not None:
            raise InvalidInput(
                f"logit_bias: token id {unknown} is not in this model's vocabulary "
                f"(0..{self.n_vocab - 1}); `hearth tokenize --model NAME TEXT` shows the ids"
            )
        if len(prompt) >= self.n_ctx:
            raise ContextOverflow(
                f"the prompt is {len(prompt)} tokens but the context is {self.n_ctx} tokens: "
                "shorten the prompt or raise num_ctx (options.num_ctx, or PARAMETER num_ctx in a Modelfile)"
            )
        room = self.n_ctx - len(prompt)
        max_tokens = room if max_tokens is None or max_tokens <= 0 else min(max_tokens, room)
        seq = _Sequence(prompt=list(prompt), sampling=sampling, max_tokens=max_tokens, stop=stop)
        seq.sampler = self._make_sampler(sampling)  # raises InvalidInput for a bad grammar
        with self._lock:
            if self._closed:
                raise HearthError("the model was unloaded; retry the request")
            self._waiting.append(seq)
            self._lock.notify_all()
        return self._events(seq)

    def _events(self, seq: _Sequence) -> Iterator[SequenceEvent]:
        try:
            while True:
                event = seq.events.get()
                if event.error is not None:
                    raise event.error
                yield event
                if event.done:
                    return
        finally:
            seq.cancelled = True
            with self._lock:
                self._lock.notify_all()

    @property
    def closed(self) -> bool:
        """Unloaded, or dead after an engine failure: the scheduler loads a fresh one."""
        return self._closed

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._active) + len(self._waiting)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def close(self) -> None:
        with self._lock:
            self._closed = True  # also set by the decode loop when it fails: free what is left
            if self._freed:
                return
            self._freed = True
            self._lock.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=60)
        self.batch.close()
        self.ctx.close()
        self.model.close()

    # ------------------------------------------------------------------ sampling
    def _make_sampler(self, s: Sampling) -> internals.LlamaSampler:
        sampler = internals.LlamaSampler()
        if s.logit_bias:
            biases = (llama_cpp.llama_logit_bias * len(s.logit_bias))(
                *(llama_cpp.llama_logit_bias(t, b) for t, b in s.logit_bias)
            )
            llama_cpp.llama_sampler_chain_add(
                sampler.sampler,
                llama_cpp.llama_sampler_init_logit_bias(self.n_vocab, len(s.logit_bias), biases),
            )
        if s.grammar:
            handle = llama_cpp.llama_sampler_init_grammar(self.vocab, s.grammar.encode(), b"root")
            if not handle:
                sampler.close()
                raise InvalidInput("format: the grammar for this format could not be parsed")
            llama_cpp.llama_sampler_chain_add(sampler.sampler, handle)
        if s.repeat_penalty != 1.0 or s.presence_penalty or s.frequency_penalty:
            last_n = self.n_ctx if s.repeat_last_n < 0 else s.repeat_last_n
            sampler.add_penalties(
                self.n_vocab, last_n, s.repeat_penalty, s.frequency_penalty, s.presence_penalty
            )
        seed = s.seed if s.seed is not None and s.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED
        if s.temperature <= 0:
            sampler.add_greedy()
            return sampler
        if s.top_k > 0:
            sampler.add_top_k(s.top_k)
        if 0 < s.typical_p < 1:
            sampler.add_typical(s.typical_p, 1)
        if 0 < s.top_p < 1:
            sampler.add_top_p(s.top_p, 1)
        if s.min_p > 0:
            sampler.add_min_p(s.min_p, 1)
        sampler.add_temp(s.temperature)
        sampler.add_dist(seed & 0xFFFFFFFF)
        return sampler

    # ------------------------------------------------------------------ the loop
    def _admit(self) -> None:
        while self._waiting and self._free_slots:
            seq = self._waiting.popleft()
            if seq.cancelled:
                self._release(seq)
                continue
            slot, common = self._best_slot(seq.prompt)
            self._free_slots.remove(slot)
            seq.slot = slot
            # Keep the shared prefix in the cache; at least one token must be evaluated
            # to get logits for the first new token.
            common = min(common, len(seq.prompt) - 1)
            self.ctx.kv_cache_seq_rm(slot, common, -1)
            del self._slot_tokens[slot][common:]
            seq.n_past = common
            seq.pending = list(seq.prompt[common:])
            self.reused_tokens += common
            seq.decoder = codecs.getincrementaldecoder("utf-8")("replace")
            seq.started_ns = time.perf_counter_ns()
            self._active.append(seq)

    def _best_slot(self, prompt: list[int]) -> tuple[int, int]:
        """The free slot whose cached tokens share the longest prefix with `prompt`."""
        best, best_len = self._free_slots[0], -1
        for slot in self._free_slots:
            cached = self._slot_tokens[slot]
            n = 0
            limit = min(len(cached), len(prompt))
            while n < limit and cached[n] == prompt[n]:
                n += 1
            if n > best_len:
                best, best_len = slot, n
        return best, max(0, best_len)

    def _release(self, seq: _Sequence) -> None:
        if seq.slot >= 0:
            self._free_slots.append(seq.slot)
            self._free_slots.sort()
            seq.slot = -1
        if seq.sampler is not None:
            seq.sampler.close()
            seq.sampler = None

    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._closed:
                        for seq in [s for s in self._active if s.cancelled]:
                            self._active.remove(seq)
                            self._release(seq)
                        self._admit()
                        if self._active:
                            break
                        self._lock.wait()
                    if self._closed:
                        for seq in [*self._active, *self._waiting]:
                            seq.events.put(
                                SequenceEvent(
                                    error=HearthError(
                                        "the model was unloaded while answering; retry"
                                    )
                                )
                            )
                            self._release(seq)
                        self._active.clear()
                        self._waiting.clear()
                        return
                    active = list(self._active)
                self._step(active)
        except Exception as exc:  # never leave a client waiting forever
            log.exception("decode loop failed")
            with self._lock:
                for seq in [*self._active, *self._waiting]:
                    seq.events.put(SequenceEvent(error=HearthError(f"the engine failed: {exc}")))
                self._active.clear()
                self._waiting.clear()
                self._closed = True

    def _step(self, active: list[_Sequence]) -> None:
        batch = self.batch.batch
        batch.n_tokens = 0
        budget = self.n_batch
        rows: list[tuple[_Sequence, int]] = []  # (sequence, batch index of its logits)
        # Generating sequences first (one token each), then prompt chunks with what is left.
        ordered = sorted(active, key=lambda s: len(s.pending) > 1)
        for seq in ordered:
            if budget <= 0:
                break
            take = seq.pending[:budget]
            if not take:
                continue
            for i, token in enumerate(take):
                j = batch.n_tokens
                batch.token[j] = token
                batch.pos[j] = seq.n_past + i
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = seq.slot
                batch.logits[j] = False
                batch.n_tokens += 1
            budget -= len(take)
            seq.n_past += len(take)
            self._slot_tokens[seq.slot].extend(take)
            del seq.pending[: len(take)]
            if not seq.pending:
                batch.logits[batch.n_tokens - 1] = True
                rows.append((seq, batch.n_tokens - 1))
        if batch.n_tokens == 0:
            return
        generating_only = len(rows) == batch.n_tokens  # one token per sequence: a decode step
        threads = self._threads.choose(generating_only)
        if threads != self._threads_set:
            llama_cpp.llama_set_n_threads(self.ctx.ctx, threads, threads)
            self._threads_set = threads
        started = time.perf_counter()
        rc = llama_cpp.llama_decode(self.ctx.ctx, batch)
        if rc != 0:
            raise HearthError(f"llama_decode failed (code {rc}): the context may be full")
        if generating_only:
            self._threads.record(threads, time.perf_counter() - started)
        now = time.perf_counter_ns()
        finished: list[_Sequence] = []
        for seq, index in rows:
            if seq.cancelled:
                finished.append(seq)
                continue
            if not seq.first_token_ns:
                seq.first_token_ns = now
            assert seq.sampler is not None
            token = llama_cpp.llama_sampler_sample(seq.sampler.sampler, self.ctx.ctx, index)
            if seq.sampling.logprobs >= 0 and not llama_cpp.llama_vocab_is_eog(self.vocab, token):
                seq.logprobs.append(self._logprob(index, token, seq.sampling.logprobs))
            if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                self._finish(seq, "stop")
                finished.append(seq)
                continue
            seq.generated.append(token)
            text = seq.decoder.decode(self.token_bytes(token))
            reason = self._emit(seq, text)
            if reason is None and len(seq.generated) >= seq.max_tokens:
                reason = "length"
            if reason is not None:
                self._finish(seq, reason)
                finished.append(seq)
            else:
                seq.pending = [token]
        if finished:
            with self._lock:
                for seq in finished:
                    if seq in self._active:
                        self._active.remove(seq)
                    self._release(seq)

    def _logprob(self, index: int, token: int, top: int) -> dict[str, Any]:
        """Log probability of `token` under the model's distribution at batch row `index`
        (the raw logits, before temperature and the other samplers), and the `top` likeliest."""
        pointer = llama_cpp.llama_get_logits_ith(self.ctx.ctx, index)
        logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).astype(np.float64)
        peak = logits.max()
        logsumexp = peak + np.log(np.exp(logits - peak).sum())

        def entry(t: int) -> dict[str, Any]:
            raw = self.token_bytes(t)
            return {
                "token": raw.decode("utf-8", "replace"),
                "logprob": float(logits[t] - logsumexp),
                "bytes": list(raw),
            }

        out = entry(token)
        if top > 0:
            best = np.argpartition(-logits, top)[:top]
            out["top_logprobs"] = [entry(int(t)) for t in best[np.argsort(-logits[best])]]
        else:
            out["top_logprobs"] = []
        return out

    def _event(self, seq: _Sequence, **fields: Any) -> None:
        """Queue an event for `seq`, with the log probabilities gathered since the last one."""
        if seq.sampling.logprobs >= 0:
            fields["logprobs"], seq.logprobs = seq.logprobs, []
        seq.events.put(SequenceEvent(**fields))

    def _emit(self, seq: _Sequence, text: str) -> str | None:
        """Send text, holding back what may begin a stop string. Returns "stop" on a stop."""
        if not seq.stop:
            if text:
                self._event(seq, text=text)
            return None
        buffer = seq.held + text
        for stop in seq.stop:
            at = buffer.find(stop)
            if at >= 0:
                seq.held = ""
                if at:
                    self._event(seq, text=buffer[:at])
                return "stop"
        keep = 0
        for stop in seq.stop:
            for k in range(min(len(stop) - 1, len(buffer)), 0, -1):
                if buffer.endswith(stop[:k]):
                    keep = max(keep, k)
                    break
        out, seq.held = buffer[: len(buffer) - keep], buffer[len(buffer) - keep :]
        if out:
            self._event(seq, text=out)
        return None

    def _finish(self, seq: _Sequence, reason: str) -> None:
        # Bytes of a character cut off by the end (num_predict reached mid-character) are
        # dropped, not sent as U+FFFD: the answer ends at its last whole character.
        tail = seq.held
        seq.held = ""
        end = time.perf_counter_ns()
        first = seq.first_token_ns or end
        self._event(
            seq,
            text=tail,
            done=True,
            done_reason=reason,
            prompt_tokens=len(seq.prompt),
            generated_tokens=len(seq.generated),
            prompt_ns=max(0, first - seq.started_ns),
            generate_ns=max(0, end - first),
            tokens=list(seq.prompt) + list(seq.generated),
        )
