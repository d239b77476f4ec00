"""Constrained decoding: `format` ("json" or a JSON schema) to a GBNF grammar."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from hearth.errors import InvalidInput

__all__ = ["grammar_for_format"]


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
    try:
        return json_schema_to_gbnf(json.dumps(fmt))
    except Exception as exc:  # the converter raises bare Exceptions/ValueErrors
        raise InvalidInput(
            f"format: this JSON schema is not supported for constrained output: {exc}"
        ) from exc
