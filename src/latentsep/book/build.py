"""Execute the jupytext notebooks with papermill and build the HTML book.

The text notebooks in ``notebooks/`` (MyST markdown) are the source of truth. Executed
``.ipynb`` files go to ``book/chapters/`` and are build outputs; Jupyter Book (1.x, Sphinx:
it builds offline) renders them without executing again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from latentsep.paths import data_dir, repo_root
from latentsep.presets import get_preset


def _checkout() -> Path:
    root = repo_root()
    if root is None:
        raise RuntimeError("building the book needs the source checkout (notebooks/ and book/)")
    return root


def chapter_sources(notebooks: Path | None = None) -> list[Path]:
    """The book's notebooks in reading order (by their numeric prefix)."""
    folder = notebooks or _checkout() / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]_*.md"))


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def read_notebook(source: Path):
    """A jupytext text notebook as a notebook object that runs on the ``python3`` kernel."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def to_ipynb(source: Path, target: Path) -> Path:
    """Convert a jupytext text notebook to an (unexecuted) .ipynb."""
    import jupytext

    nb = read_notebook(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, target, fmt="ipynb")
    return target


def execute(
    source: Path,
    output: Path,
    parameters: dict[str, Any] | None = None,
    cwd: Path | None = None,
    progress: bool = False,
) -> Path:
    """Run one text notebook through papermill; the executed notebook lands at ``output``.
    Widgets render statically: a saved notebook (the book's pages) has no kernel behind it."""
    import papermill

    from latentsep.book.plots import STATIC_ENV

    os.environ[STATIC_ENV] = "1"

    output.parent.mkdir(parents=True, exist_ok=True)
    unexecuted = output.with_suffix(".input.ipynb")
    to_ipynb(source, unexecuted)
    try:
        papermill.execute_notebook(
            str(unexecuted),
            str(output),
            parameters=parameters or {},
            kernel_name="python3",
            cwd=str(cwd or source.parent),
            progress_bar=progress,
            log_output=False,
        )
    finally:
        unexecuted.unlink(missing_ok=True)
    drop_stderr(output)
    return output


def drop_stderr(path: Path) -> None:
    """Remove stderr streams (progress bars, library warnings) from an executed notebook:
    the book hides them anyway, but a cell whose only output was stderr would show an empty
    output box."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    nbformat.write(nb, path)


def build(
    preset: str = "cpu",
    chapters: Iterable[str] | None = None,
    html: bool = True,
    book_dir: Path | None = None,
) -> Path:
    """Execute every chapter with ``preset`` and build the HTML book in ``book/_build/html``
    (or in ``book_dir``, a copy of ``book/``: the tests build the smoke book there)."""
    get_preset(preset)  # fail early on a bad name, before any notebook runs
    root = _checkout()
    dest = Path(book_dir) if book_dir else root / "book"
    if dest != root / "book":
        ignore = shutil.ignore_patterns("_build", "chapters")
        shutil.copytree(root / "book", dest, ignore=ignore, dirs_exist_ok=True)
    out_dir = dest / "chapters"
    os.environ.setdefault("LATENTSEP_DATA", str(data_dir()))
    wanted = set(chapters) if chapters else None
    for source in chapter_sources(root / "notebooks"):
        if wanted and source.stem not in wanted:
            continue
        t0 = time.perf_counter()
        print(f">> executing {source.name} (preset={preset})", flush=True)
        execute(source, out_dir / f"{source.stem}.ipynb", {"preset": preset}, progress=True)
        print(f"   done in {time.perf_counter() - t0:.0f} s", flush=True)
    if not html:
        return out_dir
    print(">> building the HTML book", flush=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(dest), "--quiet"], check=True)
    index = dest / "_build" / "html" / "index.html"
    print(f">> the book is ready: open file://{index}")
    return index
