"""Papermill batches: one notebook over a grid of parameters, in parallel processes, every
run's recorded numbers (:mod:`latentsep.report`) collected into one CSV and one figure.

A run that fails is reported in the table (its error's last line) without stopping the
others or losing their results.

Beyond one machine, each run is one task on a **Dask distributed** cluster
(``scheduler="tcp://host:8786"``, or ``"local:N"`` for a ``LocalCluster`` of N worker
processes), executed by the same :func:`_run` as locally; the executed notebook comes back as
bytes, so workers need no shared folder for it. A worker that dies mid-run gives that run a
failed row (Dask retries nothing: a run that killed one worker would kill the next) and the
others complete; each wait is bounded. Dask is optional (``pip install
'latentsep[cluster]'``) and imported only here, only when asked for.
"""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from latentsep.book import build, report
from latentsep.paths import atomic_write


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["k=[1, 2]", "method=[\\"kmeans\\"]"]`` -> ``{"k": [1, 2], "method": ["kmeans"]}``;
    values are JSON lists (a bare value is a list of one)."""
    grid = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--grid expects name=JSON list, got {item!r}")
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            values = text  # a bare word: one string value
        grid[key.strip()] = values if isinstance(values, list) else [values]
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the grid, as parameter dicts."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


class SweepError(ValueError):
    """A sweep that cannot start (e.g. no Dask scheduler at the address given)."""


def _run(args: tuple[Path, Path, dict[str, Any], float | None]) -> dict[str, Any]:
    source, output, params, timeout = args
    start = time.perf_counter()
    row: dict[str, Any] = {"notebook": output.name}
    try:
        build.execute(source, output, params, timeout=timeout)
        row.update(status="ok", error="")
        row.update(report.recorded(output))
    except Exception as err:  # one failed run must not lose the others' results
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        row.update(status="failed", error=lines[-1] if lines else type(err).__name__)
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def run(
    source: Path,
    grid: dict[str, list[Any]],
    out: Path,
    preset: str = "smoke",
    jobs: int = 2,
    metric: str | None = None,
    cell_timeout: float | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Execute ``source`` once per grid point with ``preset``; write ``out/results.csv``
    (parameters, status, recorded numbers) and ``out/results.png``; return the table.
    A run whose cell passes ``cell_timeout`` seconds (default: by preset) is recorded as
    failed, with the message, and the others go on. ``scheduler`` runs the grid on a Dask
    cluster (see the module's docstring) instead of ``jobs`` local processes."""
    out = Path(out)
    runs = combinations(grid)
    tasks = [
        (
            Path(source),
            out / "runs" / f"{Path(source).stem}-{i:03d}.ipynb",
            {"preset": preset, **params},
            cell_timeout,
        )
        for i, params in enumerate(runs)
    ]
    if scheduler:
        client, cluster = connect(scheduler)  # before any run: a bad address fails here
        try:
            results = on_dask(client, tasks, run_limit(source, preset, cell_timeout))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(_run, tasks))
    table = pd.DataFrame(
        [
            {
                **{
                    k: v if isinstance(v, str | int | float) else json.dumps(v)
                    for k, v in p.items()
                },
                **r,
            }
            for p, r in zip(runs, results, strict=True)
        ]
    )
    atomic_write(out / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
    figure(table, list(grid), metric, out / "results.png")
    return table


#: Seconds to reach a Dask scheduler before giving up (a bad address fails fast).
CONNECT_TIMEOUT = 10


def connect(scheduler: str):
    """``(client, cluster)``: a client of the scheduler at ``scheduler``, or of a new
    ``LocalCluster`` for ``local:N`` (the cluster is returned to be closed; None otherwise).
    A :class:`SweepError` in one line when Dask is missing or the scheduler cannot be
    reached."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError as err:
        raise SweepError(
            "a sweep on a cluster needs Dask: pip install 'latentsep[cluster]'"
        ) from err
    # a task whose worker died is not run again: the failure is the run's result
    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise SweepError(f"--scheduler {scheduler}: expected local:N with N >= 1 workers")
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError, ValueError) as err:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err


def run_limit(source: Path, preset: str, cell_timeout: float | None) -> float:
    """The longest wait for one run's result: every code cell at its time limit, plus the
    kernel's start — a bound, so a lost task can never hang the sweep."""
    cells = build.read_notebook(Path(source)).cells
    n = sum(c.cell_type == "code" for c in cells)
    return n * build.cell_timeout(preset, cell_timeout) + 300.0


def _run_and_return(args: tuple[Path, Path, dict[str, Any], float | None]) -> dict[str, Any]:
    """:func:`_run` on a worker, into its own temporary folder; the executed notebook comes
    back in the row (``_notebook``: bytes), so no folder needs to be shared."""
    import tempfile

    source, output, params, timeout = args
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / output.name
        row = _run((source, local, params, timeout))
        row["_notebook"] = local.read_bytes() if local.is_file() else None
    return row


def on_dask(client, tasks, limit: float) -> list[dict[str, Any]]:
    """Each task on the cluster; rows in the tasks' order. A run whose worker died, or
    that gave no result within ``limit`` seconds, is a failed row with the reason."""
    from dask.distributed import TimeoutError as DaskTimeout

    futures = [client.submit(_run_and_return, t, pure=False) for t in tasks]
    rows, deadline = [], time.monotonic() + limit
    for (_, output, _, _), future in zip(tasks, futures, strict=True):
        row: dict[str, Any] = {"notebook": output.name}
        try:
            row = future.result(timeout=max(1.0, deadline - time.monotonic()))
        except (DaskTimeout, TimeoutError):
            future.cancel()
            row.update(status="failed", error=f"no result within {limit:.0f} s")
        except Exception as err:  # KilledWorker: the process running it died
            row.update(status="failed", error=f"{type(err).__name__}: {err}".splitlines()[0])
        notebook = row.pop("_notebook", None)
        if notebook is not None:
            atomic_write(output, lambda tmp, b=notebook: tmp.write_bytes(b))
        rows.append(row)
    return rows


def figure(table: pd.DataFrame, params: list[str], metric: str | None, path: Path) -> Path | None:
    """One recorded number against the first parameter (the others as colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    ok = table[table["status"] == "ok"]
    numeric = [c for c in ok.select_dtypes("number").columns if c not in (*params, "seconds")]
    metric = metric or (numeric[0] if numeric else "seconds")
    if ok.empty or metric not in ok:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = params[0] if params else "notebook"
    hue = params[1] if len(params) > 1 else None
    sns.pointplot(data=ok.astype({x: str}), x=x, y=metric, hue=hue, ax=ax)
    ax.set_title(f"{metric} over {x}")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path
