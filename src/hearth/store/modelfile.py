"""Modelfiles (Ollama's docs/modelfile.md): parse, create a model from one, render one.

    FROM smollm2:135m            # a model name or a local .gguf path
    PARAMETER temperature 0.2    # repeatable; `stop` may be given several times
    SYSTEM \"\"\"You are a tutor.\"\"\"
    TEMPLATE ...                  # Jinja2 or Ollama's Go-template dialect
    MESSAGE user Hello            # few-shot turns
    ADAPTER ./lora.gguf           # a LoRA adapter in GGUF
    LICENSE ...

Instructions are case-insensitive; `#` starts a comment line; values may span lines
inside triple quotes. Errors name the line.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hearth.api.ollama import Message, Options, ProgressResponse
from hearth.errors import InvalidInput, ModelNotFound
from hearth.store.gguf import GgufInfo, read_gguf
from hearth.store.names import parse_name
from hearth.store.records import ModelRecord

__all__ = [
    "PARAMETERS",
    "Modelfile",
    "create_from_modelfile",
    "create_from_spec",
    "parse_modelfile",
    "render_modelfile",
]

INSTRUCTIONS = ("from", "parameter", "system", "template", "message", "adapter", "license")
PARAMETERS: dict[str, type] = {
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "min_p": float,
    "typical_p": float,
    "repeat_penalty": float,
    "repeat_last_n": int,
    "presence_penalty": float,
    "frequency_penalty": float,
    "seed": int,
    "stop": str,
    "num_ctx": int,
    "num_predict": int,
    "num_keep": int,
    "num_thread": int,
    "num_batch": int,
    "mirostat": int,
    "mirostat_tau": float,
    "mirostat_eta": float,
}
ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Modelfile:
    base: str = ""
    base_line: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_lines: dict[str, int] = field(default_factory=dict)  # for errors
    system: str | None = None
    template: str | None = None
    messages: list[Message] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)


def _split_word(text: str) -> tuple[str, str]:
    """("PARAMETER", "stop END") from "PARAMETER stop END" (any whitespace between)."""
    parts = text.split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0] if parts else "", "")


def _unquote(value: str, line: int) -> str:
    value = value.strip()
    if value.startswith('"""'):
        if not value.endswith('"""') or len(value) < 6:
            raise InvalidInput(f'Modelfile line {line}: unterminated """ block')
        return value[3:-3]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line number, text) with triple-quoted values joined across lines."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i]
        if line.count('"""') % 2 == 1:
            parts = [line]
            i += 1
            while i < len(lines) and lines[i].count('"""') % 2 == 0:
                parts.append(lines[i])
                i += 1
            if i >= len(lines):
                raise InvalidInput(f'Modelfile line {start}: unterminated """ block')
            parts.append(lines[i])
            line = "\n".join(parts)
        i += 1
        yield start, line


def parse_modelfile(text: str) -> Modelfile:
    """Parse Modelfile text; raises InvalidInput naming the line of the first error."""
    mf = Modelfile()
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, rest = _split_word(stripped)
        command = word.lower()
        rest = rest.strip()
        if command not in INSTRUCTIONS:
            guess = difflib.get_close_matches(command, INSTRUCTIONS, n=1)
            hint = (
                f"; did you mean {guess[0].upper()}?"
                if guess
                else f"; use one of {', '.join(i.upper() for i in INSTRUCTIONS)}"
            )
            raise InvalidInput(f"Modelfile line {number}: unknown instruction {word!r}{hint}")
        if not rest:
            raise InvalidInput(f"Modelfile line {number}: {word.upper()} needs a value")
        if command == "from":
            if mf.base:
                raise InvalidInput(
                    f"Modelfile line {number}: FROM appears twice (first on line {mf.base_line})"
                )
            mf.base, mf.base_line = _unquote(rest, number), number
        elif command == "parameter":
            key, value = _split_word(rest)
            key = key.lower()
            if key not in PARAMETERS:
                guess = difflib.get_close_matches(key, PARAMETERS, n=1)
                hint = f"; did you mean {guess[0]}?" if guess else ""
                raise InvalidInput(f"Modelfile line {number}: unknown parameter {key!r}{hint}")
            value = _unquote(value, number)
            if not value:
                raise InvalidInput(f"Modelfile line {number}: PARAMETER {key} needs a value")
            kind = PARAMETERS[key]
            mf.parameter_lines.setdefault(key, number)
            if key == "stop":
                mf.parameters.setdefault("stop", []).append(value)
                continue
            try:
                mf.parameters[key] = kind(value)
            except ValueError:
                raise InvalidInput(
                    f"Modelfile line {number}: PARAMETER {key} must be {'an integer' if kind is int else 'a number'}, not {value!r}"
                ) from None
        elif command == "system":
            mf.system = _unquote(rest, number)
        elif command == "template":
            mf.template = _unquote(rest, number)
        elif command == "license":
            mf.licenses.append(_unquote(rest, number))
        elif command == "adapter":
            mf.adapters.append(_unquote(rest, number))
        elif command == "message":
            role, content = _split_word(rest)
            if role.lower() not in ROLES:
                raise InvalidInput(
                    f"Modelfile line {number}: MESSAGE role must be one of {', '.join(ROLES)}, not {role!r}"
                )
            mf.messages.append(Message(role=role.lower(), content=_unquote(content, number)))  # type: ignore[arg-type]
    if not mf.base:
        raise InvalidInput("Modelfile has no FROM line: start it with e.g. FROM smollm2:135m")
    try:
        Options.model_validate(mf.parameters)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        at = mf.parameter_lines.get(key)
        where = f"Modelfile line {at}: PARAMETER {key}" if at else "Modelfile: PARAMETER"
        raise InvalidInput(f"{where} {_lower_first(error['msg'])}") from None
    return mf


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def check_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """/api/create's `parameters`: known names with values of the right type and range,
    as the Modelfile's PARAMETER lines would give them (so a model is never written with
    parameters that `list` and every later request would fail to read)."""
    # logit_bias is per request (token ids of one vocabulary), not a Modelfile PARAMETER.
    known = (set(PARAMETERS) | set(Options.model_fields)) - {"logit_bias"}
    for key in parameters:
        if key not in known:
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {guess[0]}?" if guess else ""
            raise InvalidInput(f"parameters: unknown parameter {key!r}{hint}")
    values = dict(parameters)
    if isinstance(values.get("stop"), str):
        values["stop"] = [values["stop"]]
    try:
        checked = Options.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(
            f"parameters.{key}: {_lower_first(error['msg'])} (got {error.get('input')!r})"
        ) from None
    return checked.model_dump(exclude_none=True)


def _local_path(value: str, base_dir: Path) -> Path | None:
    looks_like_path = value.startswith((".", "/", "~")) or value.lower().endswith(".gguf")
    if not looks_like_path:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def create_from_modelfile(
    store: Any, name: str, text: str, base_dir: Path
) -> Iterator[ProgressResponse]:
    """Build model `name` from Modelfile text; yields progress, writes the manifest last."""
    mf = parse_modelfile(text)  # all errors before anything is written
    return create_from_spec(
        store,
        name,
        base=mf.base,
        base_dir=base_dir,
        parameters=mf.parameters,
        system=mf.system,
        template=mf.template,
        messages=mf.messages,
        adapters=mf.adapters,
        licenses=mf.licenses,
    )


def _check_adapter(name: str, adapter: GgufInfo, base: GgufInfo | None) -> None:
    """A LoRA adapter in GGUF, made for the base model's architecture."""
    kind = str(adapter.get("general.type") or "")
    if kind and kind != "adapter":
        raise InvalidInput(
            f"ADAPTER {name!r} is a {kind}, not a LoRA adapter: convert the adapter to GGUF"
        )
    if base is None:
        raise InvalidInput(f"ADAPTER {name!r}: adapters apply to GGUF models only")
    if adapter.architecture and base.architecture and adapter.architecture != base.architecture:
        raise InvalidInput(
            f"ADAPTER {name!r} was made for {adapter.architecture} models, but the base model is {base.architecture}"
        )


def create_from_spec(
    store: Any,
    name: str,
    *,
    base: str,
    base_dir: Path,
    parameters: dict[str, Any] | None = None,
    system: str | None = None,
    template: str | None = None,
    messages: list[Message] | None = None,
    adapters: list[str] | None = None,
    licenses: list[str] | None = None,
) -> Iterator[ProgressResponse]:
    target = parse_name(name)
    from hearth.engine.templates import ChatTemplate
    from hearth.store.store import MEDIA

    if parameters:
        parameters = check_parameters(parameters)
    if template:
        ChatTemplate(template)  # a broken TEMPLATE fails now, not at the first chat
    # Everything that can be checked is checked before anything is written.
    path = _local_path(base, base_dir)
    info = None
    inherited: ModelRecord | None = None
    if path is not None:
        if not path.is_file():
            raise InvalidInput(
                f"FROM {base!r}: file not found (paths are relative to the Modelfile)"
            )
        info = read_gguf(path)  # CorruptModel before anything is copied
    else:
        try:
            inherited = store.resolve(base)
        except ModelNotFound:
            raise ModelNotFound(
                base, f"FROM {base}: model not found; pull it first: hearth pull {base}"
            ) from None
    base_info = info if info is not None else (store.gguf_info(inherited) if inherited else None)
    for adapter in adapters or []:
        apath = _local_path(adapter, base_dir)
        if apath is None or not apath.is_file():
            raise InvalidInput(
                f"ADAPTER {adapter!r}: file not found (paths are relative to the Modelfile)"
            )
        _check_adapter(adapter, read_gguf(apath), base_info)

    def run() -> Iterator[ProgressResponse]:
        with store.writing():  # a concurrent `rm` keeps the blobs written before the manifest
            yield from build()

    def build() -> Iterator[ProgressResponse]:
        yield ProgressResponse(status="reading model metadata")
        layers: list[dict[str, Any]] = []
        if path is not None and info is not None:
            digest = store.digest_of_blob_path(path)  # FROM a blob of this store (show --modelfile)
            if digest is None:
                yield ProgressResponse(status="copying model file")
                with path.open("rb") as fh:
                    digest = store.add_blob(fh)
            layers.append(
                {"mediaType": MEDIA["model"], "digest": digest, "size": path.stat().st_size}
            )
            config = store.config_for_gguf(info)
        else:
            assert inherited is not None
            manifest = store.read_manifest(parse_name(inherited.name))
            layers = [dict(layer) for layer in manifest["layers"]]
            config = json.loads(store.blob_path(manifest["config"]["digest"]).read_text())
            config["parent_model"] = inherited.name
        yield ProgressResponse(status="creating layers")

        def replace(kind: str, digest_size: tuple[str, int] | None) -> None:
            nonlocal layers
            layers = [layer for layer in layers if layer["mediaType"] != MEDIA[kind]]
            if digest_size:
                layers.append(
                    {"mediaType": MEDIA[kind], "digest": digest_size[0], "size": digest_size[1]}
                )

        if parameters:
            merged = (
                inherited.parameters.model_dump(exclude_none=True) if inherited else {}
            ) | parameters
            replace("params", store._add_json(merged))
        if system is not None:
            replace("system", store._add_text(system))
        if template is not None:
            replace("template", store._add_text(template))
        if messages:
            replace(
                "messages", store._add_json([m.model_dump(exclude_none=True) for m in messages])
            )
        if licenses:
            replace("license", store._add_text("\n\n".join(licenses)))
        for adapter in adapters or []:
            apath = _local_path(adapter, base_dir)
            assert apath is not None
            with apath.open("rb") as fh:
                digest = store.add_blob(fh)
            layers.append(
                {"mediaType": MEDIA["adapter"], "digest": digest, "size": apath.stat().st_size}
            )
        yield ProgressResponse(status="writing manifest")
        store.write_manifest(target, config, layers)
        yield ProgressResponse(status="success")

    return run()


def render_modelfile(record: ModelRecord) -> str:
    """A Modelfile that recreates `record` (FROM points at its weights blob)."""
    out = [f"# Modelfile generated by hearth for {record.name}", f"FROM {record.model_path}"]
    if record.template:
        out.append(f'TEMPLATE """{record.template}"""')
    if record.system:
        out.append(f'SYSTEM """{record.system}"""')
    for key, value in record.parameters.model_dump(exclude_none=True).items():
        for item in value if isinstance(value, list) else [value]:
            text = str(item)
            if isinstance(item, str) and (
                not text or text != text.strip() or " " in text or '"' in text
            ):
                text = json.dumps(text, ensure_ascii=False)
            out.append(f"PARAMETER {key} {text}")
    for adapter in record.adapters:
        out.append(f"ADAPTER {adapter}")
    for message in record.messages:
        out.append(f'MESSAGE {message.role} """{message.content}"""')
    for text in record.license:
        out.append(f'LICENSE """{text}"""')
    return "\n".join(out) + "\n"
