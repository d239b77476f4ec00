"""Decode the audio track of any audio or video file PyAV (FFmpeg) reads.

`decode_audio` yields progress (seconds decoded) and finally an `Audio`: 16 kHz mono
float32 samples, the format Whisper expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hearth.errors import NotFound, UnsupportedMedia

__all__ = ["SAMPLE_RATE", "Audio", "DecodeProgress", "decode_audio", "is_silent"]

SAMPLE_RATE = 16_000
_CHUNK_SECONDS = 5.0  # how often decoding reports progress


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    title: str | None = None

    @property
    def duration(self) -> float:
        return float(len(self.samples)) / SAMPLE_RATE


@dataclass(frozen=True)
class DecodeProgress:
    completed: float  # seconds decoded
    total: float | None  # seconds in the track, when the container knows


def _unreadable(name: str, why: str) -> UnsupportedMedia:
    return UnsupportedMedia(
        f"cannot read {name}: {why}; give an audio or video file (mp3, wav, m4a, mp4, mkv, webm, ...)"
    )


def decode_audio(path: Path, name: str | None = None) -> Iterator[DecodeProgress | Audio]:
    """Decode the first audio track of `path`, resampled to 16 kHz mono float32.

    `name` is how errors refer to the media (default: the file's name).
    """
    import av

    name = name or path.name
    if not path.exists():
        raise NotFound(f"{path} does not exist: check the path")
    if path.is_dir():
        raise UnsupportedMedia(f"{path} is a folder: give an audio or video file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise _unreadable(name, "not an audio or video file FFmpeg recognises") from exc
    except (OSError, ValueError) as exc:
        raise _unreadable(name, str(exc)) from exc
    with container:
        if not container.streams.audio:
            kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["no streams"]
            raise UnsupportedMedia(
                f"{name} has no audio track (it holds {', '.join(kinds)}): give a file with sound"
            )
        stream = container.streams.audio[0]
        total: float | None = None
        if stream.duration is not None and stream.time_base is not None:
            total = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            total = container.duration / 1_000_000
        title = (container.metadata or {}).get("title") or None
        # 16-bit like faster-whisper's own decoder, so both give Whisper identical input.
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pieces: list[np.ndarray] = []
        decoded = 0
        next_report = _CHUNK_SECONDS * SAMPLE_RATE
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    array = out.to_ndarray().reshape(-1)
                    pieces.append(array)
                    decoded += len(array)
                if decoded >= next_report:
                    next_report = decoded + _CHUNK_SECONDS * SAMPLE_RATE
                    yield DecodeProgress(decoded / SAMPLE_RATE, total)
            for out in resampler.resample(None):
                array = out.to_ndarray().reshape(-1)
                pieces.append(array)
                decoded += len(array)
        except av.error.FFmpegError as exc:
            if not pieces:
                raise _unreadable(name, f"its audio cannot be decoded ({exc})") from exc
            # A damaged tail: keep what decoded, as players do.
    samples = (
        np.concatenate(pieces).astype(np.float32) / 32768.0 if pieces else np.zeros(0, np.float32)
    )
    yield DecodeProgress(decoded / SAMPLE_RATE, decoded / SAMPLE_RATE)
    yield Audio(samples=samples, title=title)


def is_silent(samples: np.ndarray, threshold: float = 1e-3) -> bool:
    """True when the audio holds no signal worth recognising (empty, or RMS below threshold)."""
    if samples.size == 0:
        return True
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) < threshold
