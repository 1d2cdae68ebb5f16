"""Papermill runs never hang: a per-cell limit, a dead kernel reported, the same in sweeps,
and widgets that do not wait for a frontend that is not there."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from myst import HEADER

from latentsep.book import build, sweep

NOTEBOOK = (
    HEADER
    + """---

```{{code-cell}} ipython3
:tags: [parameters]
seconds = 0
```

```{{code-cell}} ipython3
import time
```

```{{code-cell}} ipython3
{body}
```
"""
)

ROOT = Path(__file__).resolve().parents[1]


def notebook(tmp_path: Path, body: str, name: str = "slow") -> Path:
    path = tmp_path / f"{name}.md"
    path.write_text(NOTEBOOK.format(body=body))
    return path


def test_a_cell_past_the_limit_fails_fast_and_names_the_cell(tmp_path: Path):
    source = notebook(tmp_path, "time.sleep(seconds)  # the slow cell")
    start = time.perf_counter()
    with pytest.raises(build.ChapterError) as err:
        build.execute(source, tmp_path / "out.ipynb", {"seconds": 60}, timeout=1)
    assert time.perf_counter() - start < 30
    message = str(err.value)
    assert "slow.md: cell 3 ('time.sleep(seconds)  # the slow cell')" in message
    assert "ran past the limit of 1 s per cell" in message
    assert "latentsep book --chapter slow --cell-timeout 2" in message


def test_within_the_limit_it_runs(tmp_path: Path):
    source = notebook(tmp_path, "time.sleep(seconds)")
    out = build.execute(source, tmp_path / "out.ipynb", {"seconds": 0}, timeout=30)
    assert out.is_file()


def test_a_dead_kernel_is_reported(tmp_path: Path):
    source = notebook(tmp_path, "import os\nos._exit(1)", name="dies")
    with pytest.raises(build.ChapterError, match=r"dies.md: the kernel died in cell 3"):
        build.execute(source, tmp_path / "out.ipynb", timeout=60)


def test_a_cell_error_names_the_chapter(tmp_path: Path):
    source = notebook(tmp_path, "raise ValueError('bad input')", name="raises")
    with pytest.raises(build.ChapterError, match=r"raises.md: cell \d+ raised ValueError: bad"):
        build.execute(source, tmp_path / "out.ipynb", timeout=60)


def test_the_sweep_records_a_timed_out_run_and_keeps_the_others(tmp_path: Path):
    source = notebook(tmp_path, "time.sleep(seconds)")
    table = sweep.run(
        source, {"seconds": [0, 60]}, tmp_path / "sweep", preset="smoke", jobs=2, cell_timeout=2
    )
    assert list(table["status"]) == ["ok", "failed"]
    assert "ran past the limit of 2 s per cell" in table.loc[1, "error"]
    assert len(pd.read_csv(tmp_path / "sweep" / "results.csv")) == 2


def test_the_limit_by_preset_environment_and_override(monkeypatch):
    monkeypatch.delenv(build.TIMEOUT_ENV, raising=False)
    assert build.cell_timeout("smoke") == build.CELL_TIMEOUT["smoke"]
    assert build.cell_timeout("cpu") > build.cell_timeout("smoke")
    assert build.cell_timeout("unknown") == build.CELL_TIMEOUT["cpu"]
    monkeypatch.setenv(build.TIMEOUT_ENV, "42")
    assert build.cell_timeout("cpu") == 42
    assert build.cell_timeout("cpu", 7.5) == 8  # the argument wins, whole seconds
    monkeypatch.setenv(build.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="LATENTSEP_CELL_TIMEOUT='soon' is not a number"):
        build.cell_timeout("cpu")
    with pytest.raises(ValueError, match="must be > 0"):
        build.cell_timeout("cpu", 0)


def test_the_static_flag_is_restored(tmp_path: Path, monkeypatch):
    from latentsep.book.plots import STATIC_ENV

    monkeypatch.delenv(STATIC_ENV, raising=False)
    build.execute(notebook(tmp_path, "pass"), tmp_path / "out.ipynb", timeout=60)
    import os

    assert STATIC_ENV not in os.environ


@pytest.mark.slow
def test_plain_papermill_runs_a_chapter_with_widgets(smoke_book: Path, tmp_path: Path, monkeypatch):
    """The README's batch line: no LATENTSEP_STATIC, no frontend; the explorer renders
    statically instead of waiting on widget messages."""
    import papermill

    from latentsep.book.plots import STATIC_ENV

    monkeypatch.delenv(STATIC_ENV, raising=False)
    out = tmp_path / "04.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "colab" / "04_clustering.ipynb"),
        str(out),
        parameters={"preset": "smoke", "seed": 1},
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=300,
    )
    assert "Explorer, static view" in out.read_text()


def test_a_kernel_that_dies_before_its_first_reply_is_started_again(tmp_path: Path, monkeypatch):
    """Parallel runs' kernels can race for a port (a sweep failed so on a clean machine):
    such a start is retried, a bounded number of times; other errors are not."""
    import papermill

    real, calls = papermill.execute_notebook, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError(build.KERNEL_START_FAILED)
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    out = build.execute(notebook(tmp_path, "x = 1"), tmp_path / "out.ipynb")
    assert out.is_file() and len(calls) == 2

    def dead(*args, **kwargs):
        calls.append(1)
        raise RuntimeError(build.KERNEL_START_FAILED)

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", dead)
    with pytest.raises(RuntimeError, match="kernel_info"):
        build.execute(notebook(tmp_path, "x = 1"), tmp_path / "dead.ipynb")
    assert len(calls) == build.KERNEL_STARTS

    def other(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("something else")

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", other)
    with pytest.raises(RuntimeError, match="something else"):
        build.execute(notebook(tmp_path, "x = 1"), tmp_path / "other.ipynb")
    assert len(calls) == 1
