"""Numbers that leave a notebook: recorded in its outputs for papermill batches and for
the results chapter, without showing in the rendered page.

:func:`record` writes the same hidden output as ``myst_nb.glue(name, value, display=False)``
(so Jupyter Book's glue roles can use it), but needs neither myst-nb nor scrapbook, so it
also works in Colab. :func:`recorded` reads the values back from an executed notebook.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

MIME_PREFIX = "application/papermill.record/"


def record(name: str, value: Any) -> None:
    """Record a JSON-able value (number, string, list, dict) under ``name``."""
    from IPython.display import display

    display(
        {MIME_PREFIX + "text/plain": repr(value)},
        metadata={"scrapbook": {"name": name, "mime_prefix": MIME_PREFIX}},
        raw=True,
    )


def recorded(notebook: str | Path) -> dict[str, Any]:
    """Every value recorded in an executed .ipynb, by name (the last one wins)."""
    nb = json.loads(Path(notebook).read_text())
    values = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get(MIME_PREFIX + "text/plain")
            if name and text is not None:
                text = "".join(text) if isinstance(text, list) else text
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[name] = text
    return values


def headline(medians, unsupervised, supervised, study: str = "kmeans") -> tuple[str, str]:
    """The book's headline, from the median SI-SDRi of each method (a Series by name):
    the best method of ``unsupervised`` and one markdown sentence about it against the
    oracle mask, the study's method and the networks (the landing page and chapter 05 say
    it in the same words)."""
    lead = medians[list(unsupervised)].idxmax()
    twin = ", ".join(f"{m} {medians[m]:+.1f} dB" for m in supervised)
    oracle = medians["oracle IRM"]
    text = (
        f"**Separating without stems:** the best method that uses no ground truth, *{lead}*, "
        f"improves SI-SDR by **{medians[lead]:+.1f} dB** (median over test instruments, the "
        f"true count given): {medians[lead] / oracle:.0%} of the oracle mask's "
        f"{oracle:+.1f} dB, against {medians[study]:+.1f} dB for the study's method."
    )
    if "mixit" in medians.index:
        text += (
            f" The learned separator trained without stems (MixIT) reaches "
            f"{medians['mixit']:+.1f} dB; trained with them (its supervised twin): {twin}."
        )
    return lead, text


#: A listening example's every true instrument is at most this far below its loudest one.
AUDIBLE_DB = -20.0


def listening_example(scores, cases, method: str):
    """The case to listen to, chosen by rule rather than by hand: among the tracks whose
    every true instrument is audible (within :data:`AUDIBLE_DB` of the loudest), the one
    whose median SI-SDRi with ``method`` is the median of those tracks — a typical result,
    neither the best nor the worst. Returns the case and one sentence saying so."""
    import numpy as np

    def audible(case) -> bool:
        energy = [float(np.mean(np.square(x, dtype=np.float64))) for x in case.references.values()]
        return min(energy) >= max(energy) * 10 ** (AUDIBLE_DB / 10)

    pool = [c for c in cases if audible(c)] or list(cases)
    per_track = scores[scores["method"] == method].groupby("track")["SI-SDRi (dB)"].median()
    ranked = sorted(pool, key=lambda c: per_track.get(c.track, -np.inf))
    case = ranked[(len(ranked) - 1) // 2]
    why = (
        f"*The example is chosen by rule: of the {len(pool)} test tracks whose every instrument "
        f"is audible (within {-AUDIBLE_DB:g} dB of the loudest), the one where {method} scores "
        f"the median of those tracks ({per_track.get(case.track, float('nan')):+.1f} dB).*"
    )
    return case, why


#: The seconds a page plays of a listening example (:func:`~latentsep.book.plots.listen`).
LISTEN_SECONDS = 6.0


def audible_window(references, rate: int, seconds: float = LISTEN_SECONDS) -> slice:
    """The ``seconds`` of a case in which its quietest instrument is loudest against its
    loudest one (whole seconds apart): the window a page plays, so that every true
    instrument it shows sounds there, not only somewhere in the track."""
    import numpy as np

    parts = np.stack([np.mean(np.square(x, dtype=np.float64), axis=0) for x in references])
    n, length = int(seconds * rate), parts.shape[1]
    if length <= n:
        return slice(0, length)
    starts = np.arange(0, length - n + 1, rate)
    cums = np.concatenate([np.zeros((len(parts), 1)), np.cumsum(parts, axis=1)], axis=1)
    energy = cums[:, starts + n] - cums[:, starts]  # (instruments, windows)
    balance = energy.min(axis=0) / np.maximum(energy.max(axis=0), 1e-30)
    start = int(starts[int(np.argmax(balance))])
    return slice(start, start + n)


def best_on_unseen_timbres(preset, methods, seed: int = 0):
    """``(method, median SI-SDRi)`` of the best method without stems on the test pieces
    played by the unseen soundfont, or None when that soundfont is not installed."""
    from latentsep import pipeline
    from latentsep.data import synth
    from latentsep.evaluation import scoring

    if not synth.soundfont_available(pipeline.UNSEEN_SOUNDFONT):
        return None
    test = pipeline.evaluate_test_set(
        preset,
        list(methods),
        nmf_ceiling=True,
        seed=seed,
        progress=False,
        soundfont=pipeline.UNSEEN_SOUNDFONT,
    )
    med = scoring.median_by_method(test.scores)
    blind = [m for m in methods if m in scoring.WITHOUT_STEMS]
    lead = med[blind].idxmax()
    return lead, float(med[lead])


#: The committed benchmark results a page falls back on when the real set is not laid out.
BENCH_RESULTS = "benchmarks/results/separation-{preset}.json"


def real_recordings(preset, methods, seed: int = 0):
    """``(summary, where)``: each of ``methods`` on the real development set — median
    SI-SDRi, by number of instruments, how often it counts right — scored here when the set
    is laid out (``scripts/real_devset.py``), else as ``make bench`` last measured it
    (:data:`BENCH_RESULTS`, committed); None when neither has it."""
    import pandas as pd

    from latentsep import pipeline
    from latentsep.evaluation import multitrack
    from latentsep.paths import repo_root

    folder = pipeline.real_dev_set()
    if folder.is_dir():
        pieces = multitrack.read_folder(folder)
        names = [m for m in methods if not pipeline.evaluation_problem(preset, m)]
        tables = pipeline.evaluate_real(
            preset,
            multitrack.excerpts(pieces),
            names,
            pipeline.real_scores_dir(folder),
            seed=seed,
            jobs=2,
            log=lambda line: None,
        )
        return tables["summary"], f"measured here on {len(pieces)} excerpts"
    path = (repo_root() or Path(".")) / BENCH_RESULTS.format(preset=preset.name)
    real = json.loads(path.read_text()).get("real recordings") if path.is_file() else None
    if not real:
        return None
    summary = pd.DataFrame(
        {k: real[k] for k in ("median SI-SDRi (dB)", "count right (%)") if k in real}
    ).reindex([m for m in methods if m in real["median SI-SDRi (dB)"]])
    return summary, (
        f"{real['pieces']} excerpts, as `make bench` measured them (the set is not laid out "
        "here: `scripts/real_devset.py`)"
    )
