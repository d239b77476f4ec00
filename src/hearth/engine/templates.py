"""Chat templates: the GGUF's Jinja2 template (sandboxed), or a Modelfile TEMPLATE.

A Modelfile TEMPLATE may be Jinja2 (like a GGUF's `tokenizer.chat_template`) or
Ollama's Go-template dialect (`{{ .System }}`, `{{ range .Messages }}`...); the latter
is translated to Jinja2 once, here, so one renderer serves both.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hearth.errors import InvalidInput

__all__ = ["CHATML", "ChatTemplate", "go_to_jinja", "is_go_template"]

# Used when a GGUF carries no template.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise(message: str) -> None:
    raise jinja2.TemplateError(message)


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda value, indent=None, **_kw: json.dumps(
        value, ensure_ascii=False, indent=indent
    )
    return env


@lru_cache(maxsize=1)
def _go_environment() -> ImmutableSandboxedEnvironment:
    # Go templates keep whitespace exactly; trimming is explicit with {{- -}}.
    env = ImmutableSandboxedEnvironment(keep_trailing_newline=True)
    env.globals["raise_exception"] = _raise
    env.filters["tojson"] = lambda value, **_kw: json.dumps(value, ensure_ascii=False)
    return env


_GO_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_GO_FIELD = re.compile(r"(\$?)\.([A-Za-z_][A-Za-z0-9_]*)")


def is_go_template(text: str) -> bool:
    """True when `text` uses Ollama's Go-template syntax ({{ .Field }})."""
    return (
        bool(
            re.search(r"\{\{-?\s*(?:if |range |with |end|else|\.|\$\.|eq |ne |and |or |not )", text)
        )
        and "{%" not in text
    )


def _go_expr(expr: str, scope: str | None) -> str:
    """Translate one Go template expression to Jinja2."""

    def field(match: re.Match[str]) -> str:
        dollar, name = match.group(1), match.group(2)
        if scope and not dollar:
            return f"{scope}.{name}"
        return name

    expr = expr.strip()
    if expr in {".", "$"}:
        return scope or "_root"
    words = expr.split()
    if words and words[0] in {"eq", "ne"} and len(words) == 3:
        op = "==" if words[0] == "eq" else "!="
        return f"({_go_expr(words[1], scope)} {op} {_go_expr(words[2], scope)})"
    if words and words[0] in {"and", "or"} and len(words) >= 3:
        return "(" + f" {words[0]} ".join(_go_expr(w, scope) for w in words[1:]) + ")"
    if words and words[0] == "not" and len(words) == 2:
        return f"(not {_go_expr(words[1], scope)})"
    if words and words[0] == "json" and len(words) == 2:
        return f"({_go_expr(words[1], scope)} | tojson)"
    if words and words[0] == "len" and len(words) == 2:
        return f"({_go_expr(words[1], scope)} | length)"
    return _GO_FIELD.sub(field, expr)


def go_to_jinja(text: str) -> str:
    """Translate Ollama's Go-template dialect to Jinja2 (if/else/range/with/end, fields, eq)."""
    out: list[str] = []
    stack: list[str] = []
    scopes: list[str | None] = [None]
    pos = 0
    depth = 0
    for match in _GO_ACTION.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        left, body, right = match.group(1), match.group(2), match.group(3)
        lt, rt = ("-" if left else ""), ("-" if right else "")
        scope = scopes[-1]
        if body.startswith("/*"):
            continue
        if body.startswith("if "):
            stack.append("if")
            scopes.append(scope)
            out.append(f"{{%{lt} if {_go_expr(body[3:], scope)} {rt}%}}")
        elif body.startswith("else if "):
            out.append(f"{{%{lt} elif {_go_expr(body[8:], scope)} {rt}%}}")
        elif body == "else":
            out.append(f"{{%{lt} else {rt}%}}")
        elif body.startswith("range "):
            target = body[6:].strip()
            var = None
            if ":=" in target:  # range $i, $m := .Messages
                names, _, target = target.partition(":=")
                parts = [p.strip().lstrip("$") for p in names.split(",")]
                var = parts[-1]
            depth += 1
            item = var or f"_it{depth}"
            stack.append("for")
            scopes.append(item)
            out.append(f"{{%{lt} for {item} in {_go_expr(target, scope)} {rt}%}}")
        elif body.startswith("with "):
            stack.append("with")
            scopes.append(scope)
            out.append(f"{{%{lt} if {_go_expr(body[5:], scope)} {rt}%}}")
        elif body == "end":
            if not stack:
                raise InvalidInput("TEMPLATE has an {{ end }} without an opening if/range")
            kind = stack.pop()
            scopes.pop()
            out.append(f"{{%{lt} end{'for' if kind == 'for' else 'if'} {rt}%}}")
        else:
            expr = _go_expr(body, scope)
            out.append(f"{{{{{lt} {expr} {rt}}}}}")
    out.append(text[pos:])
    if stack:
        raise InvalidInput("TEMPLATE has an if/range without {{ end }}")
    # Inside a range, `.Role` was translated to `item.Role`; Jinja needs `loop.last` for $last.
    return "".join(out)


class ChatTemplate:
    """Renders messages to a prompt string."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source or CHATML
        self.is_go = is_go_template(self.source)
        self.bos_token = bos_token
        self.eos_token = eos_token
        try:
            if self.is_go:
                self._template = _go_environment().from_string(go_to_jinja(self.source))
            else:
                self._template = _environment().from_string(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidInput(
                f"chat template is not valid: {exc.message} (line {exc.lineno})"
            ) from exc

    @property
    def uses_tools(self) -> bool:
        return "tools" in self.source or ".Tools" in self.source

    def render(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        try:
            if self.is_go:
                return self._render_go(messages, tools)
            return self._template.render(
                messages=messages,
                tools=tools or None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except jinja2.TemplateError as exc:
            raise InvalidInput(f"chat template failed: {exc}") from exc
        except Exception as exc:  # a template is code from the user or the GGUF: 1/0, None + 1, ...
            raise InvalidInput(
                f"chat template failed: {type(exc).__name__}: {exc}; fix the TEMPLATE"
            ) from exc

    def _render_go(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        go_messages = [
            {"Role": m["role"], "Content": m.get("content") or "", "ToolCalls": m.get("tool_calls")}
            for m in messages
        ]
        system = "\n\n".join(m["Content"] for m in go_messages if m["Role"] == "system")
        if "Messages" in self.source:
            return self._template.render(
                Messages=go_messages, System=system, Tools=tools or None, Prompt="", Response=""
            )
        # A single-turn template: render each user turn with its answer, Ollama-style.
        turns: list[str] = []
        pending_user = ""
        for message in go_messages:
            if message["Role"] == "user":
                pending_user = message["Content"]
            elif message["Role"] == "assistant":
                turns.append(
                    self._template.render(
                        System=system if not turns else "",
                        Prompt=pending_user,
                        Response=message["Content"],
                    )
                )
                pending_user = ""
        # The last turn stops where the answer would begin, as Ollama does.
        sentinel = "\x00response\x00"
        last = self._template.render(
            System=system if not turns else "", Prompt=pending_user, Response=sentinel
        )
        turns.append(last.split(sentinel, 1)[0])
        return "".join(turns)
