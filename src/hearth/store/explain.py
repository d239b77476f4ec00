"""Read a model name the way a learner needs it: who made it, what base, what size, what quant."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hearth.store.gguf import FILE_TYPES, GgufInfo, format_params
from hearth.store.names import DEFAULT_HOST, HF_HOST, parse_name

__all__ = ["describe", "explain_name"]

_SIZE = re.compile(r"(?<![A-Za-z0-9])(\d+(?:\.\d+)?)\s*([BMK])(?![A-Za-z])", re.I)
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])((?:IQ|Q|TQ)\d(?:_[A-Z0-9]+)*|BF16|F16|F32|FP16|MXFP4)(?![A-Za-z0-9])", re.I
)
_FINETUNES = {
    "instruct": "instruct (follows instructions)",
    "chat": "chat (tuned for conversation)",
    "it": "it (instruction-tuned)",
    "base": "base (pretrained only, not tuned to chat)",
    "coder": "coder (tuned for code)",
    "code": "code (tuned for code)",
    "vision": "vision (reads images)",
    "embed": "embedding (turns text into vectors)",
    "text": "text (pretrained only, not tuned to chat)",
}


_QUANT_NOTES = {
    "F32": "32-bit floats: full precision, largest",
    "F16": "16-bit floats: near full precision, 2 bytes per weight",
    "BF16": "bfloat16: near full precision, 2 bytes per weight",
    "Q8_0": "8-bit: almost no quality loss, about 1 byte per weight",
    "Q6_K": "6-bit k-quant: very close to the original",
    "Q5_K_M": "5-bit k-quant (medium): close to the original",
    "Q5_K_S": "5-bit k-quant (small)",
    "Q5_0": "5-bit, older scheme",
    "Q5_1": "5-bit, older scheme",
    "Q4_K_M": "4-bit k-quant (medium): the usual balance of size and quality",
    "Q4_K_S": "4-bit k-quant (small)",
    "Q4_0": "4-bit, older scheme: small, some quality loss",
    "Q4_1": "4-bit with offsets, older scheme: small, some quality loss",
    "Q3_K_M": "3-bit k-quant: noticeably weaker",
    "Q3_K_S": "3-bit k-quant (small): noticeably weaker",
    "Q3_K_L": "3-bit k-quant (large)",
    "Q2_K": "2-bit k-quant: smallest, clearly weaker",
}


def _quant_note(quant: str) -> str:
    if quant in _QUANT_NOTES:
        return _QUANT_NOTES[quant]
    if quant.startswith("IQ"):
        return f"{quant[2]}-bit i-quant: small for its quality, slower on CPU"
    return ""


def explain_name(
    name: str, gguf_metadata: GgufInfo | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Organisation, model, base model, size, fine-tune, quantization and format of `name`.

    `gguf_metadata` (a GgufInfo or the GGUF key/value metadata) wins over what the name
    suggests, since the file knows what it is.
    """
    parsed = parse_name(name)
    words = re.split(r"[-_.:/ ]+", f"{parsed.model} {parsed.tag}".lower())
    text = f"{parsed.model}:{parsed.tag}"
    org = (
        parsed.namespace
        if parsed.is_hf
        else ("" if parsed.namespace == "library" else parsed.namespace)
    )
    size_m = _SIZE.search(text.replace("_", "-"))
    quant_m = _QUANT.search(parsed.tag) or _QUANT.search(parsed.model)
    finetune = next((_FINETUNES[w] for w in words if w in _FINETUNES), "")
    base_words = [
        w
        for w in parsed.model.split("-")
        if w
        and w.lower() not in _FINETUNES
        and w.lower() != "gguf"
        and not _SIZE.fullmatch(w)
        and not _QUANT.fullmatch(w)
    ]
    source = (
        "Hugging Face"
        if parsed.host == HF_HOST
        else ("Ollama registry" if parsed.host == DEFAULT_HOST else parsed.host)
    )
    out: dict[str, Any] = {
        "name": parsed.display,
        "source": source,
        "organisation": org or "",
        "model": parsed.model,
        "base_model": "-".join(base_words) or parsed.model,
        "size": (size_m.group(1) + size_m.group(2).upper()) if size_m else "",
        "finetune": finetune,
        "quantization": quant_m.group(1).upper() if quant_m else "",
        "format": "gguf",
        "tag": parsed.tag,
    }
    if gguf_metadata is not None:
        if isinstance(gguf_metadata, GgufInfo):
            meta: Mapping[str, Any] = gguf_metadata.metadata
            count = gguf_metadata.parameter_count
            quant = gguf_metadata.quantization
        else:
            meta = gguf_metadata
            count = int(meta.get("general.parameter_count") or 0)
            ftype = meta.get("general.file_type")
            quant = FILE_TYPES.get(int(ftype), "") if isinstance(ftype, int) else ""
        out["organisation"] = str(meta.get("general.organization") or out["organisation"])
        out["base_model"] = str(meta.get("general.basename") or out["base_model"])
        out["size"] = str(
            meta.get("general.size_label") or (format_params(count) if count else out["size"])
        )
        tune = str(meta.get("general.finetune") or "").lower()
        if not out["finetune"]:
            known = next((v for k, v in _FINETUNES.items() if k in re.split(r"[-_.]", tune)), "")
            if known:
                out["finetune"] = known
            elif meta.get("tokenizer.chat_template"):
                # An unfamiliar tag (SmolLM2's is "8k-lc100k-mix1-ep2"), but a chat template
                # means the model was tuned to chat.
                out["finetune"] = "chat (has a chat template" + (f"; tag {tune})" if tune else ")")
            else:
                out["finetune"] = tune
        out["quantization"] = quant or out["quantization"]
        if meta.get("general.architecture"):
            out["architecture"] = str(meta["general.architecture"])
    out["quantization_note"] = _quant_note(out["quantization"])
    return out


def describe(
    store: Any, record: Any, *, num_ctx: int, num_parallel: int = 1, verbose: bool = False
) -> Any:
    """Everything `show` tells about an installed model (Ollama's /api/show, plus more).

    Adds to Ollama's fields: `name_parts` (the name explained) and `memory` (bytes to run it
    at `num_ctx`: weights + KV cache + compute buffer).
    """
    import json as _json

    from hearth.api.ollama import ShowResponse
    from hearth.store.gguf import memory_estimate

    info = store.gguf_info(record)
    model_info: dict[str, Any] = {}
    template = record.template or ""
    memory: dict[str, Any] = {}
    if info is not None:
        model_info = dict(info.metadata)
        for key in info.array_lengths:  # big arrays (vocabularies) only when asked, as Ollama
            if key not in model_info or not verbose:
                model_info[key] = []
        template = template or info.chat_template or ""
        ctx = int(record.parameters.num_ctx or num_ctx)
        memory = memory_estimate(info, ctx, num_parallel)
        model_info["general.parameter_count"] = info.parameter_count
    model_info["general.parameter_size"] = record.details.parameter_size
    # Every chat model takes `tools`: a template without them gets hearth's tool prompt.
    capabilities = ["embedding"] if record.kind == "embedding" else ["completion", "tools"]
    lines = []
    for key, value in record.parameters.model_dump(exclude_none=True).items():
        for item in value if isinstance(value, list) else [value]:
            text = _json.dumps(item) if isinstance(item, str) else str(item)
            lines.append(f"{key:<30} {text}")
    name_parts = explain_name(record.name, info)
    name_parts["format"] = record.format
    if record.source:
        name_parts["source"] = record.source
    return ShowResponse(
        license="\n".join(record.license)
        or str((info.get("general.license") if info else "") or ""),
        modelfile=store.modelfile(record),
        parameters="\n".join(lines),
        template=template,
        system=record.system or "",
        details=record.details,
        model_info=model_info,
        capabilities=capabilities,
        modified_at=record.modified_at,
        name_parts=name_parts,
        memory=memory,
    )
