"""Counting instruments on real recordings by the agreement of nmf+streams' ensemble
(issue 45): does the number of groups on which the six decompositions agree tell how many
instruments play, where the affinity's eigengap does not?

    .venv/bin/python experiments/real_counting.py [--sets urmp-dev urmp-pairs] [--smoke]

For every excerpt of each real set under ``data/real/`` (``scripts/real_devset.py``) and
every count k of 2–5, ``nmf+streams``' members are grouped into k sources and matched to
the first member's (``nmf.groupings``); their *agreement* is the mean cosine similarity of
each member's sources' spectrograms to the first member's. Rules compared, right (%) per
set: the eigengap (the method's own count, here among 2–5), the k of highest agreement,
and the largest k whose agreement is within a drop ``d`` of the agreement at 2. Each set's
profile is cached under ``data/experiments/real_counting/``, keyed by its excerpts and the
code. ``--smoke`` runs on two synthetic pieces (the test suite does).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd
from real_streams import smoke_cases

from latentsep.evaluation import multitrack, scoring
from latentsep.paths import atomic_write, code_digest, data_dir, param_key
from latentsep.presets import get_preset
from latentsep.separation import blocks, methods, nmf

KS = (2, 3, 4, 5)
DROPS = (0.02, 0.05, 0.1, 0.15, 0.2)


def profile(case: scoring.Case, options: dict) -> dict:
    """The eigengap's count and the members' agreement at every k of :data:`KS`."""
    row = {"track": case.track, "true": case.n_sources}
    with nmf.reusing_fits():  # one set of decompositions for every k
        row["eigengap"] = len(nmf.separate(case.mixture, None, seed=0, ks=KS, **options)[0])
        for k in KS:
            _, heard = nmf.groupings(case.mixture, k, seed=0, ks=KS, **options)
            alike = [np.diag(blocks.similarity(heard[0], other)).mean() for other in heard[1:]]
            row[f"agreement {k}"] = float(np.mean(alike)) if alike else float("nan")
    return row


def profiles(name: str, cases: list[scoring.Case], options: dict) -> pd.DataFrame:
    key = param_key(
        [name, [c.track for c in cases], json.dumps(options, default=str), code_digest()]
    )
    path = data_dir() / "experiments" / "real_counting" / f"{key}.csv"
    if path.is_file():
        return pd.read_csv(path)
    table = pd.DataFrame([profile(c, options) for c in cases])
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table


def counts(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each rule's count for every excerpt."""
    agree = table[[f"agreement {k}" for k in KS]].to_numpy()
    out = {"eigengap (the method's)": table["eigengap"].to_numpy()}
    out["highest agreement"] = np.array(KS)[np.nanargmax(agree, axis=1)]
    for d in DROPS:
        within = agree >= agree[:, :1] - d
        out[f"largest k within {d} of k=2"] = np.array(
            [max(k for k, ok in zip(KS, row, strict=True) if ok) for row in within]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=["urmp-dev", "urmp-pairs"])
    parser.add_argument("--smoke", action="store_true", help="two synthetic pieces")
    args = parser.parse_args(argv)
    fmt = get_preset("cpu").model
    sets: dict[str, tuple[list[scoring.Case], dict]] = {}
    if args.smoke:
        options = methods.streams_options(8000, members=[(256, 8, 1), (256, 8, 2)])
        sets["smoke"] = (smoke_cases(), options)
    for name in [] if args.smoke else args.sets:
        folder = data_dir() / "real" / name
        if not folder.is_dir():
            print(f"{folder}: lay it out with scripts/real_devset.py (skipped)")
            continue
        cases = multitrack.cases(multitrack.read_folder(folder), fmt)
        sets[name] = (cases, methods.streams_options(cases[0].rate))
    if not sets:
        return 2
    rows = {}
    for name, (cases, options) in sets.items():
        table = profiles(name, cases, options)
        print(f"{name}: true counts {table['true'].tolist()}")
        print(table.round(3).to_string(index=False))
        for rule, got in counts(table).items():
            rows.setdefault(rule, {})[name] = 100 * float(np.mean(got == table["true"]))
    print("right (%) by rule and set:")
    print(pd.DataFrame(rows).T.round(1).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
