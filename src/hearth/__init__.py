"""hearth: a private, local LLM workbench."""

from __future__ import annotations

from hearth import config as _config  # noqa: F401  (sets the OpenMP wait policy first)

__version__ = "0.1.0"
__all__ = ["__version__"]
