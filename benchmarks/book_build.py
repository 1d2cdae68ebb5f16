"""The book's build time: what `make book` costs from nothing and when nothing changed.

Runs the benchmarks and then every chapter, as `make book` does, with an empty data folder
and an empty chapter cache, then builds the book again unchanged; writes
``benchmarks/results/book-<preset>.json``: both totals, each chapter's time and each
artifact's (``data/*/*/artifact.json``: the dataset, every model, every table). The
reproduce page's run times come from this file. Not part of `make bench`: from nothing it
takes about an hour on 2 CPU cores.

Usage: python benchmarks/book_build.py --preset cpu [--data DIR] [--no-html]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report

HERE = Path(__file__).parent


def artifacts(root: Path) -> list[dict]:
    """Every artifact made under ``root``: what it is, its key and the seconds it took."""
    rows = []
    for meta in sorted(root.glob("*/*/artifact.json")):
        a = json.loads(meta.read_text())
        rows.append({"name": a["name"], "key": a["key"], "seconds": a.get("seconds")})
    return rows


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--data", type=Path, help="an empty data folder (default: a temp one)")
    parser.add_argument("--no-html", action="store_true", help="chapters only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "data"
        if data.exists() and any(data.iterdir()):
            parser.error(f"{data}: not empty; a build from nothing needs an empty data folder")
        env = {**os.environ, "LATENTSEP_DATA": str(data)}
        book = Path(tmp) / "book"  # a copy of book/ without executed chapters
        build = [
            sys.executable,
            "-c",
            "import sys; from latentsep.book import build; "
            "build.build(sys.argv[1], book_dir=sys.argv[2], html=sys.argv[3] == '1')",
            args.preset,
            str(book),
            "0" if args.no_html else "1",
        ]
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(HERE / "run_all.py"), "--preset", args.preset], env=env, check=True
        )
        t_bench = time.perf_counter() - t0
        subprocess.run(build, env=env, check=True)
        t_nothing = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(build, env=env, check=True)
        t_unchanged = time.perf_counter() - t0
        chapters = json.loads((book / "chapters" / "timings.json").read_text())
        made = artifacts(data)
    return report(
        f"book-{args.preset}",
        {
            "preset": args.preset,
            "machine": chapters["machine"],
            "minutes from nothing": round(t_nothing / 60, 1),
            "minutes of benchmarks (first)": round(t_bench / 60, 1),
            "seconds when nothing changed": round(t_unchanged, 1),
            "chapters (s)": {n: c["seconds"] for n, c in chapters["chapters"].items()},
            "artifacts (s)": [f"{a['name']} {a['key']}: {a['seconds']}" for a in made],
        },
    )


if __name__ == "__main__":
    main()
