"""Papermill batches: one notebook over a grid of parameters, in parallel processes, every
run's recorded numbers (:mod:`latentsep.report`) collected into one CSV and one figure.

A run that fails is reported in the table (its error's last line) without stopping the
others or losing their results.
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
) -> pd.DataFrame:
    """Execute ``source`` once per grid point with ``preset``; write ``out/results.csv``
    (parameters, status, recorded numbers) and ``out/results.png``; return the table.
    A run whose cell passes ``cell_timeout`` seconds (default: by preset) is recorded as
    failed, with the message, and the others go on."""
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
