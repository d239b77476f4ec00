"""The inference engine: llama.cpp runners with continuous batching, templates, grammars."""

from hearth.engine.engine import EmbedResult, Engine, Lease, parse_tool_calls
from hearth.engine.runner import LlamaRunner, Sampling
from hearth.engine.templates import ChatTemplate

__all__ = [
    "ChatTemplate",
    "EmbedResult",
    "Engine",
    "Lease",
    "LlamaRunner",
    "Sampling",
    "parse_tool_calls",
]
