"""Media helpers of the speech tests: synthesized speech, videos, silence, word error rate."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

SENTENCE = (
    "Please send the weekly report to the team before Friday. The meeting starts in the morning."
)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference length (case and punctuation ignored)."""
    ref = re.findall(r"[a-z0-9']+", reference.lower())
    hyp = re.findall(r"[a-z0-9']+", hypothesis.lower())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


@dataclass(frozen=True)
class Clip:
    path: Path
    text: str
    duration: float


def _espeak() -> str:
    deadline = time.monotonic() + 120  # the system package may still be installing
    while (path := shutil.which("espeak-ng")) is None:
        if time.monotonic() > deadline:
            pytest.fail("espeak-ng is not installed: run `make setup` (apt package espeak-ng)")
        time.sleep(5)
    return path


def synthesize(text: str, out: Path, speed: int = 135) -> Path:
    subprocess.run([_espeak(), "-s", str(speed), "-w", str(out), text], check=True, timeout=60)
    return out


def wav_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def make_video(audio: Path, out: Path, codec: str = "mpeg4") -> Path:
    """Wrap `audio` in a video file (a moving picture plus the sound) with PyAV."""
    import av

    with av.open(str(audio)) as src:
        frames = [f for f in src.decode(audio=0)]
        rate = src.streams.audio[0].rate
    duration = sum(f.samples for f in frames) / rate
    with av.open(str(out), "w") as dst:
        video = dst.add_stream(codec, rate=Fraction(10, 1))
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = dst.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for i in range(int(duration * 10)):
            image = np.full((48, 64, 3), (i * 5) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in video.encode(frame):
                dst.mux(packet)
        for packet in video.encode():
            dst.mux(packet)
        for frame in frames:
            frame.pts = None
            for packet in sound.encode(frame):
                dst.mux(packet)
        for packet in sound.encode():
            dst.mux(packet)
    return out


def make_silence(out: Path, seconds: float = 3.0) -> Path:
    import av

    with av.open(str(out), "w") as dst:
        stream = dst.add_stream("pcm_s16le", rate=16000)
        stream.layout = "mono"
        samples = np.zeros((1, int(16000 * seconds)), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out
