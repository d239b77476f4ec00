"""Which models are loaded: load on demand, keep alive, evict the least recently used.

The scheduler holds `Loaded` entries keyed by model name. A request `acquire`s one (loading
it if needed, after evicting idle models to respect `max_loaded_models` and the memory
budget) and `release`s it when done, which restarts its keep-alive clock. A reaper
thread unloads models whose keep-alive ran out. The loader is passed in, so tests can
replace what "loading" means.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hearth.errors import Busy

__all__ = ["Loaded", "Scheduler"]

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    name: str
    key: tuple[Any, ...]  # what was loaded (path, num_ctx, adapters): a different key reloads
    runner: Any
    size: int  # estimated bytes in memory
    keep_alive: float
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expires_at: float | None = None  # wall-clock, for /api/ps
    loaded_at: float = field(default_factory=time.monotonic)
    load_ns: int = 0
    loaded_ns: int = 0  # perf_counter_ns when loading finished


class Scheduler:
    def __init__(
        self,
        *,
        max_loaded: int,
        memory_budget: int,
        max_queue: int,
        close_runner: Callable[[Any], None],
    ) -> None:
        self.max_loaded = max(1, max_loaded)
        self.memory_budget = memory_budget
        self.max_queue = max_queue
        self._close_runner = close_runner
        self._models: dict[str, Loaded] = {}
        self._lock = threading.Condition()
        self._waiting = 0
        self._closed = False
        self._reaper = threading.Thread(target=self._reap, name="keep-alive", daemon=True)
        self._reaper.start()

    def acquire(
        self,
        name: str,
        key: tuple[Any, ...],
        size: int,
        keep_alive: float,
        load: Callable[[], Any],
        *,
        busy: Callable[[Any], int] = lambda _r: 0,
        timeout: float = 600.0,
    ) -> Loaded:
        """Return the loaded model `name` (loading it if needed), marked in use."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._drop_dead_locked(name)
            entry = self._models.get(name)
            while entry is not None and entry.key == key and entry.runner is None:
                # Another request is loading this model: wait for it rather than load twice.
                if time.monotonic() > deadline:
                    raise Busy(f"timed out waiting for {name} to load; retry shortly")
                self._lock.wait(timeout=0.5)
                entry = self._models.get(name)
            if entry is not None and entry.key == key:
                if self.max_queue and busy(entry.runner) >= self.max_queue:
                    raise Busy(
                        f"{name} has {self.max_queue} requests waiting (HEARTH_MAX_QUEUE); retry shortly"
                    )
                entry.users += 1
                entry.keep_alive = keep_alive
                entry.last_used = time.monotonic()
                return entry
            self._waiting += 1
            try:
                if self.max_queue and self._waiting > self.max_queue:
                    raise Busy(
                        f"too many requests are waiting for a model (HEARTH_MAX_QUEUE={self.max_queue}); retry shortly"
                    )
                # Make room: an old version of this model, then idle LRU models.
                while True:
                    entry = self._models.get(name)
                    if entry is not None and entry.key != key and entry.users == 0:
                        self._unload_locked(entry)
                    if entry is not None and entry.key == key and entry.runner is None:
                        self._lock.wait(timeout=0.5)  # being loaded by another request
                        continue
                    if entry is not None and entry.key == key:
                        entry.users += 1
                        entry.keep_alive = keep_alive
                        entry.last_used = time.monotonic()
                        return entry
                    if name not in self._models and self._fits(size):
                        break
                    victim = self._lru_idle()
                    if victim is not None:
                        self._unload_locked(victim)
                        continue
                    if name not in self._models and not self._models:
                        break  # nothing to evict: load anyway (one model always allowed)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy("timed out waiting for memory to load the model; retry shortly")
                    self._lock.wait(timeout=min(left, 1.0))
                # Reserve the slot before loading, outside the lock.
                placeholder = Loaded(
                    name=name, key=key, runner=None, size=size, keep_alive=keep_alive, users=1
                )
                self._models[name] = placeholder
            finally:
                self._waiting -= 1
        started = time.perf_counter_ns()
        try:
            runner = load()
        except BaseException:
            with self._lock:
                if self._models.get(name) is placeholder:
                    del self._models[name]
                self._lock.notify_all()
            raise
        with self._lock:
            placeholder.runner = runner
            placeholder.loaded_ns = time.perf_counter_ns()
            placeholder.load_ns = placeholder.loaded_ns - started
            placeholder.loaded_at = time.monotonic()
            placeholder.last_used = time.monotonic()
            self._lock.notify_all()
        return placeholder

    def release(self, entry: Loaded) -> None:
        with self._lock:
            entry.users = max(0, entry.users - 1)
            entry.last_used = time.monotonic()
            if entry.users == 0:
                if entry.keep_alive <= 0:
                    self._unload_locked(entry)
                elif entry.keep_alive != float("inf"):
                    entry.expires_at = time.time() + entry.keep_alive
                else:
                    entry.expires_at = None
            self._lock.notify_all()

    def unload(self, name: str) -> bool:
        """Unload `name` now if loaded (waits for running requests to end)."""
        with self._lock:
            entry = self._models.get(name)
            if entry is None:
                return False
            if entry.users:
                entry.keep_alive = 0  # unloads when the last user releases it
                return True
            self._unload_locked(entry)
            return True

    def loaded(self) -> list[Loaded]:
        with self._lock:
            return [e for e in self._models.values() if e.runner is not None]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for entry in list(self._models.values()):
                self._unload_locked(entry)
            self._lock.notify_all()

    # ------------------------------------------------------------------
    def _drop_dead_locked(self, name: str) -> None:
        """Forget a runner that died (an engine failure closes it): the next request reloads."""
        entry = self._models.get(name)
        if entry is None or entry.runner is None or not getattr(entry.runner, "closed", False):
            return
        log.warning("%s stopped working; loading it again", name)
        if entry.users:
            del self._models[name]  # its last user's release frees it
            entry.keep_alive = 0
        else:
            self._unload_locked(entry)

    def _fits(self, size: int) -> bool:
        if len(self._models) >= self.max_loaded:
            return False
        if self.memory_budget <= 0:
            return True
        used = sum(e.size for e in self._models.values())
        return used + size <= self.memory_budget

    def _lru_idle(self) -> Loaded | None:
        idle = [e for e in self._models.values() if e.users == 0 and e.runner is not None]
        return min(idle, key=lambda e: e.last_used) if idle else None

    def _unload_locked(self, entry: Loaded) -> None:
        if self._models.get(entry.name) is entry:
            del self._models[entry.name]
        if entry.runner is not None:
            try:
                self._close_runner(entry.runner)
            except Exception:  # unloading must not take the server down
                log.exception("unloading %s failed", entry.name)
            entry.runner = None

    def _reap(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                now = time.time()
                for entry in list(self._models.values()):
                    if (
                        entry.users == 0
                        and entry.expires_at is not None
                        and entry.expires_at <= now
                    ):
                        log.info("keep_alive expired: unloading %s", entry.name)
                        self._unload_locked(entry)
                self._lock.wait(timeout=1.0)
