"""Model names: `[host/][namespace/]model[:tag]` and `hf.co/{org}/{repo}[:{quant}]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from hearth.errors import InvalidInput

__all__ = ["DEFAULT_HOST", "DEFAULT_NAMESPACE", "DEFAULT_TAG", "HF_HOST", "ModelName", "parse_name"]

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
HF_HOST = "hf.co"

_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_HOST = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$"
)


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    @property
    def is_hf(self) -> bool:
        return self.host == HF_HOST

    @property
    def display(self) -> str:
        """The short form Ollama shows: `smollm2:135m`, `user/model:tag`, `hf.co/org/repo:Q4_K_M`."""
        if self.host == DEFAULT_HOST and self.namespace == DEFAULT_NAMESPACE:
            return f"{self.model}:{self.tag}"
        if self.host == DEFAULT_HOST:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    def manifest_parts(self) -> PurePosixPath:
        """Relative path of the manifest under `manifests/` (the store matches it case-insensitively)."""
        return PurePosixPath(self.host, self.namespace, self.model, self.tag)

    def __str__(self) -> str:
        return self.display


def parse_name(text: str) -> ModelName:
    """Parse a model name; raises InvalidInput that says what is wrong."""
    raw = (text or "").strip()
    if not raw:
        raise InvalidInput("a model name is required, e.g. smollm2:135m")
    name = raw
    for prefix in ("https://", "http://"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.lower().startswith("huggingface.co/"):
        name = HF_HOST + name[len("huggingface.co") :]
    if "@" in name:
        raise InvalidInput(
            f"invalid model name {raw!r}: digests (@sha256:...) are not supported, use a tag"
        )
    # Split the tag off the last path element only (a host may carry a :port).
    head, _, last = name.rpartition("/")
    tag = DEFAULT_TAG
    if ":" in last:
        last, _, tag = last.partition(":")
        if not tag:
            raise InvalidInput(f"invalid model name {raw!r}: empty tag after ':'")
    parts = [p for p in head.split("/") if p] + [last] if head else [last]
    if any(not p for p in parts) or len(parts) > 3:
        raise InvalidInput(
            f"invalid model name {raw!r}: use [host/][namespace/]model[:tag], e.g. smollm2:135m"
        )
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        if parts[0].lower() == HF_HOST:
            raise InvalidInput(f"invalid model name {raw!r}: use hf.co/<org>/<repo>[:<quant>]")
        looks_like_host = "." in parts[0] or ":" in parts[0] or parts[0] == "localhost"
        if looks_like_host and parts[0].strip(".") != "":  # ".." is a bad namespace, not a host
            raise InvalidInput(
                f"invalid model name {raw!r}: a host needs a namespace and model, e.g. {parts[0]}/library/model"
            )
        host, namespace, model = DEFAULT_HOST, parts[0], parts[1]
    else:
        host, namespace, model = DEFAULT_HOST, DEFAULT_NAMESPACE, parts[0]
    if host.lower() == HF_HOST:
        host = HF_HOST
        if tag == DEFAULT_TAG:
            tag = DEFAULT_TAG  # resolved to a quantization when pulled
    elif not _HOST.match(host):
        raise InvalidInput(f"invalid model name {raw!r}: {host!r} is not a host name")
    for label, value, pattern in (
        ("namespace", namespace, _PART),
        ("model", model, _PART),
        ("tag", tag, _TAG),
    ):
        if not pattern.match(value):
            raise InvalidInput(f"invalid model name {raw!r}: {_why(label, value, pattern)}")
    if host != HF_HOST:
        namespace, model = namespace.lower(), model.lower()
        if host == DEFAULT_HOST:
            tag = tag.lower()
    return ModelName(host=host, namespace=namespace, model=model, tag=tag)


def _why(label: str, value: str, pattern: re.Pattern[str]) -> str:
    """What is wrong with one part of a name, in the words a user can act on."""
    if not value:
        return f"the {label} is empty"
    if len(value) > 128:
        return f"the {label} is {len(value)} characters long; at most 128 are allowed"
    if re.fullmatch(r"[A-Za-z0-9._-]+", value):
        first = "a letter, a digit or '_'" if pattern is _TAG else "a letter or a digit"
        return f"the {label} {value!r} must start with {first}"
    return f"the {label} {value!r} may use only letters, digits, '.', '_' and '-'"
