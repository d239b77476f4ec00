"""Read a GGUF file's header and metadata without loading its tensors, and check it.

`read_gguf(path)` validates the magic, the version and that every tensor's data lies
inside the file (a truncated download is caught here, before llama.cpp sees it), and
returns the metadata hearth shows: architecture, parameters, context, quantization...
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hearth.errors import CorruptModel

__all__ = ["FILE_TYPES", "GgufInfo", "format_params", "memory_estimate", "read_gguf"]

# llama_ftype -> quantization name
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}

# ggml_type -> (elements per block, bytes per block)
_TYPE_SIZES = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
}

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_LAYER = re.compile(r"(?:^|\.)blk\.(\d+)\.")
_MAX_ARRAY_KEEP = 64  # longer arrays (token lists) are kept as their length only


@dataclass
class GgufInfo:
    version: int
    metadata: dict[str, Any]
    n_tensors: int
    parameter_count: int
    file_size: int
    array_lengths: dict[str, int] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def context_length(self) -> int | None:
        value = self.arch("context_length")
        return int(value) if value is not None else None

    @property
    def embedding_length(self) -> int | None:
        value = self.arch("embedding_length")
        return int(value) if value is not None else None

    @property
    def quantization(self) -> str:
        ftype = self.metadata.get("general.file_type")
        return FILE_TYPES.get(int(ftype), f"type {ftype}") if ftype is not None else "unknown"

    @property
    def block_count(self) -> int | None:
        value = self.arch("block_count")
        return int(value) if value is not None else None

    @property
    def head_count(self) -> int | None:
        value = self.arch("attention.head_count")
        return int(value) if isinstance(value, int) else None

    @property
    def head_count_kv(self) -> int | None:
        value = self.arch("attention.head_count_kv", self.arch("attention.head_count"))
        if isinstance(value, list):  # per layer in some architectures
            return max(value) if value else None
        return int(value) if value is not None else None

    @property
    def license(self) -> str | None:
        value = self.metadata.get("general.license")
        return str(value) if value else None

    @property
    def bos_token_id(self) -> int | None:
        value = self.metadata.get("tokenizer.ggml.bos_token_id")
        return int(value) if value is not None else None

    @property
    def eos_token_id(self) -> int | None:
        value = self.metadata.get("tokenizer.ggml.eos_token_id")
        return int(value) if value is not None else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value else None


class _Reader:
    """Reads little-endian GGUF values from a memory map, checking every bound."""

    def __init__(self, buf: Any, size: int, path: Path) -> None:
        self.buf = buf
        self.size = size
        self.path = path
        self.pos = 0

    def bad(self, why: str) -> CorruptModel:
        exc = CorruptModel(
            f"{self.path.name} is not a valid GGUF model ({why}); delete it and download it again"
        )
        exc.reason = why  # type: ignore[attr-defined]
        return exc

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.bad("the file ends early: it is truncated")

    def read(self, n: int) -> bytes:
        self.need(n)
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def scalar(self, fmt: str) -> Any:
        width = struct.calcsize(fmt)
        self.need(width)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += width
        return value

    def string(self) -> str:
        n = self.scalar("<Q")
        return self.read(n).decode("utf-8", "replace")

    def skip_strings(self, n: int) -> None:
        """Step over `n` strings (a vocabulary) without decoding them."""
        buf, pos, size = self.buf, self.pos, self.size
        unpack = struct.unpack_from
        for _ in range(n):
            if pos + 8 > size:
                raise self.bad("the file ends early: it is truncated")
            pos += 8 + unpack("<Q", buf, pos)[0]
        if pos > size:
            raise self.bad("the file ends early: it is truncated")
        self.pos = pos

    def value(self, vtype: int, key: str, lengths: dict[str, int]) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            item_type = self.scalar("<I")
            n = self.scalar("<Q")
            if n > self.size:
                raise self.bad("it is truncated: an array runs past the end of the file")
            lengths[key] = n
            if item_type in _SCALARS:
                fmt = _SCALARS[item_type]
                data = self.read(struct.calcsize(fmt) * n)
                if n > _MAX_ARRAY_KEEP:
                    return None
                return list(struct.unpack("<" + fmt[1:] * n, data))
            if item_type == 8 and n > _MAX_ARRAY_KEEP:
                self.skip_strings(n)
                return None
            items = [self.value(item_type, key, lengths) for _ in range(n)]
            return items if n <= _MAX_ARRAY_KEEP else None
        raise self.bad(f"unknown metadata type {vtype}")


def read_gguf(path: Path) -> GgufInfo:
    """Parse and check a GGUF header. Raises CorruptModel for anything that is not a whole GGUF."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 24 or fh.read(4) != b"GGUF":
                raise _Reader(b"", 0, path).bad("it does not start with the GGUF magic bytes")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(_Reader(buf, size, path))
    except OSError as exc:
        raise CorruptModel(f"cannot read {path}: {exc.strerror or exc}") from exc


def _parse(r: _Reader) -> GgufInfo:
    r.pos = 4
    version = r.scalar("<I")
    if version not in (2, 3):
        raise r.bad(f"unsupported GGUF version {version}")
    n_tensors = r.scalar("<Q")
    n_kv = r.scalar("<Q")
    if n_tensors > 10_000_000 or n_kv > 10_000_000:
        raise r.bad("the header counts are impossible")
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(n_kv):
        key = r.string()
        vtype = r.scalar("<I")
        value = r.value(vtype, key, lengths)
        if value is not None:
            metadata[key] = value
    params = 0
    data_end = 0
    blocks: set[int] = set()
    embd_dims: list[int] | None = None
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.scalar("<I")
        if n_dims > 8:
            raise r.bad("a tensor has too many dimensions")
        dims = [r.scalar("<Q") for _ in range(n_dims)]
        ttype = r.scalar("<I")
        offset = r.scalar("<Q")
        layer = _LAYER.search(name)  # blk.N.*, and enc.blk.N.* / dec.blk.N.* (T5)
        if layer:
            blocks.add(int(layer.group(1)))
        elif name == "token_embd.weight":
            embd_dims = dims
        count = 1
        for d in dims:
            count *= d
        params += count
        block, nbytes = _TYPE_SIZES.get(ttype, (1, 0))
        data_end = max(data_end, offset + (count // block) * nbytes)
    alignment = int(metadata.get("general.alignment", 32) or 32)
    data_start = (r.pos + alignment - 1) // alignment * alignment
    if data_start + data_end > r.size:
        raise r.bad(
            f"the tensors need {data_start + data_end:,} bytes but the file has {r.size:,}: it is truncated"
        )
    _check_shape(r, metadata, blocks, embd_dims)
    return GgufInfo(
        version=version,
        metadata=metadata,
        n_tensors=n_tensors,
        parameter_count=params,
        file_size=r.size,
        array_lengths=lengths,
    )


def _check_shape(
    r: _Reader, metadata: dict[str, Any], blocks: set[int], embd_dims: list[int] | None
) -> None:
    """The metadata must describe the tensors that are there: llama.cpp trusts it, and a
    layer count above its fixed maximum aborts the whole process instead of raising."""
    arch = metadata.get("general.architecture")
    block_count = metadata.get(f"{arch}.block_count")
    adapter = metadata.get("general.type") == "adapter"  # a LoRA may cover only some layers
    if isinstance(block_count, int) and not adapter and block_count > len(blocks):
        raise r.bad(f"its metadata says {block_count} layers but it has tensors for {len(blocks)}")
    embedding = metadata.get(f"{arch}.embedding_length")
    if isinstance(embedding, int) and embd_dims and embd_dims[0] != embedding:
        raise r.bad(
            f"its metadata says embedding length {embedding} but the token embeddings have "
            f"{embd_dims[0]}"
        )


def format_params(n: int) -> str:
    """135M, 1.2B, 7B: how parameter counts are written in model names."""
    if n >= 1_000_000_000:
        value = n / 1e9
        return f"{value:.0f}B" if value >= 10 else f"{value:.1f}B".replace(".0B", "B")
    if n >= 1_000_000:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e3:.0f}K"


def memory_estimate(info: GgufInfo, n_ctx: int, n_parallel: int = 1) -> dict[str, int]:
    """Bytes to run the model on the CPU: weights + f16 KV cache at n_ctx + compute buffer."""
    n_layer = int(info.arch("block_count", 0) or 0)
    n_embd = int(info.arch("embedding_length", 0) or 0)
    n_head = int(info.arch("attention.head_count", 0) or 0) or 1
    head_kv = info.arch("attention.head_count_kv", n_head)
    if isinstance(head_kv, list):
        head_kv = max(head_kv) if head_kv else n_head
    n_head_kv = int(head_kv or n_head)
    head_dim = int(info.arch("attention.key_length", 0) or 0) or (n_embd // n_head if n_head else 0)
    kv = 2 * n_layer * n_ctx * n_parallel * n_head_kv * head_dim * 2
    # Compute buffer (llama.cpp, CPU, n_ubatch 512, no flash attention): the larger of the
    # logits (n_vocab x n_ubatch f32) and the attention scores over all KV cells
    # (cells x n_ubatch x n_head f32), plus activations. Within a few % of what
    # llama.cpp reports for SmolLM2 at 2k, 8k and 16k cells.
    n_ubatch = 512
    n_vocab = int(info.array_lengths.get("tokenizer.ggml.tokens", 0))
    logits = 4 * n_vocab * n_ubatch
    scores = 4 * n_ctx * n_parallel * n_ubatch * n_head
    compute = max(logits, scores * 115 // 100) + 3 * 4 * n_embd * n_ubatch
    weights = info.file_size
    return {
        "weights": weights,
        "kv_cache": kv,
        "compute": compute,
        "total": weights + kv + compute,
        "num_ctx": n_ctx,
        "num_parallel": n_parallel,
    }
