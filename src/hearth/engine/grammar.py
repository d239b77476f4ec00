"""Constrained decoding: `format` ("json" or a JSON schema) to a GBNF grammar."""

from __future__ import annotations

import json
import logging
from typing import Any

import jsonschema
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from hearth.errors import InvalidInput

__all__ = ["grammar_for_format", "unenforced_keywords"]

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


def unenforced_keywords(schema: Any, where: str = "") -> list[str]:
    """`keyword at path` for each value constraint of `schema` the grammar cannot enforce."""
    found: list[str] = []
    if isinstance(schema, dict):
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
    try:
        jsonschema.validators.validator_for(fmt).check_schema(fmt)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidInput(f"format is not a valid JSON schema at {where}: {exc.message}") from exc
    loose = unenforced_keywords(fmt)
    if loose:
        log.warning("format: not enforced while generating: %s", ", ".join(loose))
    try:
        return json_schema_to_gbnf(json.dumps(fmt))
    except Exception as exc:  # the converter raises bare Exceptions/ValueErrors
        raise InvalidInput(
            f"format: this JSON schema is not supported for constrained output: {exc}"
        ) from exc
