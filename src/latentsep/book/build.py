"""Execute the jupytext notebooks with papermill and build the HTML book.

The text notebooks in ``notebooks/`` (MyST markdown) are the source of truth. Executed
``.ipynb`` files go to ``book/chapters/`` and are build outputs; Jupyter Book (1.x, Sphinx:
it builds offline) renders them without executing again.
"""

from __future__ import annotations

import math
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


#: Per-cell time limits (seconds) by preset: a cell that trains takes up to half an hour on
#: the cpu preset (chapter 02 trains three models in one cell), seconds on smoke. Without a
#: limit one lost kernel message would stall a book build or a sweep forever.
CELL_TIMEOUT = {"smoke": 600, "cpu": 3600, "paper": 8 * 3600}
#: Overrides the per-preset limit (seconds), like ``latentsep book --cell-timeout``.
TIMEOUT_ENV = "LATENTSEP_CELL_TIMEOUT"


class ChapterError(RuntimeError):
    """A chapter that did not finish: a cell ran past its time limit, the kernel died, or a
    cell raised. The message names the chapter, the cell and what to rerun."""


def cell_timeout(preset: str | None = None, override: float | None = None) -> int:
    """The per-cell limit in seconds: ``override``, else ``$LATENTSEP_CELL_TIMEOUT``, else
    the preset's entry of :data:`CELL_TIMEOUT` (the cpu preset's for an unknown one)."""
    if override is None and os.environ.get(TIMEOUT_ENV):
        try:
            override = float(os.environ[TIMEOUT_ENV])
        except ValueError as err:
            raise ValueError(f"{TIMEOUT_ENV}={os.environ[TIMEOUT_ENV]!r} is not a number") from err
    if override is not None:
        if override <= 0:
            raise ValueError(f"the cell timeout must be > 0 seconds, got {override:g}")
        return int(math.ceil(override))
    return CELL_TIMEOUT.get(preset or "cpu", CELL_TIMEOUT["cpu"])


def _stuck_cell(output: Path) -> str:
    """ "cell N (first line)" of the last cell papermill started in ``output``, counting the
    notebook's own cells (not papermill's injected parameters)."""
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except (OSError, ValueError):
        return "a cell"
    cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return "a cell"
    cell = cells[started[-1]]
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {started[-1] + 1} ({first[:60]!r})"


def execute(
    source: Path,
    output: Path,
    parameters: dict[str, Any] | None = None,
    cwd: Path | None = None,
    progress: bool = False,
    timeout: float | None = None,
) -> Path:
    """Run one text notebook through papermill; the executed notebook lands at ``output``.

    Each cell may run ``timeout`` seconds (default: :func:`cell_timeout` for the
    ``preset`` parameter); a cell past it, or a dead kernel, raises :class:`ChapterError`
    within seconds instead of hanging. Widgets render statically: a saved notebook (the
    book's pages) has no kernel behind it.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from latentsep.book.plots import STATIC_ENV

    parameters = parameters or {}
    limit = cell_timeout(parameters.get("preset"), timeout)
    output.parent.mkdir(parents=True, exist_ok=True)
    unexecuted = output.with_suffix(".input.ipynb")
    to_ipynb(source, unexecuted)
    static = os.environ.get(STATIC_ENV)
    os.environ[STATIC_ENV] = "1"  # the kernel inherits it; restored below
    try:
        papermill.execute_notebook(
            str(unexecuted),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd or source.parent),
            progress_bar=progress,
            log_output=False,
            execution_timeout=limit,
        )
    except CellTimeoutError as err:
        raise ChapterError(
            f"{source.name}: {_stuck_cell(output)} ran past the limit of {limit} s per cell. "
            f"Rerun it alone with a longer limit: latentsep book --chapter {source.stem} "
            f"--cell-timeout {2 * limit}"
        ) from err
    except DeadKernelError as err:
        raise ChapterError(
            f"{source.name}: the kernel died in {_stuck_cell(output)} (out of memory?). "
            f"Rerun it alone: latentsep book --chapter {source.stem}"
        ) from err
    except PapermillExecutionError as err:
        raise ChapterError(
            f"{source.name}: cell {err.exec_count} raised {err.ename}: {err.evalue}. "
            f"The executed notebook is {output}; rerun it alone: latentsep book --chapter "
            f"{source.stem}"
        ) from err
    finally:
        unexecuted.unlink(missing_ok=True)
        if static is None:
            os.environ.pop(STATIC_ENV, None)
        else:
            os.environ[STATIC_ENV] = static
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
    cell_timeout_s: float | None = None,
) -> Path:
    """Execute every chapter with ``preset`` and build the HTML book in ``book/_build/html``
    (or in ``book_dir``, a copy of ``book/``: the tests build the smoke book there).

    Each cell may run ``cell_timeout_s`` seconds (default: :func:`cell_timeout`); a chapter
    that does not finish raises :class:`ChapterError` naming it and the cell."""
    get_preset(preset)  # fail early on a bad name, before any notebook runs
    limit = cell_timeout(preset, cell_timeout_s)
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
        print(f">> executing {source.name} (preset={preset}, {limit} s per cell)", flush=True)
        execute(
            source,
            out_dir / f"{source.stem}.ipynb",
            {"preset": preset},
            progress=True,
            timeout=limit,
        )
        print(f"   done in {time.perf_counter() - t0:.0f} s", flush=True)
    if not html:
        return out_dir
    print(">> building the HTML book", flush=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(dest), "--quiet"], check=True)
    index = dest / "_build" / "html" / "index.html"
    print(f">> the book is ready: open file://{index}")
    return index
