"""Read a model name the way a learner needs it: who made it, what base, what size, what quant."""

from __future__ import annotations

import re
from typing import Any

from hearth.store.gguf import GgufInfo, format_params
from hearth.store.names import HF_HOST, parse_name

__all__ = ["describe", "explain_name"]

_SIZE = re.compile(r"(?<![A-Za-z0-9])(\d+(?:\.\d+)?)\s*([BMK])(?![A-Za-z])", re.I)
_QUANT = re.compile(r"(?<![A-Za-z0-9])((?:IQ|Q|TQ)\d(?:_[A-Z0-9]+)*|BF16|F16|F32|FP16|MXFP4)(?![A-Za-z0-9])", re.I)
_FINETUNES = {
    "instruct": "instruct (follows instructions)",
    "chat": "chat (tuned for conversation)",
    "it": "it (instruction-tuned)",
    "base": "base (pretrained only, not tuned to chat)",
    "coder": "coder (tuned for code)",
    "code": "code (tuned for code)",
    "vision": "vision (reads images)",
    "embed": "embedding (turns text into vectors)",
}


def explain_name(name: str, info: GgufInfo | None = None) -> dict[str, Any]:
    """Organisation, model, base model, size, fine-tune, quantization and format of `name`."""
    parsed = parse_name(name)
    words = re.split(r"[-_.:/ ]+", f"{parsed.model} {parsed.tag}".lower())
    text = f"{parsed.model}:{parsed.tag}"
    org = parsed.namespace if parsed.is_hf else ("" if parsed.namespace == "library" else parsed.namespace)
    size_m = _SIZE.search(text.replace("_", "-"))
    quant_m = _QUANT.search(parsed.tag) or _QUANT.search(parsed.model)
    finetune = next((_FINETUNES[w] for w in words if w in _FINETUNES), "")
    base = re.sub(r"(?i)-gguf$", "", parsed.model)
    base = re.split(r"(?i)[-_](?:instruct|chat|it|base|gguf)\b", base)[0]
    out: dict[str, Any] = {
        "name": parsed.display,
        "source": "Hugging Face" if parsed.host == HF_HOST else ("Ollama registry" if parsed.namespace == "library" else parsed.host),
        "organisation": org or "",
        "model": parsed.model,
        "base_model": base,
        "size": (size_m.group(1) + size_m.group(2).upper()) if size_m else "",
        "finetune": finetune,
        "quantization": quant_m.group(1).upper() if quant_m else "",
        "format": "gguf",
        "tag": parsed.tag,
    }
    if info is not None:  # what the file itself says wins over what the name suggests
        meta = info.metadata
        out["organisation"] = str(meta.get("general.organization") or out["organisation"])
        out["base_model"] = str(meta.get("general.basename") or out["base_model"])
        out["size"] = str(meta.get("general.size_label") or format_params(info.parameter_count))
        tune = str(meta.get("general.finetune") or "").lower()
        if tune and not out["finetune"]:
            out["finetune"] = next((v for k, v in _FINETUNES.items() if k in tune.split("-")), tune)
        out["quantization"] = info.quantization
        out["architecture"] = info.architecture
    return out


def describe(store: Any, record: Any, *, num_ctx: int, num_parallel: int = 1, verbose: bool = False) -> Any:
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
    capabilities = ["embedding"] if record.kind == "embedding" else ["completion"]
    if record.kind != "embedding" and "tools" in template:
        capabilities.append("tools")
    lines = []
    for key, value in record.parameters.model_dump(exclude_none=True).items():
        for item in value if isinstance(value, list) else [value]:
            text = _json.dumps(item) if isinstance(item, str) else str(item)
            lines.append(f"{key:<30} {text}")
    return ShowResponse(
        license="\n".join(record.license) or str((info.get("general.license") if info else "") or ""),
        modelfile=store.modelfile(record),
        parameters="\n".join(lines),
        template=template,
        system=record.system or "",
        details=record.details,
        model_info=model_info,
        capabilities=capabilities,
        modified_at=record.modified_at,
        name_parts=explain_name(record.name, info),
        memory=memory,
    )
