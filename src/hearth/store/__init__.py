"""The model store: names, content-addressed blobs and manifests, bundled models, pulls, Modelfiles."""

from hearth.store.explain import describe, explain_name
from hearth.store.gguf import GgufInfo, format_params, memory_estimate, read_gguf
from hearth.store.names import ModelName, parse_name
from hearth.store.records import ModelRecord
from hearth.store.store import MEDIA, ModelStore, bundled_sources

__all__ = [
    "MEDIA",
    "GgufInfo",
    "ModelName",
    "ModelRecord",
    "ModelStore",
    "bundled_sources",
    "describe",
    "explain_name",
    "format_params",
    "memory_estimate",
    "parse_name",
    "read_gguf",
]
