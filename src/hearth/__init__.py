"""hearth: a private, local LLM workbench.

For scripts and notebooks (see `hearth.sdk`):

    import hearth
    hearth.generate("Why is the sky blue?")
    hearth.chat([{"role": "user", "content": "Hello!"}], temperature=0)
    hearth.embed(["first text", "second text"])
    hearth.task.sentiment("What a great day!")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hearth.sdk import Hearth, chat, embed, generate, task

__version__ = "0.1.0"
__all__ = ["Hearth", "__version__", "chat", "embed", "generate", "task"]

_SDK = {"Hearth", "chat", "embed", "generate", "task"}


def __getattr__(name: str) -> Any:
    # The Python API loads on first use, so `import hearth` (and the CLI) stays light.
    if name in _SDK:
        from hearth import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'hearth' has no attribute {name!r}")
