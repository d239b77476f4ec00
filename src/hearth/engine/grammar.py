"""Constrained decoding: `format` ("json" or a JSON schema) to a GBNF grammar."""

from __future__ import annotations

import json
import logging
import math
import re
from fractions import Fraction
from typing import Any

import jsonschema
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from hearth.errors import InvalidInput

__all__ = ["check_json_schema", "grammar_for_format", "unenforced_keywords"]

log = logging.getLogger(__name__)

# Keywords llama-cpp-python's schema-to-grammar converter ignores: the output has the
# schema's structure and types, but these value constraints are not applied while
# generating (as in Ollama for most of them). They are accepted, because schemas made by
# pydantic (LangChain's structured output) carry them, and logged.
UNENFORCED = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "propertyNames",
    "dependentSchemas",
    "if",
    "then",
    "else",
)

_NAMED = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")


# An integer bounded on both sides by at most this many values is generated as exactly
# those values (a digit trie), so `Field(ge=1, le=5)` holds while generating: a rating,
# an age, a percentage, a year.
_MAX_INT_CHOICES = 10_000
_INT_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_PLACEHOLDER = "__hearth_int_{}__"
_JSON_CHAR = r'[^"\\\x7F\x00-\x1F]'  # a character JSON allows in a string unescaped


def _int_choices(node: dict[str, Any]) -> list[int] | None:
    """The allowed values of a bounded integer schema, when they are few enough to list."""
    if node.get("type") != "integer" or not any(k in node for k in _INT_BOUNDS):
        return None
    if "enum" in node or "const" in node:
        return None  # the values are listed already (the converter enforces them)
    for key in _INT_BOUNDS:
        bound = node.get(key)
        if bound is None:
            continue
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            return None
        if not math.isfinite(bound) or (key == "multipleOf" and bound <= 0):
            return None
    lows = [math.ceil(node["minimum"])] if "minimum" in node else []
    if "exclusiveMinimum" in node:
        lows.append(math.floor(node["exclusiveMinimum"]) + 1)
    highs = [math.floor(node["maximum"])] if "maximum" in node else []
    if "exclusiveMaximum" in node:
        highs.append(math.ceil(node["exclusiveMaximum"]) - 1)
    low, high = max(lows, default=None), min(highs, default=None)
    if low is None or high is None or high < low or high - low >= _MAX_INT_CHOICES:
        return None
    step = Fraction(str(node["multipleOf"])) if "multipleOf" in node else None
    values = [v for v in range(low, high + 1) if step is None or v % step == 0]
    return values or None


def _with_int_placeholders(schema: Any, found: list[list[int]]) -> Any:
    """`schema` with each small bounded integer replaced by a placeholder constant; its
    values are appended to `found` (the placeholder's number is their index)."""
    if isinstance(schema, list):
        return [_with_int_placeholders(v, found) for v in schema]
    if not isinstance(schema, dict):
        return schema
    choices = _int_choices(schema)
    if choices is not None:
        found.append(choices)
        kept = {k: v for k, v in schema.items() if k not in _INT_BOUNDS and k != "type"}
        return kept | {"enum": [_PLACEHOLDER.format(len(found) - 1)]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("enum", "const", "default", "examples"):
            out[key] = value
        elif key in _NAMED and isinstance(value, dict):
            out[key] = {name: _with_int_placeholders(sub, found) for name, sub in value.items()}
        else:
            out[key] = _with_int_placeholders(value, found)
    return out


def _int_rules(name: str, values: list[int]) -> list[str]:
    """GBNF rules matching exactly `values` as JSON integers: a digit trie whose repeated
    subtrees share one rule each (0..9999 takes a handful of rules, not 10,000 strings)."""
    end = ""  # trie key marking that a number may end here
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for char in str(value):
            node = node.setdefault(char, {})
        node[end] = {}
    rules: dict[str, str] = {}  # expression -> rule name

    def expr(node: dict[str, Any]) -> str:
        alts: dict[str, list[str]] = {}  # the rest -> the characters leading to it
        for char, child in sorted(node.items()):
            if char != end:
                alts.setdefault(sub(child), []).append(char)
        parts = []
        for rest, chars in alts.items():
            head = f'"{chars[0]}"' if len(chars) == 1 else f"[{''.join(chars)}]"
            parts.append(f"{head} {rest}".strip())
        body = " | ".join(parts)
        if end in node:
            return f"({body})?" if body else ""
        return f"({body})" if len(parts) > 1 else body

    def sub(node: dict[str, Any]) -> str:
        text = expr(node)
        if len(text) <= 12:
            return text
        if text not in rules:
            rules[text] = f"{name}-{len(rules)}"
        return rules[text]

    top = expr(trie)
    return [f"{name} ::= {top} space"] + [f"{rule} ::= {text}" for text, rule in rules.items()]


def unenforced_keywords(schema: Any, where: str = "") -> list[str]:
    """`keyword at path` for each value constraint of `schema` the grammar cannot enforce."""
    found: list[str] = []
    if isinstance(schema, dict):
        if _int_choices(schema) is not None:
            return found  # generated as an enum of its values
        found += [f"{key} at {where or '/'}" for key in UNENFORCED if key in schema]
        for key, value in schema.items():
            if key in ("enum", "const", "default", "examples"):
                continue  # values, not schemas
            if key in _NAMED and isinstance(value, dict):  # {name: schema}: names are not keywords
                for name, sub in value.items():
                    found += unenforced_keywords(sub, f"{where}/{key}/{name}")
            else:
                found += unenforced_keywords(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            found += unenforced_keywords(value, f"{where}/{i}")
    return found


def check_json_schema(schema: dict[str, Any], what: str) -> None:
    """Raise InvalidInput "{what} is not a valid JSON schema at {where}: ..." for a schema
    its own metaschema rejects."""
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidInput(f"{what} is not a valid JSON schema at {where}: {exc.message}") from exc


def grammar_for_format(fmt: str | dict[str, Any] | None) -> str | None:
    """The GBNF grammar text for an Ollama `format`, or None for free text.

    Raises InvalidInput for an unknown format string or an invalid JSON schema.
    """
    if fmt is None or fmt == "":
        return None
    if isinstance(fmt, str):
        if fmt == "json":
            return JSON_GBNF
        raise InvalidInput(f'invalid format {fmt!r}: use "json" or a JSON schema object')
    if not isinstance(fmt, dict):
        raise InvalidInput('invalid format: use "json" or a JSON schema object')
    check_json_schema(fmt, "format")
    loose = unenforced_keywords(fmt)
    if loose:
        log.warning("format: not enforced while generating: %s", ", ".join(loose))
    try:
        ranges: list[list[int]] = []
        grammar = json_schema_to_gbnf(json.dumps(_with_int_placeholders(fmt, ranges)))
    except Exception as exc:  # the converter raises bare Exceptions/ValueErrors
        raise InvalidInput(
            f"format: this JSON schema is not supported for constrained output: {exc}"
        ) from exc
    # The converter lets a string hold raw control characters (a newline: invalid JSON), and
    # a pattern's `.` any character but newlines (a `"` ends the string early): narrow both to
    # what JSON allows unescaped, as llama.cpp's own converter does.
    grammar = re.sub(r'(?m)^char ::= \[\^"\\\\\]', lambda _: f"char ::= {_JSON_CHAR}", grammar)
    grammar = re.sub(r"(?m)^dot ::= .*$", lambda _: f"dot ::= {_JSON_CHAR}", grammar)
    for i, values in enumerate(ranges):
        name = f"hearth-int-{i}"
        grammar = grammar.replace(f'"\\"{_PLACEHOLDER.format(i)}\\""', name)
        grammar += "\n" + "\n".join(_int_rules(name, values)) + "\n"
    return grammar
