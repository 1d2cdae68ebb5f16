"""nmf+streams' settings on the real development set (issue 45): which of its choices, made
on soundfont renders, carry over to real instruments.

    .venv/bin/python experiments/real_streams.py [--only NAME ...] [--smoke]

Each variant changes one setting of ``latentsep.separation.methods.streams_options`` and is
scored on every excerpt of ``data/real/urmp-dev`` (``scripts/real_devset.py``), the true
count given: median SI-SDRi over (excerpt, instrument) pairs. A variant's table is cached
under ``data/experiments/`` keyed by the variant, the excerpts and the package's code.
``--smoke`` runs three variants on two synthetic pieces (the test suite does).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd

from latentsep import pipeline
from latentsep.evaluation import metrics, multitrack, scoring
from latentsep.paths import atomic_write, code_digest, data_dir, param_key
from latentsep.presets import get_preset
from latentsep.separation import clustering, methods, nmf
from latentsep.tuning import TUNING

SIZES = sorted({m[0] for m in TUNING.streams.members})


def members(sizes=SIZES, ranks=(nmf.N_COMPONENTS,), seeds=(1, 2, 3)) -> list[tuple]:
    return [(n, k, s) for n in sizes for k in ranks for s in seeds]


#: name -> the settings it changes (none: nmf+streams as registered).
VARIANTS: dict[str, dict] = {
    "as registered": {},
    "32 components": {"members": members(ranks=(32,))},
    "40 components": {"members": members(ranks=(40,))},
    "16 components": {"members": members(ranks=(16,))},
    "4096 and 8192 points": {"members": members(sizes=(4096, 8192))},
    "masks of power 1": {"power": 1.0},
    "masks of power 2": {"power": 2.0},
    "no hedge": {"hedge": 0.0},
    "hedge 0.7": {"hedge": 0.7},
    "timbre within 3 semitones": {"affinity": "span 3"},
    "timbre within 12 semitones": {"affinity": "span 12"},
    "× register (12 semitones)": {"affinity": "register 12"},
    "cannot-link squared": {"affinity": "cannot-link 2"},
}


def affinity(variant: str, rate: int):
    """``nmf+streams``' affinity with one change (``"span S"``: timbre compared within S
    semitones; ``"register S"``: times a Gaussian of the fundamentals' gap, S semitones
    wide; ``"cannot-link P"``: the overlap's factor to the power P), as its options take it."""
    what, value = variant.split()
    value = float(value)

    def links(mixture, w, h, n_fft):
        span = value if what == "span" else TUNING.streams.timbre_span
        f0 = np.log2(nmf.fundamentals(w, rate, n_fft))
        timbre = nmf.pitch_local(
            clustering.gaussian_affinity(nmf.harmonic_timbre(w, rate, n_fft)), f0, span
        )
        apart = (1 - nmf.overlap(h)) ** (value if what == "cannot-link" else 1.0)
        out = timbre * apart * (1 + nmf.succession(h, f0))
        if what == "register":
            gap = 12 * (f0[:, None] - f0[None, :])
            out = out * np.exp(-0.5 * (gap / value) ** 2)
        return out * nmf.pan_affinity(nmf.channel_angles(mixture, w, h, n_fft=n_fft))

    return links


def cases(preset) -> list[scoring.Case]:
    pieces = multitrack.read_folder(pipeline.real_dev_set())
    return multitrack.cases(pieces, preset.model)


def score(name: str, changes: dict, cases_: list[scoring.Case]) -> pd.DataFrame:
    """One variant's scores (see :func:`cached_scores`)."""

    def separate(case: scoring.Case) -> list[np.ndarray]:
        named = (
            {"affinity": affinity(changes["affinity"], case.rate)} if "affinity" in changes else {}
        )
        options = methods.streams_options(case.rate, **{**changes, **named})
        return nmf.separate(case.mixture, case.n_sources, seed=0, **options)[0]

    return cached_scores("real_streams", name, changes, cases_, separate)


def cached_scores(
    study: str, name: str, settings, cases_: list[scoring.Case], separate
) -> pd.DataFrame:
    """A variant's scores, ``separate(case) -> sources`` on every case, cached under
    ``data/experiments/<study>/`` by the variant, its settings, the excerpts and the code."""
    key = param_key(
        [name, json.dumps(settings, default=str), [c.track for c in cases_], code_digest()]
    )
    path = data_dir() / "experiments" / study / f"{key}.csv"
    if path.is_file():
        return pd.read_csv(path)
    rows = [
        {"variant": name, "track": case.track, **row}
        for case in cases_
        for row in metrics.separation_scores(
            case.references, separate(case), case.mixture, case.rate, False, None
        )
    ]
    table = pd.DataFrame(rows)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table


def matched_mean(heard: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Members' sources put in the first member's order (:func:`nmf.in_first_order`; one
    with another count left out) and averaged."""
    kept = [
        [sources[i] for i in order]
        for sources, order in zip(heard, nmf.in_first_order(heard), strict=True)
        if order is not None
    ]
    return [np.mean(each, axis=0).astype(np.float32) for each in zip(*kept, strict=True)]


def run_study(argv, doc: str, variants: dict, score_of, smoke_names: list[str], smoke) -> int:
    """A real-set study's command line: ``score_of(name, cases) -> table`` for each variant
    asked for (``--only``), the decompositions shared among them, and :func:`summary`
    printed; ``--smoke`` scores ``smoke_names`` on synthetic pieces after ``smoke(names)``
    makes the study's settings tiny."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="these variants only")
    parser.add_argument("--smoke", action="store_true", help="two variants, synthetic pieces")
    parser.add_argument("--preset", default="cpu")
    args = parser.parse_args(argv)
    if args.smoke:
        cases_, names = smoke_cases(), smoke_names
        smoke(names)
    else:
        if not pipeline.real_dev_set().is_dir():
            print(f"{pipeline.real_dev_set()}: lay it out with scripts/real_devset.py")
            return 2
        cases_, names = cases(get_preset(args.preset)), args.only or list(variants)
    with nmf.reusing_fits():  # variants that decompose alike share the decompositions
        tables = [score_of(n, cases_) for n in names]
    print(f"SI-SDRi (dB) over (excerpt, instrument) pairs, {len(cases_)} excerpts, true count:")
    print(summary(pd.concat(tables)).round(2).to_string())
    return 0


def smoke_cases() -> list[scoring.Case]:
    rate, rng = 8000, np.random.default_rng(0)
    t = np.arange(2 * rate) / rate
    out = []
    for k in range(2):
        a = np.sin(2 * np.pi * (220 + 20 * k) * t) * (t < 1.2)
        b = np.sign(np.sin(2 * np.pi * 330 * t)) * 0.3 * (t > 0.8)
        refs = {"a": a[None].astype(np.float32), "b": b[None].astype(np.float32)}
        mix = (sum(refs.values()) + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)
        out.append(scoring.Case(f"smoke{k}", mix, refs, rate))
    return out


def main(argv: list[str] | None = None) -> int:
    def smoke(names: list[str]) -> None:  # tiny pieces: one short decomposition each
        VARIANTS.update({n: {**VARIANTS[n], "members": [(256, 4, 1)]} for n in names})

    return run_study(
        argv,
        __doc__,
        VARIANTS,
        lambda name, cases_: score(name, VARIANTS[name], cases_),
        ["as registered", "masks of power 1", "× register (12 semitones)"],
        smoke,
    )


def by_variant(scores: pd.DataFrame) -> pd.DataFrame:
    """SI-SDRi by (excerpt, instrument) pair, a column per variant in the order they came."""
    wide = scores.pivot_table(index=["track", "source"], columns="variant", values="SI-SDRi (dB)")
    return wide[list(dict.fromkeys(scores["variant"]))]


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per variant: the median and mean SI-SDRi, and against the first variant the mean
    paired difference and the share of pairs it does better on (a median over a few
    dozen pairs moves by a dB when one piece changes: the paired figures say more)."""
    wide = by_variant(scores)
    gain = wide.sub(wide.iloc[:, 0], axis=0)
    return pd.DataFrame(
        {
            "median": wide.median(),
            "mean": wide.mean(),
            "mean gain": gain.mean(),
            "better on (%)": 100 * (gain > 0).mean(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
