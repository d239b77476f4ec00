"""Real-time factor of `hearth transcribe` against faster-whisper called directly.

Both sides use the same loaded WhisperModel (the bundled `base`, int8 on the CPU, the
same threads) and the same transcribe options (`hearth.speech.asr.whisper_options`),
start from the same file on disk, and run interleaved so machine noise hits both alike.
hearth's side is the whole service pipeline: decode with PyAV, voice-activity filter,
recognition, progress events, SRT/VTT/Markdown rendering, temp-folder bookkeeping.

    .venv/bin/python bench/bench_transcribe.py [--seconds 30] [--repeats 3] [--audio FILE]

RTF = processing time / audio duration (lower is faster); overhead = hearth / direct - 1,
from the best wall time of each side (the least disturbed by other processes) and from
CPU time (process_time, all threads), which other processes on the machine disturb less.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hearth.api.speech import TranscribeDone, TranscribeRequest
from hearth.config import Settings
from hearth.speech import Recognizer, SpeechService
from hearth.speech.asr import whisper_options
from hearth.speech.media import SAMPLE_RATE, Audio, decode_audio

TEXT = (
    "Good morning everyone, and thank you for joining this short update. "
    "Last week the team finished moving the reports to the new server. "
    "The move took two days longer than planned, because the old backups were slow. "
    "This week we will test the search page and fix the problems that users reported. "
    "Please send your notes before Friday, so that we can plan the next steps together. "
    "The next meeting starts at ten in the morning, in the small room on the second floor. "
)


def synthesize(seconds: float, out: Path) -> Path:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is needed to synthesize the test audio (or pass --audio FILE)")
    words_per_second = 2.3  # espeak-ng at -s 140
    words = TEXT.split()
    needed = int(seconds * words_per_second)
    text = " ".join((words * (needed // len(words) + 1))[:needed])
    subprocess.run([espeak, "-s", "140", "-w", str(out), text], check=True)
    return out


def duration_of(path: Path) -> float:
    audio = next(item for item in decode_audio(path) if isinstance(item, Audio))
    return len(audio.samples) / SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of synthesized audio")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio", type=Path, help="transcribe this file instead")
    parser.add_argument(
        "--language", default="en", help="language hint for both sides (auto: detect)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        home = Path(tmp) / "home"
        audio = args.audio or synthesize(args.seconds, Path(tmp) / "speech.wav")
        language = None if args.language == "auto" else args.language
        settings = Settings.from_env().with_(home=home)
        recognizer = Recognizer(settings)
        t0 = time.perf_counter()
        model = recognizer.model("base")  # assembles the bundled model into the temp home
        setup = time.perf_counter() - t0
        service = SpeechService(settings, None, recognizer=recognizer)
        request = TranscribeRequest(language=language, punctuate=False, captions="never")
        seconds = duration_of(audio)

        def direct() -> str:
            segments, _info = model.transcribe(str(audio), **whisper_options(language))
            return " ".join(s.text.strip() for s in segments)

        def hearth() -> str:
            last = list(service.transcribe(audio, request))[-1]
            assert isinstance(last, TranscribeDone)
            return last.result.text

        direct()  # warm-up: caches, lazy initialisation, the VAD model
        wall: dict[str, list[float]] = {"direct": [], "hearth": []}
        cpu: dict[str, list[float]] = {"direct": [], "hearth": []}
        texts: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, run in (("direct", direct), ("hearth", hearth)):
                start, start_cpu = time.perf_counter(), time.process_time()
                texts[name] = run()
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)

        print(
            f"audio: {seconds:.1f} s, threads: {settings.threads()}, repeats: {args.repeats}, "
            f"model setup (assemble + load): {setup:.1f} s"
        )
        print(f"{'side':<8} {'best s':>7} {'RTF':>6} {'median s':>9} {'cpu s':>7}  wall runs")
        for name in ("direct", "hearth"):
            best, med = min(wall[name]), statistics.median(wall[name])
            runs = ", ".join(f"{t:.2f}" for t in wall[name])
            print(
                f"{name:<8} {best:7.2f} {best / seconds:6.3f} {med:9.2f} "
                f"{min(cpu[name]):7.2f}  [{runs}]"
            )
        overhead = min(wall["hearth"]) / min(wall["direct"]) - 1
        overhead_cpu = min(cpu["hearth"]) / min(cpu["direct"]) - 1
        print(
            f"hearth overhead: {100 * overhead:+.1f}% wall (best of {args.repeats}), "
            f"{100 * overhead_cpu:+.1f}% CPU time (target <= +5%)"
        )
        same = texts["direct"].split() == texts["hearth"].split()
        print(f"same transcript: {same}")
        if not same:
            print("direct:", texts["direct"])
            print("hearth:", texts["hearth"])
        recognizer.close()


if __name__ == "__main__":
    main()
