"""Lay out the real-recording development set: URMP excerpts cut into 7.5-s pieces.

    .venv/bin/python scripts/real_devset.py --source PATH [--out data/real/urmp-dev]

``PATH`` is a clone of https://github.com/vincentlou-git/aumix (a work tree, or its bare git
directory): its ``docs/audio/urmp/{1,12,24,39}/AuSep_*.wav`` are separately recorded URMP
stems (Li et al. 2019: violin, viola, cello, double bass, saxophone; 48 kHz mono, 15 s).
Each piece is cut into two 7.5-s excerpts, one folder per excerpt and one file per instrument,
the layout ``latentsep evaluate`` reads. Nothing here is committed (licences, and the
project's rule on fetched audio); ``make bench`` and chapter 05 add a real-recording column
when ``data/real/urmp-dev`` exists, and the tests that need it skip without it.

This is the *development* set: methods and defaults are chosen on it. Other real sets are
held back as the project's blind check.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
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


def lay_out(source: Path, out: Path, seconds: float = EXCERPT_S) -> list[Path]:
    """Write every excerpt of every piece under ``out``; returns their folders."""
    folders = []
    for piece, files in _listing(source).items():
        if not files:
            raise SystemExit(f"{source}: no docs/audio/urmp/{piece}/AuSep_*.wav (not aumix?)")
        stems = {}
        for name in files:
            number, code = STEM.search(name).groups()
            x, rate = _read(source, name)
            stems[f"{number} {NAMES.get(code, code)}"] = x[:, 0]
        n = min(len(x) for x in stems.values())
        step = int(seconds * rate)
        for k in range(n // step):
            folder = out / f"urmp{int(piece):02d}-{k + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            for inst, x in stems.items():
                sf.write(folder / f"{inst}.wav", x[k * step : (k + 1) * step], rate)
            folders.append(folder)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, type=Path, help="a clone of aumix")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: data/real/urmp-dev ($LATENTSEP_DATA)"
    )
    args = parser.parse_args()
    if not args.source.exists():
        print(f"{args.source}: no such folder", file=sys.stderr)
        return 2
    from latentsep.pipeline import real_dev_set

    out = args.out or real_dev_set()
    folders = lay_out(args.source, out)
    print(f"{len(folders)} excerpts of {EXCERPT_S:g} s in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
