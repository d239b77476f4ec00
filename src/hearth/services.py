"""The services of one hearth process, built once and passed in (never a global)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hearth.config import Settings
from hearth.engine import Engine
from hearth.store import ModelStore

if TYPE_CHECKING:
    from hearth.rag import RagService
    from hearth.speech import SpeechService

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    store: ModelStore
    engine: Engine
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings | None = None) -> Services:
        settings = settings or Settings.from_env()
        store = ModelStore(settings)
        store.ensure_bundled()
        engine = Engine(settings, store)
        return cls(settings=settings, store=store, engine=engine)

    @cached_property
    def rag(self) -> RagService:
        from hearth.rag import RagService

        with self._lock:
            return RagService(self.settings, self.engine)

    @cached_property
    def speech(self) -> SpeechService:
        from hearth.speech import SpeechService

        with self._lock:
            return SpeechService(self.settings, self.engine)

    def close(self) -> None:
        self.engine.close()
        for name in ("rag", "speech"):
            service: Any = self.__dict__.get(name)
            if service is not None and hasattr(service, "close"):
                service.close()
