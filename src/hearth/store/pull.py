"""Pulling models: the Ollama registry protocol and Hugging Face GGUF repositories.

Downloads go to `blobs/sha256-<hex>-partial`, resume with HTTP Range (within a pull,
after a dropped connection, and across pulls), are verified by sha256, and only then
move into place. The manifest is written last, so an interrupted or corrupted pull
never shows up in `hearth list`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx

from hearth.api.ollama import ProgressResponse
from hearth.errors import CorruptModel, DiskFull, DownloadError, InvalidInput, NotFound
from hearth.store.gguf import GgufInfo, read_gguf
from hearth.store.names import DEFAULT_HOST, ModelName, parse_name
from hearth.store.store import bundled_sources

__all__ = ["pull"]

_CHUNK = 1 << 20
_ATTEMPTS = 4
_MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
_PREFERRED_QUANTS = ("Q4_K_M", "Q4_K_S", "Q4_0", "Q5_K_M", "Q8_0")


def pull(store: Any, name: str, *, insecure: bool = False) -> Iterator[ProgressResponse]:
    """Pull `name` into `store`, yielding progress events; raises HearthError subclasses."""
    parsed = parse_name(name)
    if parsed in {parse_name(n) for n in bundled_sources()}:
        return _pull_bundled(store, parsed)
    if parsed.is_hf:
        return _pull_hf(store, parsed)
    return _pull_registry(store, parsed, insecure=insecure)


def _pull_bundled(store: Any, name: ModelName) -> Iterator[ProgressResponse]:
    """A model that ships with hearth: (re-)register it, no network needed."""
    yield ProgressResponse(status=f"{name.display} ships with hearth: nothing to download")
    store.ensure_bundled()
    yield ProgressResponse(status="success")


def _client() -> httpx.Client:
    return httpx.Client(
        follow_redirects=True, timeout=httpx.Timeout(30.0, read=120.0), trust_env=False
    )


def _unreachable(url: str, setting: str, exc: Exception) -> DownloadError:
    return DownloadError(
        f"cannot reach {url} ({type(exc).__name__}): check the network, or the {setting} setting"
    )


# ---------------------------------------------------------------------- Ollama registry
def _registry_base(store: Any, name: ModelName, insecure: bool) -> str:
    if name.host == DEFAULT_HOST:
        return str(store.settings.ollama_registry).rstrip("/")
    return f"{'http' if insecure else 'https'}://{name.host}"


def _pull_registry(store: Any, name: ModelName, *, insecure: bool) -> Iterator[ProgressResponse]:
    base = _registry_base(store, name, insecure)
    url = f"{base}/v2/{name.namespace}/{name.model}/manifests/{name.tag}"
    with _client() as client, store.writing():
        yield ProgressResponse(status="pulling manifest")
        try:
            resp = client.get(url, headers={"Accept": _MANIFEST_ACCEPT})
        except httpx.HTTPError as exc:
            raise _unreachable(base, "HEARTH_OLLAMA_REGISTRY", exc) from exc
        if resp.status_code == 404:
            raise NotFound(
                f"model {name.display!r} not found in the registry {base}: check the name and tag"
            )
        if resp.status_code >= 400:
            raise DownloadError(
                f"the registry {base} answered {resp.status_code} for {name.display}"
            )
        try:
            manifest = resp.json()
            layers = list(manifest["layers"])
            config = manifest["config"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DownloadError(
                f"the registry {base} sent an invalid manifest for {name.display}"
            ) from exc
        for layer in [*layers, config]:
            digest = str(layer.get("digest", ""))
            store.blob_path(digest)  # validates the digest before any path is built
            blob_url = f"{base}/v2/{name.namespace}/{name.model}/blobs/{digest}"
            yield from _download(
                store,
                client,
                blob_url,
                digest,
                int(layer.get("size") or 0),
                "HEARTH_OLLAMA_REGISTRY",
            )
        for layer in layers:
            if layer.get("mediaType") == "application/vnd.ollama.image.model":
                others = tuple(str(x.get("digest")) for x in [*layers, config] if x is not layer)
                _check_gguf(store, layer["digest"], name.display, others)
        yield ProgressResponse(status="writing manifest")
        store.write_manifest_raw(name, manifest)
        yield ProgressResponse(status="success")


def _check_gguf(store: Any, digest: str, name: str, others: tuple[str, ...] = ()) -> GgufInfo:
    """A whole, valid GGUF, or CorruptModel; then this pull's blobs go, unless a model uses them."""
    try:
        return read_gguf(store.blob_path(digest))
    except CorruptModel as exc:
        for blob in (digest, *others):
            store.discard_blob(blob)
        reason = getattr(exc, "reason", exc.message)
        raise CorruptModel(
            f"{name}: the downloaded model file is not a valid GGUF ({reason}); nothing was installed"
        ) from exc


# ---------------------------------------------------------------------- Hugging Face
def _quant_of(path: str) -> str:
    """The quantization a GGUF file name ends with: "Llama-3.2-1B-Instruct-Q4_K_M.gguf" -> "Q4_K_M"."""
    m = re.search(r"((?:IQ|Q|TQ)\d[_A-Z0-9]*|BF16|F16|F32)(?:-\d{5}-of-\d{5})?\.gguf$", path, re.I)
    return m.group(1).upper() if m else ""


def _pick_file(files: list[dict[str, Any]], quant: str, repo: str) -> dict[str, Any]:
    ggufs = [
        f
        for f in files
        if str(f.get("path", "")).lower().endswith(".gguf")
        and "mmproj" not in str(f.get("path", "")).lower()
    ]
    if not ggufs:
        raise NotFound(
            f"hf.co/{repo} has no .gguf files: pick a GGUF repository (names often end in -GGUF)"
        )

    available = sorted({_quant_of(str(f["path"])) for f in ggufs} - {""})
    if quant.lower() == "latest":
        for q in _PREFERRED_QUANTS:
            hit = [f for f in ggufs if _quant_of(str(f["path"])) == q]
            if hit:
                return hit[0]
        return min(ggufs, key=lambda f: int(f.get("size") or 0))
    hits = [f for f in ggufs if _quant_of(str(f["path"])) == quant.upper()]
    if not hits:
        raise NotFound(
            f"hf.co/{repo} has no {quant} file; available: {', '.join(available) or 'none'}"
        )
    if re.search(r"-\d{5}-of-\d{5}\.gguf$", str(hits[0]["path"])):
        raise InvalidInput(
            f"hf.co/{repo}:{quant} is split into several files, which hearth cannot load yet"
        )
    return hits[0]


def _pull_hf(store: Any, name: ModelName) -> Iterator[ProgressResponse]:
    base = str(store.settings.hf_endpoint).rstrip("/")
    repo = f"{name.namespace}/{name.model}"
    with _client() as client, store.writing():
        yield ProgressResponse(status="pulling manifest")
        try:
            resp = client.get(f"{base}/api/models/{repo}/tree/main")
        except httpx.HTTPError as exc:
            raise _unreachable(base, "HEARTH_HF_ENDPOINT", exc) from exc
        if resp.status_code in (401, 404):
            raise NotFound(f"hf.co/{repo} not found on {base} (or it is private): check the name")
        if resp.status_code >= 400:
            raise DownloadError(f"{base} answered {resp.status_code} for hf.co/{repo}")
        try:
            files = [f for f in resp.json() if f.get("type", "file") == "file"]
        except (ValueError, AttributeError) as exc:
            raise DownloadError(f"{base} sent an invalid file list for hf.co/{repo}") from exc
        chosen = _pick_file(files, name.tag, repo)
        path = str(chosen["path"])
        size = int((chosen.get("lfs") or {}).get("size") or chosen.get("size") or 0)
        oid: str | None = (chosen.get("lfs") or {}).get("oid") or (chosen.get("lfs") or {}).get(
            "sha256"
        )
        url = f"{base}/{repo}/resolve/main/{path}"
        if not oid:
            oid = _linked_etag(client, url)
        if oid:
            digest = f"sha256:{oid}"
            yield from _download(store, client, url, digest, size, "HEARTH_HF_ENDPOINT")
        else:  # no published hash: hash while downloading, then trust the content
            digest = yield from _download_unverified(store, client, url, size)
        info = _check_gguf(store, digest, name.display)
        quant = name.tag.upper()
        if name.tag.lower() == "latest":
            quant = _quant_of(path) or info.quantization
        target = ModelName(host=name.host, namespace=name.namespace, model=name.model, tag=quant)
        layers = [
            {
                "mediaType": "application/vnd.ollama.image.model",
                "digest": digest,
                "size": store.blob_path(digest).stat().st_size,
            }
        ]
        config = store.config_for_gguf(info) | {"source": f"hf.co/{repo}/{path}"}
        yield ProgressResponse(status="writing manifest")
        store.write_manifest(target, config, layers)
        if target.tag != name.tag:
            store.write_manifest(name, config, layers)  # the name as asked also resolves
        yield ProgressResponse(status="success")


def _linked_etag(client: httpx.Client, url: str) -> str | None:
    """The sha256 Hugging Face publishes for an LFS file (X-Linked-Etag on the resolve URL)."""
    try:
        resp = client.head(url, follow_redirects=False)
    except httpx.HTTPError:
        return None
    etag = (
        (resp.headers.get("x-linked-etag") or resp.headers.get("etag") or "")
        .strip('"')
        .removeprefix("W/")
        .strip('"')
    )
    return etag.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", etag) else None


# ---------------------------------------------------------------------- downloads
def _download(
    store: Any, client: httpx.Client, url: str, digest: str, size: int, setting: str
) -> Iterator[ProgressResponse]:
    """Fetch one blob with resume and sha256 verification; one download per blob at a time."""
    final = store.blob_path(digest)
    status = f"pulling {digest.split(':', 1)[-1][:12]}"
    if final.exists():
        yield ProgressResponse(status=status, digest=digest, total=size, completed=size)
        return
    with store.blob_lock(digest) as waited:
        if waited:
            yield ProgressResponse(
                status=f"waiting for another pull of {digest[7:19]}", digest=digest
            )
        if final.exists():  # the other pull fetched it
            yield ProgressResponse(status=status, digest=digest, total=size, completed=size)
            return
        yield from _download_locked(store, client, url, digest, size, setting, final, status)


def _download_locked(
    store: Any,
    client: httpx.Client,
    url: str,
    digest: str,
    size: int,
    setting: str,
    final: Path,
    status: str,
) -> Iterator[ProgressResponse]:
    partial = final.with_name(final.name + "-partial")
    final.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for attempt in range(_ATTEMPTS):
        have = partial.stat().st_size if partial.exists() else 0
        if size and have > size:
            partial.unlink()
            have = 0
        if not size or have < size:
            try:
                yield from _fetch(client, url, partial, have, size, status, digest)
                last_error = None
            except (httpx.TransportError, _Incomplete) as exc:
                last_error = exc
                time.sleep(min(2.0, 0.2 * (attempt + 1)))
                continue
            except httpx.HTTPError as exc:
                raise _unreachable(url, setting, exc) from exc
        break
    if last_error is not None:
        got = partial.stat().st_size if partial.exists() else 0
        raise DownloadError(
            f"the download of {digest[:19]} was interrupted at {got:,} of {size:,} bytes: run the same pull again to resume"
        ) from last_error
    yield ProgressResponse(
        status="verifying sha256 digest", digest=digest, total=size, completed=size
    )
    h = hashlib.sha256()
    with partial.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
        os.fsync(fh.fileno())  # on disk before it is renamed into place
    if f"sha256:{h.hexdigest()}" != digest:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"digest mismatch for {digest[:19]}: the download was corrupted and has been removed; pull again"
        )
    partial.replace(final)
    store.sync_blobs()


class _Incomplete(Exception):
    pass


def _fetch(
    client: httpx.Client,
    url: str,
    partial: Path,
    have: int,
    size: int,
    status: str,
    digest: str | None,
) -> Iterator[ProgressResponse]:
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as resp:
        if resp.status_code == 416 and have:
            return  # already complete
        if resp.status_code >= 400:
            resp.read()
            if resp.status_code == 404:
                raise NotFound(f"{url} was not found on the server")
            raise DownloadError(f"{url} answered {resp.status_code}")
        if have and resp.status_code != 206:
            have = 0  # the server ignored Range: start over
        total = size or (have + int(resp.headers.get("content-length") or 0))
        mode = "ab" if have else "wb"
        done = have
        last = 0.0
        try:
            with partial.open(mode) as fh:
                # As the bytes arrive (not in 1 MiB pieces): a cut connection keeps every
                # byte received, so the resume asks for exactly the rest.
                for chunk in resp.iter_bytes():
                    fh.write(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if now - last > 0.1:
                        last = now
                        yield ProgressResponse(
                            status=status, digest=digest, total=total, completed=done
                        )
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                partial.unlink(missing_ok=True)
                raise DiskFull(
                    "the disk is full: free some space (or move HEARTH_HOME) and pull again"
                ) from exc
            raise
        yield ProgressResponse(status=status, digest=digest, total=total, completed=done)
        if size and done < size:
            raise _Incomplete(f"{done} of {size}")


def _download_unverified(
    store: Any, client: httpx.Client, url: str, size: int
) -> Generator[ProgressResponse, None, str]:
    partial = store.blobs / f".download-{hashlib.sha256(url.encode()).hexdigest()[:16]}-partial"
    store.blobs.mkdir(parents=True, exist_ok=True)
    for attempt in range(_ATTEMPTS):
        have = partial.stat().st_size if partial.exists() else 0
        try:
            yield from _fetch(client, url, partial, have, size, "pulling model file", None)
            break
        except (httpx.TransportError, _Incomplete):
            if attempt == _ATTEMPTS - 1:
                raise DownloadError(
                    f"the download of {url} was interrupted: run the same pull again to resume"
                ) from None
            time.sleep(0.2)
    yield ProgressResponse(status="verifying sha256 digest")
    with partial.open("rb") as fh:
        digest = store.add_blob(fh)
    partial.unlink(missing_ok=True)
    return digest
