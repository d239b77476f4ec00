"""Fixtures of the store tests: a tiny GGUF writer."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

WriteGguf = Callable[..., None]


def _write_gguf(path: Path, *, truncate: int = 0, arch: str = "llama") -> None:
    """A minimal valid GGUF v3: architecture llama, file type Q8_0, one F32 tensor of 64 elements."""

    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    kv = s("general.architecture") + struct.pack("<I", 8) + s(arch)
    kv += s("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 7)
    tensor = (
        s("w")
        + struct.pack("<I", 1)
        + struct.pack("<Q", 64)
        + struct.pack("<I", 0)
        + struct.pack("<Q", 0)
    )
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 2) + kv + tensor
    head += b"\0" * ((32 - len(head) % 32) % 32)
    data = head + b"\0" * (64 * 4)
    path.write_bytes(data[: len(data) - truncate] if truncate else data)


@pytest.fixture
def write_gguf() -> WriteGguf:
    return _write_gguf
