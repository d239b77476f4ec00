"""Pure-logic tests of the engine: templates, grammars, tool-call parsing, the scheduler."""

from __future__ import annotations

import re
import threading

import pytest

from hearth.config import Settings, parse_duration
from hearth.engine import ChatTemplate, parse_tool_calls
from hearth.engine.engine import _ToolCallSplitter
from hearth.engine.grammar import _int_choices, _int_rules, grammar_for_format, unenforced_keywords
from hearth.engine.scheduler import Scheduler
from hearth.engine.templates import CHATML, go_to_jinja, is_go_template
from hearth.errors import Busy, InvalidInput

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]


def test_chatml_renders_turns_and_generation_prompt() -> None:
    text = ChatTemplate(CHATML).render(MESSAGES)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_go_template_with_messages_matches_chatml() -> None:
    go = (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
        "<|im_start|>assistant\n"
    )
    assert is_go_template(go)
    assert ChatTemplate(go).render(MESSAGES) == ChatTemplate(CHATML).render(MESSAGES)


def test_single_turn_go_template_cuts_at_response() -> None:
    go = "{{ if .System }}[SYS]{{ .System }}[/SYS]{{ end }}[INST]{{ .Prompt }}[/INST]{{ .Response }}</s>"
    text = ChatTemplate(go).render(MESSAGES)
    assert text == "[SYS]Be brief.[/SYS][INST]Hi[/INST]Hello!</s>[INST]Bye[/INST]"


def test_go_template_eq_and_else() -> None:
    go = '{{ range .Messages }}{{ if eq .Role "user" }}U:{{ else }}A:{{ end }}{{ .Content }};{{ end }}'
    assert ChatTemplate(go).render(MESSAGES[1:]) == "U:Hi;A:Hello!;U:Bye;"


def test_unbalanced_go_template_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="end"):
        go_to_jinja("{{ if .System }}x")


def test_jinja_template_is_sandboxed() -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(InvalidInput):
        ChatTemplate(evil).render(MESSAGES)


def test_grammar_for_formats() -> None:
    assert grammar_for_format(None) is None
    assert "root" in (grammar_for_format("json") or "")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert "root" in (grammar_for_format(schema) or "")
    with pytest.raises(InvalidInput, match="not a valid JSON schema"):
        grammar_for_format({"type": "objekt"})
    with pytest.raises(InvalidInput, match="invalid format"):
        grammar_for_format("yaml")


def _rules_as_regex(rules: list[str]) -> re.Pattern[str]:
    """The (non-recursive) GBNF rules of a bounded integer, expanded into one regex."""
    table = dict(rule.split(" ::= ", 1) for rule in rules)
    names = sorted(table, key=len, reverse=True)

    def expand(text: str) -> str:
        text = re.sub(r'"(.)"', lambda m: re.escape(m.group(1)), text)
        for name in names:
            text = re.sub(
                rf"(?<![\w-]){re.escape(name)}(?![\w-])",
                lambda _, name=name: f"(?:{expand(table[name])})",
                text,
            )
        return (
            text.replace("space", " ?").replace("(", "(?:").replace("(?:?:", "(?:").replace(" ", "")
        )

    return re.compile(expand(table[rules[0].split(" ::= ")[0]]))


@pytest.mark.parametrize(
    "bounds",
    [
        {"minimum": 1, "maximum": 5},
        {"minimum": 0, "maximum": 120},
        {"minimum": 1900, "maximum": 2100},
        {"minimum": -12, "exclusiveMaximum": 7},
        {"exclusiveMinimum": 0, "maximum": 9999},
        {"minimum": 0, "maximum": 100, "multipleOf": 5},
        {"minimum": 0, "maximum": 1000, "multipleOf": 0.7},  # 7, 14, ... (float steps exact)
        {"minimum": -15, "maximum": -3},
    ],
)
def test_a_bounded_integer_grammar_matches_exactly_its_values(bounds: dict[str, float]) -> None:
    values = _int_choices({"type": "integer", **bounds})
    assert values is not None
    pattern = _rules_as_regex(_int_rules("n", values))
    allowed = set(values)
    for v in range(-200, 12_000):
        assert bool(pattern.fullmatch(str(v))) == (v in allowed), v
    assert not pattern.fullmatch("007") and not pattern.fullmatch("-0")


def test_bounded_integers_are_enforced_and_others_named() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stars": {"type": "integer", "minimum": 1, "maximum": 5, "description": "rating"},
            "count": {"type": "integer", "minimum": 0},
            "huge": {"type": "integer", "minimum": 0, "maximum": 10**9},
        },
    }
    grammar = grammar_for_format(schema) or ""
    assert "hearth-int-0 ::= [12345] space" in grammar and "__hearth_int" not in grammar
    # An enum keeps its values; infinite or NaN bounds are not enforced (and no 500).
    listed = grammar_for_format({"type": "integer", "minimum": 0, "maximum": 10, "enum": [3, 7]})
    assert '"3" | "7"' in (listed or "") and "hearth-int" not in (listed or "")
    for odd in (float("inf"), float("nan")):
        assert grammar_for_format({"type": "integer", "minimum": 0, "maximum": odd})
    # Strings (and a pattern's `.`) exclude what JSON must escape: a raw newline, a quote.
    strings = grammar_for_format({"type": "string", "pattern": "^a.b$"}) or ""
    assert r'dot ::= [^"\\\x7F\x00-\x1F]' in strings
    assert r'char ::= [^"\\\x7F\x00-\x1F] |' in (grammar_for_format({"type": "string"}) or "")
    assert unenforced_keywords(schema) == [
        "minimum at /properties/count",
        "minimum at /properties/huge",
        "maximum at /properties/huge",
    ]


def test_parse_tool_calls() -> None:
    text, calls = parse_tool_calls('{"name": "get_weather", "arguments": {"city": "Taipei"}}')
    assert text == "" and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == {"city": "Taipei"}
    text, calls = parse_tool_calls(
        'Sure. <tool_call>{"name": "f", "arguments": "{\\"x\\": 1}"}</tool_call>'
    )
    assert text == "Sure." and calls[0].function.arguments == {"x": 1}
    text, calls = parse_tool_calls("The weather is {not json}")
    assert calls == [] and text == "The weather is {not json}"
    # Only the tools offered count; JSON that merely has a "name" is an answer, not a call.
    person = '{"name": "Alice", "age": 30}'
    assert parse_tool_calls(person, {"get_weather"}) == (person, [])
    bad_args = '{"name": "get_weather", "arguments": "not json"}'
    assert parse_tool_calls(bad_args, {"get_weather"}) == (bad_args, [])


@pytest.mark.parametrize(
    ("pieces", "sent", "rest"),
    [
        (["The ", "sky ", "is blue."], "The sky is blue.", ""),  # prose streams
        (["  ", '{"na', 'me": "f"}'], "", '  {"name": "f"}'),  # a call is held to the end
        (["Sure. <to", "ol_call>{}", "</tool_call>"], "Sure. ", "<tool_call>{}</tool_call>"),
        (["a <to", "day"], "a <today", ""),  # a tag prefix that did not become one is sent
        (["```", "json\n{}```"], "", "```json\n{}```"),
    ],
)
def test_tool_call_splitter_streams_prose_and_holds_calls(
    pieces: list[str], sent: str, rest: str
) -> None:
    splitter = _ToolCallSplitter()
    assert "".join(splitter.feed(p) for p in pieces) == sent
    assert splitter.rest() == rest


def test_parse_duration() -> None:
    assert parse_duration("5m", 1) == 300
    assert parse_duration("30s", 1) == 30
    assert parse_duration("1h", 1) == 3600
    assert parse_duration(0, 1) == 0
    assert parse_duration(-1, 1) == float("inf")
    assert parse_duration(None, 7) == 7
    assert parse_duration("1h30m", 1) == 5400  # Go durations, as Ollama parses them
    assert parse_duration("500ms", 1) == 0.5
    assert parse_duration("-1m", 1) == float("inf")
    assert parse_duration(1e308, 1) == float("inf")  # "forever", not an overflow later
    for bad in ("soon", "nan", float("nan"), True, "1h30"):
        with pytest.raises(InvalidInput, match="invalid duration"):
            parse_duration(bad, 1)  # type: ignore[arg-type]


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {"HEARTH_HOST": "0.0.0.0:8080", "HEARTH_API_KEYS": "a, b", "HEARTH_KEEP_ALIVE": "10m"}
    )
    assert s.host_port == ("0.0.0.0", 8080)
    assert s.api_keys == ("a", "b")
    assert s.keep_alive == 600
    assert s.base_url == "http://127.0.0.1:8080"
    with pytest.raises(InvalidInput, match="HEARTH_NUM_PARALLEL"):
        Settings.from_env({"HEARTH_NUM_PARALLEL": "many"})


class _Runner:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False


def _scheduler(max_loaded: int = 1, budget: int = 0, max_queue: int = 8) -> Scheduler:
    return Scheduler(
        max_loaded=max_loaded,
        memory_budget=budget,
        max_queue=max_queue,
        close_runner=lambda r: setattr(r, "closed", True),
    )


def test_scheduler_reuses_and_evicts_lru() -> None:
    sched = _scheduler(max_loaded=2)
    loads: list[str] = []

    def loader(name: str):  # type: ignore[no-untyped-def]
        def load() -> _Runner:
            loads.append(name)
            return _Runner(name)

        return load

    a = sched.acquire("a", ("a",), 1, 60, loader("a"))
    sched.release(a)
    a2 = sched.acquire("a", ("a",), 1, 60, loader("a"))
    assert a2.runner is a.runner and loads == ["a"]
    sched.release(a2)
    b = sched.acquire("b", ("b",), 1, 60, loader("b"))
    sched.release(b)
    c = sched.acquire("c", ("c",), 1, 60, loader("c"))  # evicts a (least recently used)
    sched.release(c)
    assert [e.name for e in sched.loaded()] == ["b", "c"]
    assert a.runner is None and loads == ["a", "b", "c"]
    sched.close()


def test_scheduler_keep_alive_zero_unloads_on_release() -> None:
    sched = _scheduler()
    entry = sched.acquire("a", ("a",), 1, 0, lambda: _Runner("a"))
    runner = entry.runner
    sched.release(entry)
    assert sched.loaded() == [] and runner.closed
    sched.close()


def test_scheduler_memory_budget_waits_for_busy_model() -> None:
    sched = _scheduler(max_loaded=4, budget=10)
    big = sched.acquire("big", ("big",), 8, 60, lambda: _Runner("big"))
    got: list[str] = []

    def other() -> None:
        e = sched.acquire("small", ("small",), 5, 60, lambda: _Runner("small"))
        got.append(e.name)
        sched.release(e)

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=0.5)
    assert got == []  # waits: "big" is in use and the budget is full
    sched.release(big)
    t.join(timeout=10)
    assert got == ["small"]
    sched.close()


def test_scheduler_queue_limit() -> None:
    sched = _scheduler(max_queue=2)
    entry = sched.acquire("a", ("a",), 1, 60, lambda: _Runner("a"))
    with pytest.raises(Busy):
        sched.acquire("a", ("a",), 1, 60, lambda: _Runner("a"), busy=lambda _r: 2)
    sched.release(entry)
    sched.close()


def test_scheduler_concurrent_first_requests_load_once() -> None:
    sched = _scheduler(max_loaded=2)
    loads: list[int] = []
    gate = threading.Event()

    def load() -> _Runner:
        loads.append(1)
        gate.wait(timeout=5)
        return _Runner("a")

    got: list[object] = []

    def busy(runner: _Runner) -> int:
        assert runner is not None  # never asked of a model still loading
        return 0

    def request() -> None:
        entry = sched.acquire("a", ("a",), 1, 60, load, busy=busy)
        got.append(entry.runner)
        sched.release(entry)

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    threading.Event().wait(0.2)
    gate.set()
    for t in threads:
        t.join(timeout=10)
    assert len(loads) == 1 and len(got) == 3 and all(r is got[0] for r in got)
    sched.close()


def test_thread_tuner_follows_the_faster_count() -> None:
    from hearth.engine.runner import ThreadTuner

    tuner = ThreadTuner(2, every=4, probe=2)
    speed = {1: 0.016, 2: 0.008}  # idle machine: 2 threads twice as fast

    def run(steps: int) -> None:
        for _ in range(steps):
            threads = tuner.choose(True)
            tuner.record(threads, speed[threads])

    run(20)
    assert tuner.current == 2
    speed[2] = 0.2  # another process takes a core: 2 threads collapse
    run(3)
    assert tuner.current == 1
    run(200)
    assert tuner.current == 1  # probes of 2 threads keep losing, and grow rarer
    assert tuner.interval > tuner.every
    speed[2] = 0.008  # the machine is free again
    run(600)
    assert tuner.current == 2
