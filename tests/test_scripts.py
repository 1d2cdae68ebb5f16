"""``scripts/real_devset.py`` on a stand-in for the aumix repository (no fetched audio)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "real_devset.py"
RATE = 8000
#: piece -> URMP instrument codes, as in aumix (2 to 5 instruments).
PIECES = {"1": ["vn", "vc"], "12": ["vn", "vn", "vc"], "24": ["vn", "vn", "va", "vc"],
          "39": ["vn", "vn", "va", "sax", "db"]}  # fmt: skip


def fake_aumix(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for piece, codes in PIECES.items():
        folder = root / "docs" / "audio" / "urmp" / piece
        folder.mkdir(parents=True)
        for k, code in enumerate(codes, 1):
            x = rng.uniform(-0.5, 0.5, 15 * RATE).astype(np.float32)
            sf.write(folder / f"AuSep_{k}_{code}_{piece}_Piece.wav", x, RATE)
    return root


def lay_out(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(tmp / "aumix"), *args],
        capture_output=True,
        text=True,
        check=True,
    )


def test_excerpts_pairs_and_a_song_are_laid_out(tmp_path: Path):
    fake_aumix(tmp_path / "aumix")
    lay_out(tmp_path, "--out", str(tmp_path / "dev"))
    excerpts = sorted(p.name for p in (tmp_path / "dev").iterdir())
    assert excerpts == [f"urmp{int(p):02d}-{k}" for p in PIECES for k in (1, 2)]
    assert sorted(p.name for p in (tmp_path / "dev" / "urmp39-2").iterdir())[-1] == (
        "5 double bass.wav"
    )
    x, rate = sf.read(tmp_path / "dev" / "urmp01-2" / "2 cello.wav")
    assert rate == RATE and len(x) == 7.5 * RATE

    lay_out(tmp_path, "--pairs", "10", "--seconds", "7", "--out", str(tmp_path / "pairs"))
    pieces = sorted((tmp_path / "pairs").iterdir())
    assert len(pieces) == 10 and all(len(list(p.glob("*.wav"))) == 2 for p in pieces)
    # every excerpt gives one pair before any gives a second
    assert len({p.name.rsplit("-", 1)[0] for p in pieces}) == 8

    lay_out(tmp_path, "--song", "40", "--out", str(tmp_path / "song"))
    (song,) = (tmp_path / "song").iterdir()
    stems = sorted(song.glob("*.wav"))
    assert len(stems) == 4 and sf.info(stems[0]).duration == 40
