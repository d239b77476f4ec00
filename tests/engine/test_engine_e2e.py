"""The engine with the real bundled model (SmolLM2-135M) through the real store."""

from __future__ import annotations

import json
import threading
from typing import Any

import jsonschema
import pytest

from hearth.api.ollama import ChatRequest, GenerateRequest, Message, Options
from hearth.errors import ContextOverflow, HearthError, InvalidInput, ModelNotFound

pytestmark = pytest.mark.slow

MODEL = "smollm2:135m"
GREEDY = {"temperature": 0, "seed": 42, "num_predict": 24}


def _chat(services: Any, text: str, **extra: Any) -> tuple[str, Any]:
    req = ChatRequest(
        model=MODEL,
        messages=[Message(role="user", content=text)],
        options=Options(**GREEDY),
        **extra,
    )
    chunks = list(services.engine.chat(req))
    return "".join(c.message.content or "" for c in chunks), chunks[-1]


def test_chat_is_deterministic_and_reports_counts(services: Any) -> None:
    first, final = _chat(services, "What is the capital of France?")
    second, _ = _chat(services, "What is the capital of France?")
    assert first == second and first.strip()
    assert final.done and final.done_reason in {"stop", "length"}
    assert final.prompt_eval_count > 10 and 0 < final.eval_count <= 24
    assert final.eval_duration > 0 and final.prompt_eval_duration > 0


def test_concurrent_sequences_match_sequential(services: Any) -> None:
    prompts = ["Name a color.", "What is 2 + 2?", "Say hello.", "Name a fruit."]
    sequential = [_chat(services, p)[0] for p in prompts]
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = _chat(services, prompts[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [results[i] for i in range(4)] == sequential


def test_json_schema_output_validates(services: Any) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 24},  # hot sampling rambles otherwise
            "population": {"type": "integer"},
            "stars": {"type": "integer", "minimum": 1, "maximum": 5},  # enforced, not hoped for
        },
        "required": ["city", "population", "stars"],
    }
    for seed in range(3):  # sampled hot: the grammar, not the model's taste, keeps the range
        req = ChatRequest(
            model=MODEL,
            messages=[Message(role="user", content="Give a city, its population and a rating.")],
            options=Options(temperature=1.5, seed=seed, num_predict=64),
            format=schema,
        )
        text = "".join(c.message.content or "" for c in services.engine.chat(req))
        jsonschema.validate(json.loads(text), schema)


def _raw(services: Any, prompt: str, **options: Any) -> tuple[str, list[Any]]:
    """A greedy raw continuation of `prompt`: its text and its chunks."""
    req = GenerateRequest(
        model=MODEL, prompt=prompt, raw=True, options=Options(temperature=0, **options)
    )
    chunks = list(services.engine.generate(req))
    return "".join(c.response for c in chunks), chunks


def test_generate_raw_and_stop(services: Any) -> None:
    text, chunks = _raw(services, "1, 2, 3, 4,", num_predict=20, stop=["7"])
    assert "5" in text and "7" not in text
    assert chunks[-1].done_reason == "stop" and chunks[-1].context
    # An empty stop string is no stop string, not "stop at once".
    assert _raw(services, "1, 2, 3, 4,", num_predict=8, stop=[""])[0].strip()


def test_num_predict_zero_is_no_limit_as_in_ollama(services: Any) -> None:
    text, chunks = _raw(services, "1, 2, 3,", num_predict=0, stop=[","])
    assert text.strip() == "4"  # not one token, not none
    assert chunks[-1].done_reason == "stop"


def test_a_cut_off_answer_ends_at_a_whole_character(services: Any) -> None:
    # Chinese characters span several byte-level tokens: most limits fall mid-character.
    for n in range(1, 9):
        assert "\ufffd" not in _raw(services, "馬祖列島位於臺灣海峽", num_predict=n)[0], n


def test_logit_bias_bans_a_token(services: Any) -> None:
    assert "5" in _raw(services, "1, 2, 3, 4,", num_predict=6)[0]
    five = services.engine.tokenize(MODEL, "5")
    banned = {t: -100.0 for t in five}
    assert "5" not in _raw(services, "1, 2, 3, 4,", num_predict=6, logit_bias=banned)[0]
    with pytest.raises(InvalidInput, match="token id 999999 is not in this model's vocabulary"):
        _raw(services, "1, 2, 3, 4,", num_predict=6, logit_bias={999999: 5.0})


def test_prompt_over_context_is_a_clear_error(services: Any) -> None:
    long = "word " * 400
    req = ChatRequest(
        model=MODEL, messages=[Message(role="user", content=long)], options=Options(num_ctx=128)
    )
    with pytest.raises(ContextOverflow, match="context is 128 tokens"):
        list(services.engine.chat(req))


def test_closing_the_stream_stops_generation(services: Any) -> None:
    req = ChatRequest(
        model=MODEL,
        messages=[Message(role="user", content="Write a long story.")],
        options=Options(temperature=0.7, seed=1, num_predict=500),
    )
    stream = services.engine.chat(req)
    next(stream)
    stream.close()
    entry = services.engine.scheduler.loaded()[0]
    runner = entry.runner
    for _ in range(200):
        if runner.busy == 0:
            break
        threading.Event().wait(0.01)
    assert runner.busy == 0
    # The freed slot serves the next request.
    assert _chat(services, "Say hi.")[0]


def test_empty_request_loads_and_keep_alive_zero_unloads(services: Any) -> None:
    loaded = list(services.engine.chat(ChatRequest(model=MODEL, messages=[])))
    assert loaded[-1].done_reason == "load"
    assert [m.name for m in services.engine.ps()] == [MODEL]
    unloaded = list(services.engine.chat(ChatRequest(model=MODEL, messages=[], keep_alive=0)))
    assert unloaded[-1].done_reason == "unload"
    assert services.engine.ps() == []


def test_embeddings_of_both_kinds_of_model(services: Any) -> None:
    e5 = services.engine.embed(
        "multilingual-e5-small",
        ["自然語言處理", "natural language processing", "烤鴨"],
        kind="passage",
    )
    assert e5.embeddings.shape == (3, 384)
    sims = e5.embeddings @ e5.embeddings[0]
    assert sims[1] > sims[2]  # the translation is closer than an unrelated word
    llm = services.engine.embed(MODEL, ["hello", "world"])
    assert llm.embeddings.shape[0] == 2 and llm.prompt_tokens >= 2


def test_unknown_model_and_bad_role(services: Any) -> None:
    with pytest.raises(ModelNotFound, match="hearth pull"):
        list(
            services.engine.chat(
                ChatRequest(model="nope:1b", messages=[Message(role="user", content="x")])
            )
        )
    with pytest.raises(InvalidInput, match="embedding model"):
        list(
            services.engine.chat(
                ChatRequest(
                    model="multilingual-e5-small", messages=[Message(role="user", content="x")]
                )
            )
        )


def test_next_turn_reuses_the_cached_prefix(services: Any) -> None:
    first, _ = _chat(services, "What is the capital of France?")
    runner = services.engine.scheduler.loaded()[0].runner
    before = runner.reused_tokens
    req = ChatRequest(
        model=MODEL,
        messages=[
            Message(role="user", content="What is the capital of France?"),
            Message(role="assistant", content=first),
            Message(role="user", content="And of Italy?"),
        ],
        options=Options(**GREEDY),
    )
    chunks = list(services.engine.chat(req))
    final = chunks[-1]
    reused = runner.reused_tokens - before
    # The whole first turn (system + question) came from the cache, not from evaluation.
    assert reused >= 20 and final.prompt_eval_count > reused
    assert "".join(c.message.content or "" for c in chunks).strip()


def test_embedding_truncation_and_ps_lists_embedding_models(services: Any) -> None:
    long = "natural language processing " * 300  # well over e5's 512 tokens
    cut = services.engine.embed("multilingual-e5-small", [long])
    assert cut.embeddings.shape == (1, 384) and cut.prompt_tokens == 512
    with pytest.raises(InvalidInput, match="more than this model's 512"):
        services.engine.embed("multilingual-e5-small", [long], truncate=False)
    assert "multilingual-e5-small:latest" in [m.name for m in services.engine.ps()]


def test_load_duration_only_for_the_request_that_loads(services: Any) -> None:
    _, first = _chat(services, "Hi")
    _, second = _chat(services, "Hi again")
    assert first.load_duration > 0 and second.load_duration == 0


def test_bad_context_ids_are_refused_and_a_failed_runner_is_replaced(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = GenerateRequest(model=MODEL, prompt="Hi", context=[-1], options=Options(**GREEDY))
    with pytest.raises(InvalidInput, match=r"token id -1 is not in this model's vocabulary"):
        list(services.engine.generate(req))
    runner = services.engine.scheduler.loaded()[0].runner
    # Get a bad id past the check: llama_decode fails and the runner closes itself. The
    # request gets an error; the next request must get a freshly loaded runner, not the corpse.
    monkeypatch.setattr(runner, "n_vocab", runner.n_vocab + 100)
    bad = GenerateRequest(
        model=MODEL, prompt="Hi", context=[runner.n_vocab - 1], options=Options(**GREEDY)
    )
    with pytest.raises(HearthError, match="the engine failed"):
        list(services.engine.generate(bad))
    assert runner.closed
    assert _chat(services, "Say hi.")[0]
    assert services.engine.scheduler.loaded()[0].runner is not runner
