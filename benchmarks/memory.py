"""Long inputs: peak memory and time of ``latentsep separate`` on a 1-, 10- and 60-minute file.

Each input is written block by block (a 16-bit WAV of the embedded test set's "other"
stems, repeated; 44.1 kHz stereo by default), then separated by the CLI in a fresh process
with the default method; the peak resident memory is that process's ``ru_maxrss``. Flat
memory means the 60-minute figure is close to the 1-minute one. Usage:
python benchmarks/memory.py --preset cpu   [--minutes 1 10 60] [--rate 16000 --mono]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from common import report

from latentsep import pipeline
from latentsep.audio import resample
from latentsep.presets import get_preset


def write_long(
    path: Path, minutes: float, music: list[np.ndarray], rate: int, channels: int
) -> Path:
    """A 16-bit file of ``minutes``, the excerpts in ``music`` repeated, block by block."""
    need = int(minutes * 60 * rate)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, subtype="PCM_16") as f:
        i = 0
        while need > 0:
            x = music[i % len(music)][:, :need]
            f.write(np.stack([x[0], 0.8 * x[-1]][:channels], axis=1))
            need -= x.shape[1]
            i += 1
    return path


#: Runs a command and prints its peak resident memory (kB): a fresh parent per measurement,
#: since RUSAGE_CHILDREN keeps the largest child a process ever had.
MEASURE = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)"
)


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of a child process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return int(done.stdout.split()[-1]) / 1024, time.perf_counter() - t0


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--mono", action="store_true")
    args = parser.parse_args()
    channels = 1 if args.mono else 2
    preset = get_preset(args.preset)
    tracks = pipeline.tracks(preset.data, "test")
    music = [resample(t.stems["other"], t.rate, args.rate) for t in tracks]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = write_long(
                Path(tmp) / f"{minutes:g}min.wav", minutes, music, args.rate, channels
            )
            cmd = [
                sys.executable,
                "-m",
                "latentsep",
                "separate",
                str(path),
                "--out",
                str(Path(tmp) / "out"),
                "--n-sources",
                "3",
                "--preset",
                args.preset,
            ]
            mb, seconds = peak_rss_mb(cmd)
            size = path.stat().st_size / 2**20
            rows[f"{minutes:g} min"] = {
                "input MB": round(size, 1),
                "peak RSS MB": round(mb, 1),
                "seconds": round(seconds, 1),
            }
            print(minutes, rows[f"{minutes:g} min"], flush=True)
            path.unlink()
    fmt = f"{args.rate} Hz, {'mono' if args.mono else 'stereo'}, 16-bit"
    name = f"memory-{args.preset}-{args.rate}{'-mono' if args.mono else ''}"
    return report(name, {"preset": args.preset, "method": "default", "input": fmt, **rows})


if __name__ == "__main__":
    main()
