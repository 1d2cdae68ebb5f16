"""Execute the jupytext notebooks with papermill and build the HTML book.

The text notebooks in ``notebooks/`` (MyST markdown) are the source of truth. Executed
``.ipynb`` files go to ``book/chapters/`` and are build outputs; Jupyter Book (1.x, Sphinx:
it builds offline, and incrementally) renders them without executing again.

A chapter is executed only when its inputs changed. Its key (:func:`chapter_key`) hashes
the chapter's text, the code of the package's modules that the chapter imports (directly or
through other modules: :func:`chapter_code`), the preset's resolved parameters,
the papermill parameters, the pinned environment (``requirements/lock.txt``) and any files
the chapter declares in its front matter (``latentsep: {inputs: [globs]}``, e.g. the
benchmark results the Performance page reads). The key is stored in the executed
notebook's metadata; a build whose key matches reuses that notebook. Chapters also read
cached artifacts under ``data/`` (datasets, models, evaluations), but those are keyed by
the pipeline (:mod:`latentsep.pipeline`) as functions of the same code and preset, so code,
preset and text are a sound key for a chapter's outputs too. Not in the key: pretrained
weights in torch's hub cache (chapter 01 uses them when present) and ``$MUSDB_PATH``;
``latentsep book --force`` re-executes after changing those.
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import glob
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from latentsep.paths import (
    code_digest,
    cpu_model,
    data_dir,
    file_sha256,
    imported_names,
    module_closure,
    param_key,
    repo_root,
)
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
CELL_TIMEOUT = {"smoke": 600, "cpu": 3600, "gpu": 4 * 3600, "paper": 8 * 3600}
#: Overrides the per-preset limit (seconds), like ``latentsep book --cell-timeout``.
TIMEOUT_ENV = "LATENTSEP_CELL_TIMEOUT"


@contextlib.contextmanager
def environment(name: str, value: str, keep: bool = False):
    """Set ``$name`` (inherited by the kernels) for the ``with`` block, then restore it;
    ``keep``: leave a value that is already set as it is."""
    old = os.environ.get(name)
    if not (keep and old is not None):
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


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


#: Kernels started at once by parallel runs can race for the same free port, and one dies
#: before its first reply (jupyter_client); such a run is started again, this many times in all.
KERNEL_STARTS = 3
KERNEL_START_FAILED = "Kernel died before replying to kernel_info"


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
    try:
        for attempt in range(KERNEL_STARTS):
            try:
                with environment(STATIC_ENV, "1"):
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
                break
            except RuntimeError as err:  # nothing ran: start it again
                if KERNEL_START_FAILED not in str(err) or attempt == KERNEL_STARTS - 1:
                    raise
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
    tidy(output)
    return output


def _without_stderr(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]


def drop_stderr(path: Path) -> None:
    """Remove stderr streams (progress bars, library warnings) from an executed notebook:
    the book hides them anyway, but a cell whose only output was stderr would show an empty
    output box."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    _without_stderr(nb)
    nbformat.write(nb, path)


#: First line of the parameters cell in an executed notebook: the one box a reader sees.
PARAMETERS_HEADER = "# parameters of this run"


def merge_parameters(defaults: str, injected: str) -> str:
    """The ``parameters`` cell's source with papermill's injected values in place of the
    defaults they override (comments after a value are kept); injected names the cell
    does not define are appended."""
    lines = defaults.splitlines()
    values = {}
    for node in ast.parse(injected).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                values[target.id] = ast.get_source_segment(injected, node)
    assigned = [
        node
        for node in ast.parse(defaults).body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in values
    ]
    # bottom-up, so the line numbers of the assignments above stay valid
    for node in sorted(assigned, key=lambda n: n.lineno, reverse=True):
        first, last = node.lineno - 1, node.end_lineno - 1
        head = lines[first][: node.col_offset]
        tail = lines[last].encode()[node.end_col_offset :].decode()  # offsets are in bytes
        new = (head + values.pop(node.targets[0].id) + tail).splitlines()
        lines[first : last + 1] = new
    text = "\n".join(lines)
    if values:  # run after the defaults, so they still win
        text = text.rstrip("\n") + "\n" + "\n".join(values.values())
    return text


def fold_parameters(nb) -> None:
    """Replace papermill's injected-parameters cell by its values in the notebook's own
    ``parameters`` cell: a reader sees one box with the values this run used."""
    cells = nb.cells
    injected = [c for c in cells if "injected-parameters" in c.metadata.get("tags", [])]
    own = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    if not injected or len(own) != 1:
        return
    cell = own[0]
    try:
        source = merge_parameters(cell.source, injected[0].source)
    except SyntaxError:
        return  # leave a cell we cannot parse as papermill wrote it
    cell.source = f"{PARAMETERS_HEADER}\n{source}"
    nb.cells = [c for c in cells if c is not injected[0]]


def tidy(path: Path) -> None:
    """What a reader should not see in an executed notebook: stderr streams
    (:func:`drop_stderr`) and papermill's second parameters box (:func:`fold_parameters`)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    _without_stderr(nb)
    fold_parameters(nb)
    nbformat.write(nb, path)


#: Where the executed notebook keeps its build record: key, seconds, date, parameters.
META = "latentsep"


def declared_inputs(source: Path) -> dict[str, str]:
    """Files the chapter reads besides the package and ``data/`` (front matter
    ``latentsep: {inputs: [globs relative to the notebook]}``), by path, with their hash."""
    nb = read_notebook(source)
    patterns = nb.metadata.get(META, {}).get("inputs", [])
    found = {}
    for pattern in patterns:
        for name in sorted(glob.glob(str(source.parent / pattern), recursive=True)):
            path = Path(name)
            if path.is_file():
                found[os.path.relpath(path, source.parent)] = file_sha256(path)
    return found


def chapter_imports(source: Path) -> set[str] | None:
    """The ``latentsep`` modules a chapter's code cells import (None when a cell is not
    plain Python, so nothing can be ruled out)."""
    names: set[str] = set()
    for cell in read_notebook(source).cells:
        if cell.cell_type != "code":
            continue
        code = re.sub(r"^(\s*)[!%].*$", r"\1pass", cell.source, flags=re.M)  # shell, magics
        try:
            names |= imported_names(ast.parse(code))
        except SyntaxError:
            return None
    return names


def chapter_code(source: Path) -> str:
    """A hash of the package's code that a chapter runs: every module its code cells import,
    and every module those import, transitively (an edit elsewhere re-executes nothing)."""
    names = chapter_imports(source)
    return code_digest() if names is None else code_digest(files=module_closure(names))


def chapter_key(source: Path, parameters: dict[str, Any], code: str | None = None) -> str:
    """The key of one chapter's execution: its text, the code it runs (``code``, default
    :func:`chapter_code`), the preset's resolved parameters, the papermill ``parameters``,
    the pinned environment and the chapter's declared input files."""
    parts: dict[str, Any] = {
        "text": file_sha256(source),
        "code": code or chapter_code(source),
        "parameters": parameters,
        "inputs": declared_inputs(source),
    }
    if "preset" in parameters:
        parts["preset"] = get_preset(parameters["preset"], parameters.get("overrides")).to_dict()
    root = repo_root()
    if root is not None and (root / "requirements" / "lock.txt").is_file():
        parts["environment"] = file_sha256(root / "requirements" / "lock.txt")
    return param_key(parts, length=16)


def executed_record(output: Path) -> dict[str, Any] | None:
    """The build record of an executed notebook, or None if it has none (never built by
    :func:`run_chapter`, or its last run failed)."""
    try:
        nb = json.loads(output.read_text())
    except (OSError, ValueError):
        return None
    record = nb.get("metadata", {}).get(META, {})
    return record if "key" in record else None


def _stamp(output: Path, record: dict[str, Any]) -> None:
    import nbformat

    nb = nbformat.read(output, as_version=4)
    nb.metadata[META] = {**nb.metadata.get(META, {}), **record}
    nbformat.write(nb, output)


def run_chapter(
    source: Path,
    output: Path,
    parameters: dict[str, Any],
    force: bool = False,
    timeout: float | None = None,
    progress: bool = False,
    code: str | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Execute ``source`` into ``output`` unless ``output`` was executed from the same key
    (and ``force`` is off). Returns the build record, with ``reused`` set; ``verbose``
    prints what happened on one line (two when it executes: before and after)."""
    key = chapter_key(source, parameters, code)
    previous = executed_record(output)
    if not force and previous is not None and previous["key"] == key:
        if verbose:
            print(
                f">> {source.name}: reused (key {key[:8]}, executed in "
                f"{previous['seconds']:.0f} s on {_date(previous.get('executed', ''))})",
                flush=True,
            )
        return {**previous, "reused": True}
    if verbose:
        limit = cell_timeout(parameters.get("preset"), timeout)
        print(f">> {source.name}: executing ({limit} s per cell)", flush=True)
    start = time.perf_counter()
    execute(source, output, parameters, progress=progress, timeout=timeout)
    record = {
        "key": key,
        "seconds": round(time.perf_counter() - start, 1),
        "executed": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "parameters": parameters,
    }
    _stamp(output, record)
    if verbose:
        print(f">> {source.name}: executed in {record['seconds']:.0f} s", flush=True)
    return {**record, "reused": False}


def _date(iso: str) -> str:
    return iso.replace("T", " ")[:16] if iso else "an unknown date"


def machine() -> dict[str, Any]:
    """The machine that executed the chapters, for the timings (no torch import: cheap)."""
    info: dict[str, Any] = {"CPU cores": os.cpu_count(), "platform": platform.platform()}
    if cpu := cpu_model():
        info["CPU"] = cpu
    return info


def write_timings(sources: list[Path], out_dir: Path, this_build: dict[str, dict]) -> Path:
    """``out_dir/timings.json``: per chapter, its key, how long its execution took, when,
    and what this build did with it (executed, reused, or not asked for: ``--chapter``);
    the benchmarks and the reproduce page quote it."""
    chapters = {}
    for source in sources:
        record = this_build.get(source.stem)
        if record is not None:
            done = "reused" if record["reused"] else "executed"
        else:
            record, done = executed_record(out_dir / f"{source.stem}.ipynb"), "not asked for"
        if record is not None:
            kept = {k: v for k, v in record.items() if k != "reused"}
            chapters[source.stem] = {**kept, "this build": done}
    timings = {
        "machine": machine(),
        "chapters": chapters,
        "seconds executing, all chapters": round(sum(c["seconds"] for c in chapters.values()), 1),
    }
    path = out_dir / "timings.json"
    path.write_text(json.dumps(timings, indent=2) + "\n")
    return path


#: The chapters that take the ``real_stems`` parameter.
REAL_STEMS_CHAPTERS = ("05_results",)


def build(
    preset: str = "cpu",
    chapters: Iterable[str] | None = None,
    html: bool = True,
    book_dir: Path | None = None,
    cell_timeout_s: float | None = None,
    force: bool = False,
    parameters: dict[str, Any] | None = None,
    notebooks: Path | None = None,
    real_stems: str | None = None,
) -> Path:
    """Execute every chapter with ``preset`` and build the HTML book in ``book/_build/html``
    (or in ``book_dir``, a copy of ``book/``: the tests build the smoke book there).

    A chapter whose executed notebook has the same key (:func:`chapter_key`) is reused
    instead of executed, unless ``force``. ``parameters`` go to every chapter beside
    ``preset``; ``notebooks`` is the folder of text notebooks (default: the checkout's).
    Each cell may run ``cell_timeout_s`` seconds (default: :func:`cell_timeout`); a chapter
    that does not finish raises :class:`ChapterError` naming it and the cell. Per-chapter
    times land in ``chapters/timings.json``. ``real_stems`` (a folder of real multitrack
    stems) goes to the results chapter alone, which scores every method on them too."""
    get_preset(preset)  # fail early on a bad name, before any notebook runs
    if real_stems:  # a bad folder fails here, in one line, not in the middle of chapter 05
        from latentsep.evaluation import multitrack

        multitrack.read_folder(real_stems)
    limit = cell_timeout(preset, cell_timeout_s)
    started = time.perf_counter()
    root = _checkout()
    dest = Path(book_dir) if book_dir else root / "book"
    if dest != root / "book":
        ignore = shutil.ignore_patterns("_build", "chapters")
        shutil.copytree(root / "book", dest, ignore=ignore, dirs_exist_ok=True)
    out_dir = dest / "chapters"
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(chapters) if chapters else None
    sources = chapter_sources(notebooks or root / "notebooks")
    params = {"preset": preset, **(parameters or {})}
    done: dict[str, dict] = {}
    # the kernels find the same data folder as this process; restored afterwards
    with environment("LATENTSEP_DATA", str(data_dir()), keep=True):
        for source in sources:
            if wanted and source.stem not in wanted:
                continue
            extra = (
                {"real_stems": str(real_stems)}
                if real_stems and source.stem in REAL_STEMS_CHAPTERS
                else {}
            )
            done[source.stem] = run_chapter(
                source,
                out_dir / f"{source.stem}.ipynb",
                {**params, **extra},
                force=force,
                timeout=limit,
                progress=True,
                verbose=True,
            )
    timings = write_timings(sources, out_dir, done)
    executed = sum(r["seconds"] for r in done.values() if not r["reused"])
    reused = sum(1 for r in done.values() if r["reused"])
    print(
        f">> chapters: {len(done) - reused} executed ({executed:.0f} s), {reused} reused; "
        f"timings in {timings}",
        flush=True,
    )
    if not html:
        print(f">> total {time.perf_counter() - started:.0f} s", flush=True)
        return out_dir
    print(">> building the HTML book", flush=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(dest), "--quiet"], check=True)
    index = dest / "_build" / "html" / "index.html"
    print(f">> total {time.perf_counter() - started:.0f} s; the book is ready: open file://{index}")
    return index
