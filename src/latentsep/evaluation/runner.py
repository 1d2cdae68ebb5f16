"""Scoring methods on a real set without losing work: one part file per excerpt × method,
written atomically as it finishes, keyed by everything that shapes it; excerpts scored in
parallel processes; the tables rebuilt from the parts after every excerpt.

As museval writes one JSON per track as each ends: a run that is killed keeps every part
it finished, and the same command then scores only the rest and ends with the same tables
as a run that was never interrupted. A rerun with other methods reuses the parts it shares.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from latentsep import separation
from latentsep.evaluation import metrics
from latentsep.evaluation.multitrack import Excerpt
from latentsep.evaluation.scoring import EVALUATION_VERSION, CaseMethod
from latentsep.paths import atomic_write, param_key
from latentsep.separation import nmf

PARTS = ".parts"
#: The tables written beside the parts.
TABLES = ("scores", "runs", "counts", "skipped")

#: ``factory(*args) -> (methods with the true count, methods that estimate it)``: called
#: once per worker process, so each loads its networks once.
Factory = Callable[..., tuple[dict[str, CaseMethod], dict[str, CaseMethod]]]


@dataclass(frozen=True)
class Unit:
    """One excerpt × method: counted (the method estimates the count) or given the true one."""

    method: str
    counted: bool
    key: str


def unit_key(excerpt: Excerpt, method: str, counted: bool, context: Any) -> str:
    """Everything that shapes a unit's result: the excerpt (its files' sizes and times, its
    window), the method and its version, the count mode and ``context`` (the seed, the
    format, the networks' and the autoencoder's keys, the package's code)."""
    spec = separation.get_method(method)
    return param_key(
        [EVALUATION_VERSION, excerpt.identity, spec.name, spec.version, counted, context], 16
    )


_WORKER: dict[str, Any] = {}


def _start(factory: Factory, args: tuple, threads: int | None, parent: int | None = None) -> None:
    if parent is not None:  # the command's pid, given: it may have died before this started
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    if threads:
        import torch
        from threadpoolctl import threadpool_limits

        # BLAS threads too: two processes each spinning two OpenBLAS threads on two cores
        # ran nmf+streams twelve times slower than one process alone
        torch.set_num_threads(threads)
        _WORKER["limits"] = threadpool_limits(threads)
    _WORKER["methods"] = factory(*args)


def _exit_with(parent: int) -> None:
    """End this worker when the command that started it ends (killed, not only stopped):
    an orphaned worker would go on taking the cores."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _score(
    excerpt: Excerpt, fmt, units: list[Unit], limits: dict[str, int], parts: Path
) -> list[dict]:
    """Score the excerpt's units, each part written as it finishes; returns the parts."""
    case, notes = excerpt.case(fmt)
    by_method: dict[str, list[Unit]] = {}
    for unit in units:
        by_method.setdefault(unit.method, []).append(unit)
    done = []
    for same in by_method.values():
        # a method's counting run reuses its true-count run's fits (not another method's:
        # each method's time stays its own)
        with nmf.reusing_fits():
            done += [_score_unit(excerpt, case, notes, u, limits[u.method], parts) for u in same]
    return done


def _score_unit(excerpt: Excerpt, case, notes, unit: Unit, limit: int, parts: Path) -> dict:
    """One method's part of an excerpt, written (atomically) unless it failed."""
    true_count, counting = _WORKER["methods"]
    part: dict[str, Any] = {
        "key": unit.key,
        "excerpt": excerpt.name,
        "method": unit.method,
        "counted": unit.counted,
        "notes": notes,
    }
    if case is None:
        part["skipped"] = "fewer than two instruments sound in it"
    elif not unit.counted and case.n_sources > limit:
        part["skipped"] = (
            f"{unit.method} gives at most {limit} sources; {case.n_sources} instruments sound in it"
        )
    else:
        method = (counting if unit.counted else true_count)[unit.method]
        try:
            sep = method(case)
        except (ValueError, RuntimeError) as err:  # kept as a row, not lost with the rest
            part["failed"] = f"{type(err).__name__}: {err}"
        else:
            part.update(_rows(excerpt, case, sep, unit))
    if "failed" not in part:  # a failure is tried again by the next run
        atomic_write(parts / f"{unit.key}.json", lambda t: t.write_text(json.dumps(part)))
    return part


def _rows(excerpt: Excerpt, case, sep, unit: Unit) -> dict:
    info = {"track": excerpt.name, "piece": excerpt.piece.name, "method": unit.method}
    seconds = case.mixture.shape[-1] / case.rate
    run = {
        **info,
        "true sources": case.n_sources,
        "sources found": sep.n_sources,
        "seconds": sep.seconds,
        "audio (s)": seconds,
        "× real time": seconds / max(sep.seconds, 1e-9),
    }
    if unit.counted:
        return {"run": run}
    scores = metrics.separation_scores(
        case.references, sep.sources, case.mixture, case.rate, False, None
    )
    return {"run": run, "scores": [{**info, **row} for row in scores]}


def tables(parts: list[dict], order: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The parts as tables, by excerpt (in ``order``) then method (as given to :func:`run`)."""
    rank = {name: i for i, name in enumerate(order)}
    parts = sorted(parts, key=lambda p: (rank[p["excerpt"]], p["order"]))
    scores = [r for p in parts if not p["counted"] for r in p.get("scores", [])]
    runs = [p["run"] for p in parts if "run" in p and not p["counted"]]
    counts = [p["run"] for p in parts if "run" in p and p["counted"]]
    skipped = [
        {
            "track": p["excerpt"],
            "method": p["method"],
            "count": "estimated" if p["counted"] else "true",
            "why": p.get("skipped") or p.get("failed"),
        }
        for p in parts
        if "skipped" in p or "failed" in p
    ]
    columns = {"skipped": ["track", "method", "count", "why"]}
    return {
        name: pd.DataFrame(rows, columns=columns.get(name))
        for name, rows in zip(TABLES, (scores, runs, counts, skipped), strict=True)
    }


def run(
    excerpts: list[Excerpt],
    fmt,
    methods: list[str],
    counting: list[str],
    out: Path,
    factory: Factory,
    args: tuple,
    context: Any,
    limits: dict[str, int],
    jobs: int = 1,
    on_tables: Callable[[dict[str, pd.DataFrame]], None] | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> dict[str, pd.DataFrame]:
    """Score ``methods`` (true count) and ``counting`` (count estimated) on every excerpt,
    reusing the parts under ``out/.parts`` that a run with the same key finished.

    Args:
        excerpts: from :func:`~latentsep.evaluation.multitrack.excerpts`.
        fmt: the format the methods take (rate, channels).
        methods, counting: registered method names.
        out: the folder of the parts (and of the tables ``on_tables`` writes).
        factory, args: build each worker's methods (:data:`Factory`).
        context: what else shapes the results (:func:`unit_key`).
        limits: the most sources each method gives (a piece with more is skipped for it).
        jobs: excerpts scored at once, each in a process of its own (1: in this one).
        on_tables: called with the tables after every excerpt (to write them).
        log: where progress lines go.
    """
    parts_dir = out / PARTS
    parts_dir.mkdir(parents=True, exist_ok=True)
    wanted = [(m, False) for m in methods] + [(m, True) for m in counting]
    position = {w: i for i, w in enumerate(wanted)}
    todo, finished = [], []
    for e in excerpts:
        units = []
        for m, counted in wanted:
            key = unit_key(e, m, counted, context)
            path = parts_dir / f"{key}.json"
            if path.is_file():
                finished.append({**json.loads(path.read_text()), "excerpt": e.name})
            else:
                units.append(Unit(m, counted, key))
        if units:
            todo.append((e, units))
    for p in finished:
        p["order"] = position[(p["method"], p["counted"])]
    order = [e.name for e in excerpts]
    reused = len(finished)
    if reused:
        log(f"{reused} scores of an earlier run reused ({PARTS} in {out})")
    t0, audio_done = time.perf_counter(), 0.0
    total_audio = sum(e.window.frames / e.piece.rate for e, _ in todo)

    def finish(e: Excerpt, parts: list[dict], k: int) -> None:
        nonlocal audio_done
        for p in parts:
            p["order"] = position[(p["method"], p["counted"])]
            if "failed" in p:
                log(f"{e.name}: {p['method']} failed ({p['failed']}); the others go on")
        finished.extend(parts)
        audio_done += e.window.frames / e.piece.rate
        spent = time.perf_counter() - t0
        eta = spent / audio_done * (total_audio - audio_done)
        slow = max(
            (p for p in parts if "run" in p), key=lambda p: p["run"]["seconds"], default=None
        )
        slowest = f", slowest {slow['method']} {slow['run']['seconds']:.1f} s" if slow else ""
        log(f"[{k}/{len(todo)}] {e.name}{slowest}; {spent:.0f} s so far, ETA {_clock(eta)}")
        if on_tables is not None:
            on_tables(tables(finished, order))

    if jobs <= 1 or len(todo) <= 1:
        _start(factory, args, None)
        for k, (e, units) in enumerate(todo, 1):
            finish(e, _score(e, fmt, units, limits, parts_dir), k)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(
            jobs,
            mp_context=get_context("spawn"),
            initializer=_start,
            initargs=(factory, args, threads, os.getpid()),
        ) as pool:
            futures = {
                pool.submit(_score, e, fmt, units, limits, parts_dir): e for e, units in todo
            }
            for k, future in enumerate(as_completed(futures), 1):
                finish(futures[future], future.result(), k)
    result = tables(finished, order)
    if on_tables is not None:
        on_tables(result)
    return result


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
