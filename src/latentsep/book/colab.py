"""Open-in-Colab support: the badge's link and the output-free .ipynb copies Colab opens.

Colab opens only .ipynb files from GitHub, and our notebooks' source of truth is MyST
markdown, so ``notebooks/colab/`` holds generated, output-free copies. A test keeps them
in sync with the text notebooks.
"""

from __future__ import annotations

from pathlib import Path

from latentsep.paths import REPO_URL

COLAB_URL = "https://colab.research.google.com/github/" + REPO_URL.split("github.com/")[1]


def badge_url(stem: str, branch: str = "main") -> str:
    return f"{COLAB_URL}/blob/{branch}/notebooks/colab/{stem}.ipynb"


def render_copy(source: Path) -> str:
    """The Colab .ipynb text for a MyST notebook (no outputs, stable formatting)."""
    import jupytext

    from latentsep.book.build import KERNELSPEC

    nb = jupytext.read(source)
    nb.metadata = {"kernelspec": KERNELSPEC, "accelerator": "GPU", "colab": {"provenance": []}}
    for i, cell in enumerate(nb.cells):  # stable ids, so the copies only change with the text
        cell["id"] = f"{source.stem[:2]}-{i:03d}"
    return jupytext.writes(nb, fmt="ipynb")


def sync(notebooks: Path) -> list[Path]:
    """Rewrite ``notebooks/colab/*.ipynb`` from the text notebooks; returns files changed."""
    changed = []
    out_dir = notebooks / "colab"
    out_dir.mkdir(exist_ok=True)
    for source in sorted(notebooks.glob("[0-9][0-9]_*.md")):
        target = out_dir / f"{source.stem}.ipynb"
        text = render_copy(source)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    return changed
