"""Lay out the real-recording development set: URMP excerpts cut into 7.5-s pieces.

    .venv/bin/python scripts/real_devset.py --source PATH [--out data/real/urmp-dev]
    .venv/bin/python scripts/real_devset.py --source PATH --pairs 24 --seconds 7 --out DIR
    .venv/bin/python scripts/real_devset.py --source PATH --song 240 [--out data/real/urmp-song]

``PATH`` is a clone of https://github.com/vincentlou-git/aumix (a work tree, or its bare git
directory): its ``docs/audio/urmp/{1,12,24,39}/AuSep_*.wav`` are separately recorded URMP
stems (Li et al. 2019: violin, viola, cello, double bass, saxophone; 48 kHz mono, 15 s).
Each piece is cut into two 7.5-s excerpts, one folder per excerpt and one file per instrument,
the layout ``latentsep evaluate`` reads. ``--pairs N`` writes instead N two-instrument pieces,
every pair of instruments of every excerpt taken in turn (the README's timing of
``latentsep evaluate`` on 24 two-instrument 7-s pieces); ``--song S`` one four-instrument
piece S seconds long, its 15 s repeated (the timing of ``--segment`` on a song, and
``make bench``'s timing of the default on real music).

Nothing here is committed (licences, and the project's rule on fetched audio); ``make
bench`` and chapter 05 add a real-recording column when ``data/real/urmp-dev`` exists, and
the tests that need it skip without it.

This is the *development* set: methods and defaults are chosen on it. Other real sets are
held back as the project's blind check.
"""

from __future__ import annotations

import argparse
import io
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

PIECES = ("1", "12", "24", "39")
EXCERPT_S = 7.5
STEM = re.compile(r"AuSep_(\d+)_([a-z]+)_\d+_\w+\.wav$")
#: URMP's instrument codes, written out.
NAMES = {
    "vn": "violin",
    "va": "viola",
    "vc": "cello",
    "db": "double bass",
    "sax": "saxophone",
    "fl": "flute",
    "tpt": "trumpet",
    "tbn": "trombone",
    "cl": "clarinet",
    "ob": "oboe",
    "bn": "bassoon",
    "hn": "horn",
    "tba": "tuba",
}


def _listing(source: Path) -> dict[str, list[str]]:
    """Piece -> its stems' paths inside the repository."""
    out: dict[str, list[str]] = {}
    if (source / "docs").is_dir():
        for p in PIECES:
            out[p] = sorted(
                str(f.relative_to(source)) for f in (source / "docs/audio/urmp" / p).glob("*.wav")
            )
    else:  # a bare git directory
        names = subprocess.run(
            [
                "git",
                "--git-dir",
                str(source),
                "ls-tree",
                "-r",
                "--name-only",
                "HEAD",
                "docs/audio/urmp",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        for p in PIECES:
            out[p] = sorted(n for n in names if n.startswith(f"docs/audio/urmp/{p}/"))
    return {p: [f for f in files if STEM.search(f)] for p, files in out.items()}


def _read(source: Path, name: str) -> tuple[np.ndarray, int]:
    if (source / name).is_file():
        return sf.read(source / name, dtype="float32", always_2d=True)
    blob = subprocess.run(
        ["git", "--git-dir", str(source), "show", f"HEAD:{name}"], check=True, capture_output=True
    ).stdout
    return sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)


def _stems(source: Path, piece: str, files: list[str]) -> tuple[dict[str, np.ndarray], int]:
    """A piece's stems by instrument name (mono), and their rate."""
    if not files:
        raise SystemExit(f"{source}: no docs/audio/urmp/{piece}/AuSep_*.wav (not aumix?)")
    stems, rate = {}, 0
    for name in files:
        number, code = STEM.search(name).groups()
        x, rate = _read(source, name)
        stems[f"{number} {NAMES.get(code, code)}"] = x[:, 0]
    return stems, rate


def song(source: Path, out: Path, seconds: float, piece: str = "24") -> Path:
    """One full-song-sized piece: URMP piece ``piece``'s stems played over and over for
    ``seconds`` (a stand-in for a real song's length, to time ``--segment``)."""
    stems, rate = _stems(source, piece, _listing(source)[piece])
    n = min(len(x) for x in stems.values())
    folder = out / f"urmp{int(piece):02d}-{seconds:g}s"
    folder.mkdir(parents=True, exist_ok=True)
    for inst, x in stems.items():
        sf.write(folder / f"{inst}.wav", np.resize(x[:n], int(seconds * rate)), rate)
    return folder


def lay_out(source: Path, out: Path, seconds: float = EXCERPT_S) -> list[Path]:
    """Write every excerpt of every piece under ``out``; returns their folders."""
    folders = []
    for piece, files in _listing(source).items():
        stems, rate = _stems(source, piece, files)
        n = min(len(x) for x in stems.values())
        step = int(seconds * rate)
        for k in range(n // step):
            folder = out / f"urmp{int(piece):02d}-{k + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            for inst, x in stems.items():
                sf.write(folder / f"{inst}.wav", x[k * step : (k + 1) * step], rate)
            folders.append(folder)
    return folders


def pairs(folders: list[Path], out: Path, count: int) -> list[Path]:
    """``count`` two-instrument pieces from the excerpts in ``folders``, one pair of each
    excerpt in turn (so every excerpt gives one before any gives two)."""
    queues = [list(itertools.combinations(sorted(f.glob("*.wav")), 2)) for f in folders]
    made: list[Path] = []
    while len(made) < count and any(queues):
        for folder, queue in zip(folders, queues, strict=True):
            if queue and len(made) < count:
                a, b = queue.pop(0)
                piece = out / f"{folder.name}-{a.stem.split()[0]}+{b.stem.split()[0]}"
                piece.mkdir(parents=True, exist_ok=True)
                for stem in (a, b):
                    shutil.copyfile(stem, piece / stem.name)
                made.append(piece)
    if len(made) < count:
        raise SystemExit(f"only {len(made)} pairs in the excerpts; {count} were asked for")
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, type=Path, help="a clone of aumix")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: data/real/urmp-dev, with --song data/real/urmp-song ($LATENTSEP_DATA)",
    )
    parser.add_argument("--seconds", type=float, default=EXCERPT_S, help="excerpt length")
    parser.add_argument(
        "--pairs", type=int, default=0, help="write this many two-instrument pieces instead"
    )
    parser.add_argument(
        "--song", type=float, default=0, help="write one piece this many seconds long instead"
    )
    args = parser.parse_args()
    if not args.source.exists():
        print(f"{args.source}: no such folder", file=sys.stderr)
        return 2
    from latentsep.pipeline import real_dev_set, real_song

    if args.song:
        out = args.out or real_song()
        print(f"{song(args.source, out, args.song)}: four instruments, {args.song:g} s")
        return 0
    out = args.out or real_dev_set()
    if not args.pairs:
        folders = lay_out(args.source, out, args.seconds)
        print(f"{len(folders)} excerpts of {args.seconds:g} s in {out}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folders = pairs(lay_out(args.source, Path(tmp), args.seconds), out, args.pairs)
    print(f"{len(folders)} two-instrument pieces of {args.seconds:g} s in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
