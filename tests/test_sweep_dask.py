"""Sweeps on Dask (issue 26): a LocalCluster of 2 workers gives the same table as the local
process pool; a worker killed mid-run is a failed row and the others complete; a scheduler
that cannot be reached is one line and exit 2 before any run starts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from myst import HEADER

from latentsep import cli
from latentsep.book import sweep

pytest.importorskip(
    "dask.distributed", reason="the cluster extra: pip install 'latentsep[cluster]'"
)

NOTEBOOK = (
    HEADER
    + """---

```{code-cell} ipython3
:tags: [parameters]
preset = "smoke"
x = 0
die = False
```

```{code-cell} ipython3
import os

from latentsep.book import report
from latentsep.presets import get_preset

if die:  # the kernel's parent is the process that runs the notebook: the Dask worker
    os.kill(os.getppid(), 9)
report.record("twice x", 2 * x)
report.record("smoke tracks", get_preset(preset).data.n_test)
```
"""
)


def grid_notebook(tmp_path: Path) -> Path:
    path = tmp_path / "grid.md"
    path.write_text(NOTEBOOK)
    return path


def table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv").drop(columns=["seconds"])


@pytest.mark.slow
def test_a_local_cluster_gives_the_local_sweeps_table(tmp_path: Path):
    source = grid_notebook(tmp_path)
    grid = {"x": [1, 2, 3, 4]}
    local = sweep.run(source, grid, tmp_path / "local", "smoke", jobs=2)
    dask = sweep.run(source, grid, tmp_path / "dask", "smoke", scheduler="local:2")
    assert list(local["status"]) == ["ok"] * 4
    pd.testing.assert_frame_equal(table(tmp_path / "local"), table(tmp_path / "dask"))
    assert list(dask["twice x"]) == [2, 4, 6, 8]
    assert len(list((tmp_path / "dask" / "runs").glob("*.ipynb"))) == 4  # sent back


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_a_failed_row(tmp_path: Path):
    source = grid_notebook(tmp_path)
    result = sweep.run(
        source, {"x": [1, 2], "die": [False, True]}, tmp_path / "out", "smoke", scheduler="local:2"
    )
    status = dict(zip(zip(result["x"], result["die"], strict=True), result["status"], strict=True))
    assert status[(1, False)] == "ok" and status[(2, False)] == "ok"
    assert status[(1, True)] == "failed" and status[(2, True)] == "failed"
    assert result[result["die"]]["error"].str.contains("KilledWorker").all()


def test_an_unreachable_scheduler_is_one_line_before_any_run(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", 2)
    monkeypatch.setattr(sweep, "_run", lambda *a: pytest.fail("a run started"))
    code = cli.main(
        [
            "sweep",
            str(grid_notebook(tmp_path)),
            "--preset",
            "smoke",
            "--grid",
            "x=[1]",
            "--out",
            str(tmp_path / "out"),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.csv").exists()
    assert cli.main(["sweep", str(grid_notebook(tmp_path)), "--scheduler", "local:0"]) == 2
