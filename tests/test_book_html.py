"""The built book as a reader sees it: every page opened in headless Chromium.

Screenshots of every page land in ``<book>/_build/screenshots/`` (look at them); the test
fails on a page with a traceback, raw widget output, an empty cell output, a broken image,
NaN in a table, papermill's injected-parameters cell, a code line cut off at the right edge
(measured in the browser, with every folded code cell opened) or an audio player without its
spectrogram beside it. Skips, saying why, where Chromium is not installed (CI installs it:
``.ci/run``).
"""

from __future__ import annotations

import json
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
    "NaN in a table": re.compile(r"<td[^>]*>\s*NaN\s*</td>"),
    "nan or an infinity in a table": re.compile(r"<td[^>]*>\s*-?(?:nan|inf)\s*</td>", re.I),
    "an integer printed as a float (24.0000)": re.compile(r"<td[^>]*>\s*-?\d+\.0000\s*</td>"),
    "a table cell cut short (…)": re.compile(r"<td[^>]*>[^<]*(?:\.\.\.|…)\s*</td>"),
    "a MyST role left as text (in a Markdown output?)": re.compile(r"\{(?:numref|ref|cite)\}"),
    "papermill's injected-parameters cell": re.compile(r"tag_injected-parameters"),
}
#: Measures the laid-out page: folded code opened, every ``pre`` of a cell that is wider
#: than its box (a line cut off), every audio player without a spectrogram in its unit
#: beside it (or directly under it).
PROBE = """<script>
(function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var cut = [];
  document.querySelectorAll("div.cell pre").forEach(function (pre) {
    if (pre.scrollWidth > pre.clientWidth + 1) {
      var longest = pre.textContent.split("\\n").sort(function (a, b) {
        return b.length - a.length; })[0];
      cut.push(longest.trim().slice(0, 80));
    }
  });
  var lonely = 0, players = document.querySelectorAll("audio");
  players.forEach(function (audio) {
    var unit = audio.closest(".%s");
    var img = unit && unit.querySelector("img");
    if (!img) { lonely += 1; return; }
    var a = audio.getBoundingClientRect(), i = img.getBoundingClientRect();
    var beside = a.top < i.bottom && a.bottom > i.top;
    var under = a.top >= i.bottom - 1 && a.top - i.bottom < 40;
    if (!beside && !under) { lonely += 1; }
  });
  var out = document.createElement("div");
  out.id = "latentsep-probe";
  out.setAttribute("data-result", JSON.stringify(
    {cut: cut, lonely: lonely, players: players.length}));
  document.body.appendChild(out);
})();
</script>"""

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


def probe(page: Path, profile: Path) -> dict:
    """Run :data:`PROBE` in a copy of ``page`` beside it (so its links resolve) at the
    screenshot's width; returns what it measured."""
    from latentsep.book.plots import LISTEN_CLASS

    copy = page.with_name(f"{page.stem}.probe.html")
    copy.write_text(page.read_text().replace("</body>", PROBE % LISTEN_CLASS + "</body>"))
    try:
        dom = chromium("--window-size=1300,3000", "--dump-dom", copy.as_uri(), profile=profile)
    finally:
        copy.unlink()
    found = re.search(r'id="latentsep-probe" data-result="([^"]*)"', dom.stdout)
    if not found:
        return {"error": "the probe did not run"}
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


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
        if len(re.findall(r"tag_parameters\b", dom)) > 1:
            problems.append(f"{page.name}: more than one parameters box")
        measured = probe(page, tmp_path / "profile")
        if "error" in measured:
            problems.append(f"{page.name}: {measured['error']}")
        for line in measured.get("cut", []):
            problems.append(f"{page.name}: a code line cut off at the right edge: {line!r}")
        if measured.get("lonely"):
            problems.append(
                f"{page.name}: {measured['lonely']} of {measured['players']} audio players "
                "without a spectrogram beside them"
            )
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
    assert "tag_parameters" in chapter, "one parameters box per chapter"
    assert 'id="fig-04-sisdri"' in chapter, "numbered figures"
