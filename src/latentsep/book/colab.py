"""Open-in-Colab support: the badge's link and the output-free .ipynb copies Colab opens.

Colab opens only .ipynb files from GitHub, and our notebooks' source of truth is MyST
markdown, so ``notebooks/colab/`` holds generated, output-free copies. A test keeps them
in sync with the text notebooks.

The repository's address lives in one place, ``[project.urls] Repository`` in
pyproject.toml (:func:`latentsep.paths.repository_url`). :func:`sync` (``make colab``)
writes it into every chapter's badge and install cell, the README's and the reproduce
page's clone command; a fork sets its own address there and runs ``make colab``.
"""

from __future__ import annotations

import re
from pathlib import Path

from latentsep.paths import repository_url

#: owner/name in a repository address
_REPO = r"[\w.-]+/[\w.-]+"


def colab_base(url: str | None = None) -> str:
    """Colab's address for the GitHub repository ``url`` (default: the project's)."""
    url = url or repository_url()
    if not url.startswith("https://github.com/"):
        raise ValueError(f"Colab opens notebooks from GitHub only, not from {url}")
    return "https://colab.research.google.com/github/" + url.removeprefix("https://github.com/")


def badge_url(stem: str, branch: str = "main") -> str:
    """The Open-in-Colab link of chapter ``stem``."""
    return f"{colab_base()}/blob/{branch}/notebooks/colab/{stem}.ipynb"


def point_to_repository(text: str, url: str | None = None) -> str:
    """``text`` with every address of the project's repository set to ``url`` (default:
    :func:`repository_url`): Colab badges, ``git+`` install URLs and ``git clone`` lines
    (with the ``cd`` after them). Other links, e.g. to cited projects, are left alone."""
    url = (url or repository_url()).rstrip("/")
    name = url.rsplit("/", 1)[-1].removesuffix(".git")
    text = re.sub(
        rf"https://colab\.research\.google\.com/github/{_REPO}/blob/",
        lambda _: f"{colab_base(url)}/blob/",
        text,
    )
    text = re.sub(rf"git\+https://[\w.-]+/{_REPO}", lambda _: f"git+{url}", text)
    return re.sub(
        rf"git clone https://[\w.-]+/{_REPO}( && cd [\w.-]+)?",
        lambda m: f"git clone {url}" + (f" && cd {name}" if m.group(1) else ""),
        text,
    )


def render_copy(source: Path) -> str:
    """The Colab .ipynb text for a MyST notebook (no outputs, stable formatting)."""
    import jupytext

    from latentsep.book.build import KERNELSPEC

    nb = jupytext.read(source)
    nb.metadata = {"kernelspec": KERNELSPEC, "accelerator": "GPU", "colab": {"provenance": []}}
    for i, cell in enumerate(nb.cells):  # stable ids, so the copies only change with the text
        cell["id"] = f"{source.stem[:2]}-{i:03d}"
    return jupytext.writes(nb, fmt="ipynb")


def linked_pages(notebooks: Path) -> list[Path]:
    """The text files that name the repository: the chapters, the README and the
    reproduce page of the checkout around ``notebooks``."""
    root = notebooks.parent
    pages = [root / "README.md", root / "book" / "reproduce.md"]
    return sorted(notebooks.glob("[0-9][0-9]_*.md")) + [p for p in pages if p.is_file()]


def sync(notebooks: Path) -> list[Path]:
    """Point the text notebooks, README and reproduce page at :func:`repository_url`, then
    rewrite ``notebooks/colab/*.ipynb`` from the text notebooks; returns files changed."""
    changed = []
    for page in linked_pages(notebooks):
        text = page.read_text()
        if (new := point_to_repository(text)) != text:
            page.write_text(new)
            changed.append(page)
    out_dir = notebooks / "colab"
    out_dir.mkdir(exist_ok=True)
    for source in sorted(notebooks.glob("[0-9][0-9]_*.md")):
        target = out_dir / f"{source.stem}.ipynb"
        text = render_copy(source)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    return changed
