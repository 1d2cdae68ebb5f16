"""A learned affinity between NMF components (issue 45): which two components are one
instrument, learned from rendered pieces, against nmf+streams' hand-made product of cues.

    .venv/bin/python experiments/learned_affinity.py [--pieces N] [--soundfonts N]
        [--hidden N] [--sets urmp-dev ...] [--as-rendered] [--twins] [--place] [--smoke]

The first ``--pieces`` rendered train pieces of the embedded dataset (default: all 130) in
the first ``--soundfonts`` training soundfonts (default: both), their parts *played* as
``pipeline.played_case`` plays them (vibrato, detuning, volume curves, a microphone's
colour, a room; ``--as-rendered``: also without), are decomposed as ``nmf+pairs``' network
learns from them (``pipeline.PAIR_MEMBERS``); each component goes to the part it
correlates with most, and every pair is described by ``learned.PAIR_FEATURES``, cues that
name no instrument. Three models learn from those pairs whether two are one instrument:
logistic regression, boosted trees and the pair network (``models.pairnet``, as
``nmf+pairs`` ships it at the defaults; ``--hidden`` its width). Each one's probability is
then the affinity that nmf+streams' six members are grouped by on every real set under
``data/real/`` (``scripts/real_devset.py``; the true count given). Reported per set: each
affinity's ROC AUC for "one instrument" over the components' pairs (weighted by loudness),
and each cue's alone; where a piece has two players of one instrument, each cue's and
affinity's AUC for "one player" among their components' pairs; SI-SDRi over (excerpt,
instrument) pairs as ``real_streams.py`` scores it; and how often the count is right when
each affinity chooses it as ``nmf+pairs`` does (the first member's eigengap). ``--twins``:
the played pieces are joined by the same pieces rendered again in the first soundfont with
one part played on another part's instrument (two players of one instrument, as two
violins are; ``twin_pairs``). ``--place``: the models also learn from the gap of two components'
places in the chords they sound in (``learned.PAIR_CUES``' tenth cue, which ``nmf+pairs``
does not use). ``--smoke`` runs on two synthetic pieces (the test suite does).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import pandas as pd
import real_streams
from _shared import kinds_of, real_sets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from latentsep import pipeline
from latentsep.data import musdb, render
from latentsep.evaluation import scoring
from latentsep.models import pairnet
from latentsep.paths import atomic_write, code_digest, data_dir, param_key
from latentsep.presets import get_preset
from latentsep.separation import clustering, learned, nmf
from latentsep.tuning import TUNING

MEMBERS = TUNING.streams.members  # the real sets are grouped as nmf+streams decomposes them
TRAIN_MEMBERS = pipeline.PAIR_MEMBERS
CUES = learned.PAIR_FEATURES  # with --place, also the chord place gap


def labelled(cases: list[scoring.Case], members) -> pd.DataFrame:
    """Every pair of components of every case's ``members``: features, one instrument or
    not, weight."""
    rows = []
    for case in cases:
        refs = list(case.references.values())
        for n_fft, k, start in members:
            w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
            labels = nmf.component_labels(case.mixture, w, h, refs, n_fft)
            x, same, weight = learned.labelled_pairs(w, h, case.rate, n_fft, labels, CUES)
            table = pd.DataFrame(x, columns=CUES)
            table["same"], table["weight"] = same, weight
            rows.append(table)
    return pd.concat(rows, ignore_index=True)


STUDY = data_dir() / "experiments" / "learned_affinity"


def cached_pairs(name: str, make) -> pd.DataFrame:
    """Pairs ``make() -> (x, same, weight)``, stored exactly under ``name`` once made."""
    path = STUDY / f"{name}.npz"
    if not path.is_file():
        x, same, weight = make()

        def write(tmp):
            with open(tmp, "wb") as f:  # a handle: np.savez would add ".npz" to the name
                np.savez(f, x=x, same=same, weight=weight)

        atomic_write(path, write)
    with np.load(path) as z:
        table = pd.DataFrame(z["x"], columns=CUES)
        table["same"], table["weight"] = z["same"], z["weight"]
    return table


def training_pairs(preset, pieces: int, soundfonts: int, play: bool) -> pd.DataFrame:
    """The train pieces' pairs (played or as rendered), as ``nmf+pairs``' network learns
    from them (``pipeline.pair_examples``) in the first ``soundfonts`` training soundfonts,
    cached (exactly: at the defaults the network learned here is the shipped one) by the
    pieces and the code."""
    chosen = preset.stemnet.soundfonts[:soundfonts]
    key = param_key([pieces, chosen, play, TRAIN_MEMBERS, CUES, code_digest()])
    return cached_pairs(
        f"train-{key}", lambda: pipeline.pair_examples(preset, pieces, chosen, play, True, CUES)
    )


def twin(spec: render.TrackSpec, rng: np.random.Generator) -> render.TrackSpec:
    """``spec`` with one of its "other" parts played on another one's instrument (its notes
    and register unchanged): two players of one instrument, labelled apart."""
    a, b = rng.choice(_others(spec), 2, replace=False)
    stems = list(spec.stems)
    stems[b] = dataclasses.replace(
        stems[b], instrument_class=stems[a].instrument_class, program=stems[a].program
    )
    return dataclasses.replace(spec, stems=tuple(stems))


def twin_pairs(preset, pieces: int) -> pd.DataFrame:
    """The first ``pieces`` train pieces rendered again (``render.build``) in the first
    training soundfont with two parts on one instrument (:func:`twin`), played, their
    pairs labelled by part; the renders and the pairs cached by the pieces and the code."""
    soundfont = preset.stemnet.soundfonts[0]
    key = param_key([pieces, soundfont, "twins", TRAIN_MEMBERS, CUES, code_digest()])

    def plan_of(cfg) -> render.Plan:
        rng = np.random.default_rng(0)
        train = [(s, p) for s, p in pipeline.track_plan(cfg) if s.subset == "train"][:pieces]
        return [(twin(s, rng), p) for s, p in train if len(_others(s)) >= 2]

    def make():
        root = render.build(
            preset.data, STUDY / f"twins-{key}", key, soundfont=soundfont,
            subsets=("train",), plan_of=plan_of,
        )  # fmt: skip
        cases = scoring.cases(musdb.load_tracks(root, "train"), preset.model)
        rows = [  # seeds no played render of pair_examples uses
            labelled([pipeline.played_case(case, 5000 + i)], TRAIN_MEMBERS)
            for i, case in enumerate(cases)
        ]
        table = pd.concat(rows, ignore_index=True)
        x = table[list(CUES)].to_numpy(np.float32)
        return x, table["same"].to_numpy(np.float32), table["weight"].to_numpy()

    return cached_pairs(f"twins-{key}", make)


def _others(spec: render.TrackSpec) -> list[int]:
    """Where ``spec``'s "other" parts are among its stems."""
    return [i for i, stem in enumerate(spec.stems) if stem.name.startswith("other_")]


def models(train: pd.DataFrame, hidden: int = pairnet.PairNetConfig.hidden) -> dict:
    """Each model fitted on the pairs: ``(features (n, n, F)) -> affinity (n, n)``."""
    x = train[list(CUES)].to_numpy(np.float32)
    y, weight = train["same"].to_numpy(), train["weight"].to_numpy()
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    logistic.fit(x, y, logisticregression__sample_weight=weight)
    trees = HistGradientBoostingClassifier(
        max_depth=4, max_iter=200, learning_rate=0.05, random_state=0
    ).fit(x, y, sample_weight=weight)
    cfg = pairnet.PairNetConfig(hidden=hidden)
    net, _ = pairnet.train(cfg, CUES, x, y, weight)

    def of(model):
        def affinity(f: np.ndarray) -> np.ndarray:
            n = len(f)
            p = model.predict_proba(f.reshape(n * n, -1))[:, 1].reshape(n, n)
            p = 0.5 * (p + p.T)
            np.fill_diagonal(p, 1.0)
            return p

        return affinity

    return {"logistic": of(logistic), "boosted trees": of(trees), "pair network": net.affinity}


def hand_made(w, h, rate: int, n_fft: int) -> np.ndarray:
    return nmf.stream_affinity(w, h, rate, TUNING.streams.timbre_span, n_fft)


def separate(case: scoring.Case, affinity) -> list[np.ndarray]:
    """nmf+streams' members grouped by ``affinity(w, h, rate, n_fft)``, hedged, averaged."""
    heard = []
    for n_fft, k, start in MEMBERS:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
        a = affinity(w, h, case.rate, n_fft)
        labels = clustering.spectral_groups(a, case.n_sources, seed=0)
        weights = nmf.hedged(a, labels, TUNING.streams.hedge_share)
        grouping = nmf.Grouping(w, weights, n_fft, TUNING.streams.power)
        heard.append(grouping.sources(case.mixture, h))
    return real_streams.matched_mean(heard)


def count_right(cases: list[scoring.Case], affinity, ks=(2, 3, 4)) -> float:
    """How often (%) ``affinity`` counts the instruments right as ``nmf+pairs`` counts them:
    the eigengap of the first member's affinity, among ``ks``."""
    n_fft, k, start = MEMBERS[0]
    right = []
    for case in cases:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
        a = affinity(w, h, case.rate, n_fft)
        found = clustering.affinity_eigengap_k(a, [c for c in ks if c < len(a)])
        right.append(found == len(case.references))
    return 100 * float(np.mean(right))


def aucs(cases: list[scoring.Case], affinities: dict) -> tuple[dict, dict, dict]:
    """Each affinity's ROC AUC for "one instrument" over the cases' pairs (weighted); each
    cue's alone (0.5: it tells nothing; below 0.5: its smaller values say one instrument);
    and over the pairs of two players of one instrument only (both components on parts of
    one kind, as two violins; pairs within either part against pairs across them), each
    cue's and affinity's — below 0.5: the cue's smaller values say one player."""
    scores = {name: [] for name in affinities}
    cues, truth, weights, twins = [], [], [], []
    for case in cases:
        refs = list(case.references.values())
        kinds = np.array(kinds_of(case))
        doubled = np.array([np.sum(kinds == k) > 1 for k in kinds])
        for n_fft, k, start in MEMBERS:
            w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
            labels = nmf.component_labels(case.mixture, w, h, refs, n_fft)
            i, j = np.triu_indices(len(labels), 1)
            truth.append(labels[i] == labels[j])
            x, _, weight = learned.labelled_pairs(w, h, case.rate, n_fft, labels, CUES)
            cues.append(x)
            weights.append(weight)
            twins.append(doubled[labels[i]] & (kinds[labels[i]] == kinds[labels[j]]))
            for name, fn in affinities.items():
                scores[name].append(fn(w, h, case.rate, n_fft)[i, j])
    y, wt, tw = np.concatenate(truth), np.concatenate(weights), np.concatenate(twins)
    every = {n: roc_auc_score(y, np.concatenate(s), sample_weight=wt) for n, s in scores.items()}
    columns = dict(zip(CUES, np.concatenate(cues).T, strict=True))
    alone = {n: roc_auc_score(y, c, sample_weight=wt) for n, c in columns.items()}
    if len(set(y[tw])) < 2:  # no set with two players of one instrument
        return every, alone, {}
    columns |= {n: np.concatenate(s) for n, s in scores.items()}
    apart = {n: roc_auc_score(y[tw], c[tw], sample_weight=wt[tw]) for n, c in columns.items()}
    return every, alone, apart


def main(argv: list[str] | None = None) -> int:
    global MEMBERS, TRAIN_MEMBERS, CUES
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pieces", type=int, default=pipeline.PAIR_PIECES)
    parser.add_argument("--sets", nargs="*", default=["urmp-dev", "urmp-pairs"])
    parser.add_argument(
        "--soundfonts", type=int, default=2, help="learn from the first N training soundfonts"
    )
    parser.add_argument("--hidden", type=int, default=pairnet.PairNetConfig.hidden)
    parser.add_argument("--as-rendered", action="store_true", help="also learn unplayed")
    parser.add_argument(
        "--twins", action="store_true", help="also learn from two parts on one instrument"
    )
    parser.add_argument("--place", action="store_true", help="also the cue of the chord place gap")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="two synthetic pieces")
    args = parser.parse_args(argv)
    if args.place:
        CUES = (*learned.PAIR_FEATURES, "chord place gap")
    if args.smoke:  # tiny decompositions; the same pieces teach and are scored
        MEMBERS = TRAIN_MEMBERS = ((256, 4, 1), (512, 4, 1))
        sets = {"smoke": real_streams.smoke_cases()}
    else:
        preset = get_preset(args.preset)
        sets = real_sets(preset, args.sets)
    fitted = {}
    for play in (True, False) if args.as_rendered else (True,):
        if args.smoke:
            train = labelled(sets["smoke"], TRAIN_MEMBERS)
        else:
            train = training_pairs(preset, args.pieces, args.soundfonts, play)
            if args.twins and play:
                train = pd.concat([train, twin_pairs(preset, args.pieces)], ignore_index=True)
        for name, affinity in models(train, args.hidden).items():
            fitted[f"{name}, {'played' if play else 'as rendered'}"] = affinity
    with nmf.reusing_fits():
        for set_name, cases in sets.items():
            affinities = {"nmf+streams (hand-made)": hand_made} | {
                name: lambda w, h, rate, n_fft, fn=fn: fn(
                    learned.pair_features(w, h, rate, n_fft, CUES)
                )
                for name, fn in fitted.items()
            }
            every, alone, apart = aucs(cases, affinities)
            auc = {k: round(v, 3) for k, v in every.items()}
            print(f"{set_name}: ROC AUC for one instrument, weighted pairs: {auc}")
            auc = {k: round(v, 3) for k, v in alone.items()}
            print(f"{set_name}: each cue's alone (below 0.5: smaller says one instrument): {auc}")
            if apart:
                auc = {k: round(v, 3) for k, v in apart.items()}
                print(f"{set_name}: ROC AUC for one player, two of one instrument: {auc}")
            counts = {k: round(count_right(cases, fn), 1) for k, fn in affinities.items()}
            print(f"{set_name}: count right (%), as nmf+pairs counts: {counts}")
            tables = [
                real_streams.cached_scores(
                    "learned_affinity",
                    f"{set_name}: {name}",
                    [name, args.pieces, args.soundfonts, args.hidden, args.smoke]
                    + (["twins"] if args.twins else [])
                    + (["place"] if args.place else []),
                    cases,
                    lambda case, fn=fn: separate(case, fn),
                )
                for name, fn in affinities.items()
            ]
            print(f"SI-SDRi (dB), {set_name}, {len(cases)} excerpts, true count:")
            print(real_streams.summary(pd.concat(tables)).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
