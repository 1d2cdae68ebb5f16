"""Counting the instruments with a model learned on renders (issue 45), against the eigengap
that ``nmf+pairs`` counts by.

    .venv/bin/python experiments/count_model.py [--pieces N] [--smoke]

``nmf+pairs`` counts the instruments as the eigengap of its first member's affinity (the
pair network × the stereo affinity) says: a rule, not learned. Here the same affinity is
described by what could tell the count — the normalised graph Laplacian's smallest
eigenvalues, how alike its components are on the whole (loudness-weighted), how many
components carry the sound, and how many distinct notes sound together
(``polyphony_count.polyphony``, the 50th, 75th and 90th percentile over the loud frames) —
and a multinomial logistic model learns the count from them on the validation renders
(``_shared.scored_sets``: the train pieces no network here learned from, both training
soundfonts, their parts played as ``pipeline.played_case`` plays them, seeds no network
used; ``--pieces`` keeps each soundfont's first ones). Every feature and the model were
fixed before any real set was scored. Reported: how often each rule counts right (a
count among 2–4, as ``latentsep separate`` counts) and by how many instruments it is off
on average, on the validation renders (the model by five-fold cross-validation), on the
embedded test set and on the real sets under ``data/real/`` (``scripts/real_devset.py``).
``--smoke``: two synthetic pieces teach and are scored (the test suite runs it).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from _shared import NO_REAL_SET, real_sets, report, scored_sets
from polyphony_count import polyphony
from scipy.sparse.csgraph import laplacian
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from latentsep import pipeline
from latentsep.evaluation import scoring
from latentsep.presets import get_preset
from latentsep.separation import clustering, learned, nmf
from latentsep.tuning import TUNING

KS = (2, 3, 4)
#: The graph's eigenvalues past the first (which is 0) that describe it.
EIGENVALUES = 6
FEATURES = (
    *(f"eigenvalue {i}" for i in range(1, EIGENVALUES + 1)),
    "mean alike",
    "components carrying the sound",
    *(f"notes together p{q}" for q in (50, 75, 90)),
)
#: Seeds of the played validation renders: none that a network learned from.
PLAY_SEED = 7000


def described(case: scoring.Case, net, member) -> tuple[dict, int]:
    """The first member's affinity as ``nmf+pairs`` makes it, described by :data:`FEATURES`,
    and the count its eigengap gives."""
    n_fft, k, start = member
    w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
    affinity = learned.pairs_options(case.rate, net)["affinity"](case.mixture, w, h, n_fft)
    values = np.linalg.eigvalsh(laplacian(affinity, normed=True))
    values = np.pad(values, (0, max(0, EIGENVALUES + 1 - len(values))), constant_values=1.0)
    energy = (w.sum(axis=0)[:, None] * h).sum(axis=1)
    share = energy / max(energy.sum(), 1e-12)
    i, j = np.triu_indices(len(share), 1)
    pair_weight = np.sqrt(share[i] * share[j])
    notes = polyphony(w, h, case.rate, n_fft)
    row = dict(zip(FEATURES[:EIGENVALUES], values[1 : EIGENVALUES + 1], strict=True))
    row["mean alike"] = float((affinity[i, j] * pair_weight).sum() / max(pair_weight.sum(), 1e-12))
    row["components carrying the sound"] = float(1.0 / max((share**2).sum(), 1e-12))
    for q in (50, 75, 90):
        row[f"notes together p{q}"] = float(np.percentile(notes, q)) if notes.size else 1.0
    eigengap = clustering.affinity_eigengap_k(affinity, [c for c in KS if c < len(affinity)])
    return row, eigengap


def table(cases: list[scoring.Case], net, member) -> pd.DataFrame:
    rows = []
    for case in cases:
        row, eigengap = described(case, net, member)
        rows.append({**row, "eigengap": eigengap, "true": case.n_sources})
    return pd.DataFrame(rows)


def model():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))


def counted(fitted, rows: pd.DataFrame) -> np.ndarray:
    """The likeliest count among :data:`KS` under ``fitted``'s probabilities."""
    p = fitted.predict_proba(rows[list(FEATURES)].to_numpy())
    classes = list(fitted.classes_)
    allowed = [c for c in classes if min(KS) <= c <= max(KS)]
    return np.array([allowed[int(np.argmax([pi[classes.index(c)] for c in allowed]))] for pi in p])


def right(found, truth) -> float:
    return round(100 * float(np.mean(np.asarray(found) == np.asarray(truth))), 1)


def off(found, truth) -> float:
    """The mean number of instruments a count is off by."""
    return round(float(np.mean(np.abs(np.asarray(found) - np.asarray(truth)))), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pieces", type=int, default=None, help="validation pieces a soundfont")
    parser.add_argument("--smoke", action="store_true", help="two synthetic pieces")
    args = parser.parse_args(argv)
    preset = get_preset("cpu")
    member = TUNING.streams.members[0]
    if args.smoke:  # tiny decompositions; the same pieces teach and are scored
        import real_pairs  # noqa: PLC0415 - beside this script
        from real_streams import smoke_cases  # noqa: PLC0415

        global KS
        KS, member = (1, 2), (256, 4, 1)
        net = real_pairs.smoke_network(smoke_cases(), [member])
        pieces = smoke_cases() * 2
        alone = [next(iter(c.references.values())) for c in pieces]  # each one's first part
        train_cases = pieces + [
            scoring.Case(f"{c.track}-alone", a, {"a": a}, c.rate)
            for c, a in zip(pieces, alone, strict=True)
        ]
        sets = {"smoke": smoke_cases()}
    else:
        net = pipeline.pair_network(preset, progress=False)[0]
        train_cases = [
            pipeline.played_case(case, PLAY_SEED + 1000 * s + i)
            for s, (_, tracks) in enumerate(scored_sets(preset, "validation", args.pieces))
            for i, case in enumerate(scoring.cases(tracks, preset.model))
        ]
        sets = {"embedded test": scoring.cases(pipeline.tracks(preset.data, "test"), preset.model)}
        sets |= real_sets(preset, ["urmp-dev", "urmp-pairs"])
        if len(sets) == 1:
            print(f"note: {NO_REAL_SET}")
    train = table(train_cases, net, member)
    counts = train["true"].value_counts().sort_index()
    print("validation renders by count:", counts.to_dict(), flush=True)
    x, y = train[list(FEATURES)].to_numpy(), train["true"].to_numpy()
    folds = min(5, int(counts.min()))
    result = {"validation renders": {"pieces": len(train)}}
    if folds >= 2:
        cv = cross_val_predict(
            model(), x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0)
        )
        allowed = np.clip(cv, min(KS), max(KS))
        result["validation renders"] |= {
            "eigengap right (%)": right(train["eigengap"], y),
            "count model right (%)": right(allowed, y),
            "eigengap off by": off(train["eigengap"], y),
            "count model off by": off(allowed, y),
        }
    fitted = model().fit(x, y)
    for name, cases in sets.items():
        rows = table(cases, net, member)
        found = counted(fitted, rows)
        result[name] = {
            "pieces": len(rows),
            "eigengap right (%)": right(rows["eigengap"], rows["true"]),
            "count model right (%)": right(found, rows["true"]),
            "eigengap off by": off(rows["eigengap"], rows["true"]),
            "count model off by": off(found, rows["true"]),
            "true": rows["true"].tolist(),
            "eigengap": rows["eigengap"].tolist(),
            "count model": found.tolist(),
        }
    coef, classes = fitted[-1].coef_, fitted[-1].classes_
    result["weights (standardised features)"] = {  # two classes: one row, the second's
        str(c): dict(zip(FEATURES, np.round(w, 2).tolist(), strict=True))
        for c, w in zip(classes[-len(coef) :], coef, strict=True)
    }
    report("count_model" + ("-smoke" if args.smoke else ""), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
