"""The built book as a reader sees it: every page opened in headless Chromium.

Screenshots of every page land in ``<book>/_build/screenshots/`` (look at them); the test
fails on a page with a traceback, raw widget output, an empty cell output or a broken image.
Skips, saying why, where Chromium is not installed (CI installs it: ``.ci/run``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in BROWSERS if shutil.which(b)), None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
#: Text that must never reach a reader.
FORBIDDEN = {
    "a Python traceback": re.compile(r"Traceback \(most recent call last\)|\w+Error: "),
    "raw widget output": re.compile(r"application/vnd\.jupyter\.widget|interactive\(children="),
    "a text repr instead of a figure": re.compile(r"&lt;Figure size \d+x\d+ with|<Figure size"),
    "an object repr instead of HTML": re.compile(r"&lt;IPython\.core\.display\.\w+ object"),
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        BROWSER is None,
        reason="Chromium is not installed (Debian: apt-get install chromium); CI installs it",
    ),
]


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pages(html: Path) -> list[Path]:
    """Every page a reader can reach (index.html only redirects to the first chapter)."""
    return sorted(
        p
        for p in html.rglob("*.html")
        if p.name not in ("search.html", "genindex.html", "index.html") and "_static" not in p.parts
    )


def test_every_page_renders_cleanly(smoke_book: Path, tmp_path: Path):
    html = smoke_book / "_build" / "html"
    shots = smoke_book / "_build" / "screenshots"
    shots.mkdir(exist_ok=True)
    found = pages(html)
    names = {p.stem for p in found}
    assert {
        "00_overview",
        "04_clustering",
        "06_beyond",
        "05_results",
        "methods",
        "references",
        "reproduce",
        "07_performance",
    } <= names
    problems = []
    for page in found:
        url = page.as_uri()
        dom = chromium("--dump-dom", url, profile=tmp_path / "profile").stdout
        if "<body" not in dom:
            problems.append(f"{page.name}: Chromium rendered nothing")
            continue
        for what, pattern in FORBIDDEN.items():
            if match := pattern.search(dom):
                problems.append(f"{page.name}: {what}: {match.group(0)!r}")
        for src in re.findall(r'<img[^>]+src="([^"]+)"', dom):
            target = urlparse(src)
            if target.scheme in ("data", "http", "https"):
                continue
            if not (page.parent / unquote(target.path)).resolve().is_file():
                problems.append(f"{page.name}: broken image {src}")
        empty = re.findall(r'<div class="cell_output docutils container">\s*</div>', dom)
        if empty:
            problems.append(f"{page.name}: {len(empty)} empty cell output(s)")
        shot = shots / f"{page.relative_to(html).with_suffix('.png').as_posix().replace('/', '_')}"
        chromium(
            "--window-size=1300,3000", f"--screenshot={shot}", url, profile=tmp_path / "profile"
        )
        if not shot.is_file() or shot.stat().st_size < 10_000:
            problems.append(f"{page.name}: no screenshot (or a blank one)")
    assert not problems, "\n".join(problems)
    # the book's own pages show figures, tables and audio
    chapter = (html / "chapters" / "04_clustering.html").read_text()
    assert "<audio" in chapter and "<table" in chapter and "<img" in chapter
