"""Every setting and environment variable of hearth, in one place.

`Settings.from_env()` reads them; `hearth --help` and `hearth serve --help` list them
(see `ENV_HELP`). Nothing else in hearth reads `os.environ` for its own settings.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from hearth.errors import InvalidInput

__all__ = ["ENV_HELP", "Settings", "parse_duration"]

DEFAULT_PORT = 11434


_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_FOREVER_SECONDS = 1e8  # about three years: longer is "forever"


def parse_duration(value: str | int | float | None, default: float) -> float:
    """Parse an Ollama-style duration into seconds: a Go duration string ("5m", "30s",
    "1h30m", "500ms", "-1m"), a number of seconds (300, "300", 1.5) or 0.

    A negative value means "forever" and is returned as `float("inf")`, as is any duration
    of about three years or more.
    """
    if value is None or value == "":
        return default
    problem = f"invalid duration {value!r}: use e.g. 5m, 30s, 1h30m or a number of seconds"
    if isinstance(value, bool):
        raise InvalidInput(problem)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip().lower()
        if _GO_DURATION.fullmatch(text):
            sign = -1.0 if text.startswith("-") else 1.0
            seconds = sign * sum(
                float(number) * _UNIT_SECONDS[unit] for number, unit in _GO_PART.findall(text)
            )
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise InvalidInput(problem) from None
    if math.isnan(seconds):
        raise InvalidInput(problem)
    return float("inf") if seconds < 0 or seconds >= _FOREVER_SECONDS else seconds


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


# name -> (attribute, help text). Order is the order shown in --help.
ENV_HELP: dict[str, tuple[str, str]] = {
    "HEARTH_HOME": ("home", "where models, indexes and conversations live (default ~/.hearth)"),
    "HEARTH_HOST": (
        "host",
        "address of `hearth serve`, and where the CLI looks for it (default 127.0.0.1:11434)",
    ),
    "HEARTH_API_KEYS": (
        "api_keys",
        "comma-separated keys accepted as `Authorization: Bearer KEY`; required when binding beyond loopback",
    ),
    "HEARTH_ORIGINS": ("origins", "comma-separated extra CORS origins allowed to call the API"),
    "HEARTH_KEEP_ALIVE": (
        "keep_alive",
        "how long an idle model stays loaded (default 5m; -1 forever, 0 unload at once)",
    ),
    "HEARTH_MAX_LOADED_MODELS": (
        "max_loaded_models",
        "most models kept loaded at once (default 2)",
    ),
    "HEARTH_MEMORY_BUDGET": (
        "memory_budget",
        "bytes of RAM loaded models may use (default: 75% of the machine's memory)",
    ),
    "HEARTH_NUM_PARALLEL": ("num_parallel", "sequences decoded together per model (default 4)"),
    "HEARTH_MAX_QUEUE": ("max_queue", "requests waiting for a model before 503 (default 64)"),
    "HEARTH_NUM_THREADS": (
        "num_threads",
        "CPU threads for inference (default: measured best for this machine)",
    ),
    "HEARTH_NUM_CTX": ("num_ctx", "default context length in tokens (default 4096)"),
    "HEARTH_MAX_BODY": (
        "max_body_bytes",
        "largest accepted request body in bytes (default 256 MiB)",
    ),
    "HEARTH_DEFAULT_MODEL": (
        "default_model",
        "chat model used when none is named (default smollm2:135m)",
    ),
    "HEARTH_EMBED_MODEL": (
        "embed_model",
        "embedding model used for documents (default multilingual-e5-small)",
    ),
    "HEARTH_OLLAMA_REGISTRY": (
        "ollama_registry",
        "base URL of the Ollama registry (default https://registry.ollama.ai)",
    ),
    "HEARTH_HF_ENDPOINT": (
        "hf_endpoint",
        "base URL of Hugging Face (default https://huggingface.co)",
    ),
    "HEARTH_WHISPER_MODEL": (
        "whisper_model",
        "speech model: `base` (bundled), a folder name in HEARTH_HOME/models/whisper, or a path to a CTranslate2 Whisper model",
    ),
    "HEARTH_DEBUG": ("debug", "1 to show tracebacks and debug logs"),
}


@dataclass(frozen=True)
class Settings:
    """hearth's settings. Build with `Settings.from_env()`; override with `.with_(...)`."""

    home: Path = field(default_factory=lambda: Path.home() / ".hearth")
    host: str = f"127.0.0.1:{DEFAULT_PORT}"
    api_keys: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    keep_alive: float = 300.0
    max_loaded_models: int = 2
    memory_budget: int = 0
    num_parallel: int = 4
    max_queue: int = 64
    num_threads: int = 0
    num_ctx: int = 4096
    max_body_bytes: int = 256 * 1024 * 1024
    default_model: str = "smollm2:135m"
    embed_model: str = "multilingual-e5-small"
    ollama_registry: str = "https://registry.ollama.ai"
    hf_endpoint: str = "https://huggingface.co"
    whisper_model: str = "base"
    debug: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        kinds = {f.name: f for f in fields(cls)}
        for var, (attr, _help) in ENV_HELP.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            default = getattr(cls(), attr) if attr != "home" else Path()
            try:
                if attr == "home":
                    values[attr] = Path(raw).expanduser()
                elif attr == "keep_alive":
                    values[attr] = parse_duration(raw, 300.0)
                elif attr == "debug":
                    values[attr] = raw.strip().lower() in {"1", "true", "yes", "on"}
                elif isinstance(default, tuple):
                    values[attr] = _split(raw)
                elif isinstance(default, int):
                    values[attr] = int(raw)
                else:
                    values[attr] = raw.strip()
            except ValueError:
                raise InvalidInput(f"{var}={raw!r} is not valid: {_help}") from None
            assert attr in kinds
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    # Derived locations -------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def host_port(self) -> tuple[str, int]:
        """Split `host` ("127.0.0.1:11434", "0.0.0.0", "http://[::1]:8080") into (host, port)."""
        text = self.host.strip()
        for scheme in ("http://", "https://"):
            if text.startswith(scheme):
                text = text[len(scheme) :]
        text = text.rstrip("/")
        if text.startswith("["):
            end = text.index("]")
            host, rest = text[1:end], text[end + 1 :]
            port = int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
            return host, port
        if ":" in text:
            host, _, port_text = text.rpartition(":")
            return host or "127.0.0.1", int(port_text)
        return text or "127.0.0.1", DEFAULT_PORT

    @property
    def loopback_only(self) -> bool:
        """Whether the server listens on this machine only (localhost, 127.0.0.1, ::1)."""
        host = self.host_port[0]
        if host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def base_url(self) -> str:
        host, port = self.host_port
        if host in {"0.0.0.0", ""}:
            host = "127.0.0.1"
        if host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def threads(self) -> int:
        """Inference threads: the setting, else a measured default (see docs/performance.md)."""
        if self.num_threads > 0:
            return self.num_threads
        return max(1, min(os.cpu_count() or 1, 2))


def env_help_text() -> str:
    """The environment variables, formatted for --help."""
    width = max(len(name) for name in ENV_HELP)
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, (_attr, text) in ENV_HELP.items())
