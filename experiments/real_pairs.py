"""``nmf+pairs`` on real recordings, one thing changed at a time (issue 45): its ensemble, its
grouping, and its sources adapted to the recording.

    .venv/bin/python experiments/real_pairs.py [--sets urmp-dev urmp-pairs] [--only NAME ...]
        [--parts]
    .venv/bin/python experiments/real_pairs.py --smoke

Scored with the true count on the real sets that ``scripts/real_devset.py`` lays out, with
the shipped pair network (cpu preset); each set's mean gains are also given for the parts of
two players of one instrument and for the others (``--parts``: every part's score). The
variants:

- **the ensemble**: more random starts of the same decompositions, or members of 24 and 32
  components (a decomposition's errors differ with its size as with its start); the share
  of each component hedged among the groups and the masks' power, which were chosen for
  ``nmf+streams``' hand-made affinity, not for the network's probabilities;
- **the grouping**: *correlation clustering* — from spectral clustering's groups, components
  moved one at a time while that raises the sum, within groups, of the network's log-odds
  that two are one instrument: a pair the network finds unlikely pushes apart, where spectral
  clustering's affinity can only fail to pull together; *average linkage* — agglomerative
  clustering of 1 − the affinity in place of spectral clustering (groups merged while their
  components are most alike on average); *voices* — one group fewer than the count (two
  players of one instrument are heard as one), and the group whose frames most often hold
  notes a semitone or more apart split into two voices by pitch (:func:`voices`), always or
  only where two of the shipped groups are as alike as one group's own components; the
  affinity times a Gaussian of the gap of two components' places in the chords they sound
  in (:func:`placed`: one player keeps one voice), between every pair or only between
  components alike in timbre;
- **its network's training music**: learned from the first 600 train pieces of each training
  soundfont (the stem network's renders) rather than 130;
- **adapting to the recording** (the issue's item 3): each source ``nmf+pairs`` hears is
  described by its own KL-NMF (``r`` templates), the mixture is fitted again with all of them
  (the activations only, or the templates too, from those starts) and shared by their masks,
  so the sources' models come from this recording rather than from the grouping.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import learned_affinity
import numpy as np
import pandas as pd
import real_streams
from _shared import NO_REAL_SET, kinds_of, real_sets

from latentsep import pipeline
from latentsep.evaluation import scoring
from latentsep.models import pairnet
from latentsep.presets import get_preset
from latentsep.separation import clustering, learned, masks, nmf
from latentsep.tuning import TUNING

SHIPPED = TUNING.streams.members
EPS = 1e-10


def starts(ranks: tuple[int, ...], seeds: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Members of both STFT sizes, every rank with every random start."""
    return [(n, k, s) for n in sorted({m[0] for m in SHIPPED}) for k in ranks for s in seeds]


#: name -> what it changes: ``members``, ``hedge`` or ``power`` (``nmf+streams``' share hedged
#: and masks' power, chosen with its hand-made affinity), ``group`` ("correlation"),
#: ``refit`` (its options) or ``pieces`` (the train pieces a soundfont its network learns from).
VARIANTS: dict[str, dict] = {
    "as shipped (24 components, 3 starts, 2 sizes)": {},
    "6 starts": {"members": starts((24,), (1, 2, 3, 4, 5, 6))},
    "24 and 32 components, 2 starts": {"members": starts((24, 32), (1, 2))},
    "24 and 32 components, 3 starts": {"members": starts((24, 32), (1, 2, 3))},
    "24, 32, 32 components (six members)": {
        "members": [(n, k, s) for n, _, _ in SHIPPED[::3] for k, s in ((24, 1), (32, 1), (32, 2))]
    },
    "hedge 0.3 (0.5 shipped)": {"hedge": 0.3},
    "hedge 0.7": {"hedge": 0.7},
    "masks of power 2 (1.5 shipped)": {"power": 2.0},
    "correlation clustering": {"group": "correlation"},
    "average linkage": {"group": "average"},
    "one group fewer, the most polyphonic split into two voices by pitch": {"group": "voices"},
    "two voices only where two groups are as alike as a group's own components": {
        "group": "voices",
        "only_alike": True,
    },
    "the affinity × a Gaussian of the chord place gap, 0.5 wide": {"place": 0.5},
    "the same, only between components alike in timbre": {"place": 0.5, "alike": True},
    "the pair network learned from 600 train pieces, not 130": {"pieces": 600},
    "refitted: activations, 8 templates a source": {"refit": {"r": 8, "templates": False}},
    "refitted: templates and activations, 8 a source": {"refit": {"r": 8, "templates": True}},
    "refitted: templates and activations, 16 a source": {"refit": {"r": 16, "templates": True}},
}


def correlation_groups(p: np.ndarray, labels: np.ndarray, rounds: int = 50) -> np.ndarray:
    """``labels`` improved by single moves that raise the within-group sum of log-odds of
    the probabilities ``p``; no group is emptied."""
    q = np.clip(p, 1e-4, 1 - 1e-4)
    odds = np.log(q / (1 - q))
    np.fill_diagonal(odds, 0.0)
    labels, k = labels.copy(), int(labels.max()) + 1
    for _ in range(rounds):
        moved = False
        for i in range(len(labels)):
            if (labels == labels[i]).sum() == 1:
                continue
            gain = np.array([odds[i, labels == g].sum() for g in range(k)])
            best = int(np.argmax(gain))
            if gain[best] > gain[labels[i]] + 1e-9:
                labels[i], moved = best, True
        if not moved:
            break
    return labels


def average_linkage(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """As many groups as ``labels`` has, by agglomerative clustering with average linkage
    of the distances 1 − ``p`` (each merge joins the two groups whose components are the
    most alike on average), in place of spectral clustering's."""
    from sklearn.cluster import AgglomerativeClustering

    k = int(labels.max()) + 1
    return AgglomerativeClustering(k, metric="precomputed", linkage="average").fit_predict(1 - p)


def regrouped(case: scoring.Case, net, members, regroup) -> list[np.ndarray]:
    """``nmf+pairs``' members, each grouped by spectral clustering then ``regroup(affinity,
    labels)``, hedged and averaged as ``nmf+pairs`` does."""
    options = learned.pairs_options(case.rate, net)
    heard = []
    for n_fft, k, start in members:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, options["fit"])
        a = options["affinity"](case.mixture, w, h, n_fft)
        labels = regroup(a, clustering.spectral_groups(a, case.n_sources, seed=0))
        weights = nmf.hedged(a, labels, options["hedge"])
        heard.append(nmf.Grouping(w, weights, n_fft, options["power"]).sources(case.mixture, h))
    return real_streams.matched_mean(heard)


def upper_shares(e: np.ndarray, semis: np.ndarray) -> np.ndarray:
    """Each component's share, frame by frame ``(components, frames)``, in the upper of two
    voices: where notes a semitone or more apart sound together, those above their middle
    are the upper voice and those below the lower (each player plays one note at a time);
    elsewhere a component keeps its energy-weighted share from those frames, or, never
    heard with another note, goes to the voice whose mean pitch is nearer its own."""
    active, poly = nmf.chords(e, semis)
    decided = np.full(e.shape, np.nan)
    for t in np.flatnonzero(poly):
        a = active[:, t]
        middle = 0.5 * (semis[a].max() + semis[a].min())
        decided[a, t] = np.where(semis[a] > middle, 1.0, np.where(semis[a] < middle, 0.0, 0.5))
    heard = ~np.isnan(decided)
    weight = np.where(heard, e, 0.0)
    known = weight.sum(axis=1) > 0
    mean = np.where(known, (np.nan_to_num(decided) * weight).sum(1) / (weight.sum(1) + 1e-12), 0.5)
    if known.any() and not known.all():
        up = mean[known] >= 0.5
        e_known = e[known].sum(axis=1)
        pitch_up = np.average(semis[known][up], weights=e_known[up]) if up.any() else np.inf
        pitch_down = np.average(semis[known][~up], weights=e_known[~up]) if (~up).any() else -np.inf
        near_up = np.abs(semis - pitch_up) < np.abs(semis - pitch_down)
        mean = np.where(known, mean, near_up.astype(float))
    elif not known.any():  # one note at a time throughout: the upper half of the pitches
        mean = (semis > np.median(semis)).astype(float)
    return np.where(heard, decided, mean[:, None])


def two_alike(a: np.ndarray, labels: np.ndarray) -> bool:
    """Whether two groups of components are as alike (their mean affinity ``a`` across) as
    some group's own components are (their mean affinity within)."""
    groups = [np.flatnonzero(labels == g) for g in range(int(labels.max()) + 1)]
    within = [a[np.ix_(g, g)][~np.eye(len(g), dtype=bool)].mean() for g in groups if len(g) > 1]
    across = [a[np.ix_(g, f)].mean() for i, g in enumerate(groups) for f in groups[i + 1 :]]
    return bool(within and across and max(across) > min(within))


def voices(case: scoring.Case, net, members, only_alike: bool = False) -> list[np.ndarray]:
    """``nmf+pairs``' members grouped into one source fewer than the count (two players of
    one instrument are heard as one), and the group with the most frames of notes a
    semitone or more apart sounding together split into two voices by pitch
    (:func:`upper_shares`); hedged and averaged as ``nmf+pairs`` does. ``only_alike``: a
    member is grouped so only where two of its groups as ``nmf+pairs`` makes them are as
    alike as one group's own components (:func:`two_alike`), else as ``nmf+pairs`` does."""
    options = learned.pairs_options(case.rate, net)
    heard = []
    for n_fft, k, start in members:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, options["fit"])
        a = options["affinity"](case.mixture, w, h, n_fft)
        if only_alike:
            labels = clustering.spectral_groups(a, case.n_sources, seed=0)
            if not two_alike(a, labels):  # as nmf+pairs groups it
                weights = nmf.hedged(a, labels, options["hedge"])
                grouping = nmf.Grouping(w, weights, n_fft, options["power"])
                heard.append(grouping.sources(case.mixture, h))
                continue
        fewer = case.n_sources - 1
        labels = clustering.spectral_groups(a, fewer, seed=0) if fewer > 1 else np.zeros(k, int)
        weights = nmf.hedged(a, labels, options["hedge"]) if fewer > 1 else np.ones((k, 1))
        semis = 12 * np.log2(nmf.fundamentals(w, case.rate, n_fft))
        e = h * w.sum(axis=0)[:, None]
        poly = [nmf.chords(e[labels == g], semis[labels == g])[1].sum() for g in range(fewer)]
        split = int(np.argmax(poly))
        upper = upper_shares(e, semis)  # all components, so a hedged share follows its pitch
        kept = [(w * weights[:, g]) @ h for g in range(fewer) if g != split]
        voiced = w * weights[:, split]
        parts = [*kept, voiced @ (h * upper), voiced @ (h * (1 - upper))]
        shares = masks.ratio_masks(parts, power=options["power"])
        heard.append(masks.apply_masks(case.mixture, shares, n_fft))
    return real_streams.matched_mean(heard)


def kl_refit(v: np.ndarray, w: np.ndarray, h: np.ndarray, updates: int, templates: bool):
    """KL-NMF multiplicative updates of ``v ≈ w h`` from the given start."""
    for _ in range(updates):
        h = h * (w.T @ (v / (w @ h + EPS))) / (w.sum(axis=0)[:, None] + EPS)
        if templates:
            w = w * ((v / (w @ h + EPS)) @ h.T) / (h.sum(axis=1)[None] + EPS)
    return w, h


def refitted(
    mixture: np.ndarray, sources: list[np.ndarray], r: int, templates: bool, updates: int = 100
) -> list[np.ndarray]:
    """``sources`` adapted to the recording: each one's own ``r``-template KL-NMF, the
    mixture fitted with all of them, each source its templates' share (masks of the
    ensemble's power), on the first member's STFT."""
    n_fft = SHIPPED[0][0]
    v = nmf.magnitudes(mixture, n_fft)
    fits = [nmf.decompose(s, min(r, v.shape[1]), 0, n_fft) for s in sources]
    w = np.concatenate([f[0] for f in fits], axis=1) + EPS
    h = np.concatenate([f[1] for f in fits], axis=0) + EPS
    w, h = kl_refit(v, w, h, updates, templates)
    edges = np.cumsum([0] + [f[0].shape[1] for f in fits])
    parts = [w[:, a:b] @ h[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    shares = masks.ratio_masks(parts, power=TUNING.streams.power)
    return masks.apply_masks(mixture, shares, n_fft)


def placed(affinity, rate: int, width: float, alike: bool, mixture, w, h, n_fft: int) -> np.ndarray:
    """``affinity`` times a Gaussian, ``width`` wide, of the gap of two components' places
    in the chords they sound in (``nmf.chord_ranks``: 0 the lowest note, 1 the highest);
    ``alike``: only between components whose harmonic timbres are closer than the
    decomposition's median pair (two players of one instrument sound alike)."""
    cues = ("chord place gap", "timbre distance")
    gap, timbre = np.moveaxis(learned.pair_features(w, h, rate, n_fft, cues), -1, 0)
    weight = np.exp(-0.5 * (gap / width) ** 2)
    if alike:
        weight = np.where(timbre < 1.0, weight, 1.0)
    return affinity(mixture, w, h, n_fft) * weight


def separate(case: scoring.Case, net, changes: dict, members) -> list[np.ndarray]:
    if changes.get("group") == "correlation":
        return regrouped(case, net, members, lambda a, labels: correlation_groups(a, labels))
    if changes.get("group") == "average":
        return regrouped(case, net, members, average_linkage)
    if changes.get("group") == "voices":
        return voices(case, net, members, changes.get("only_alike", False))
    options = {**learned.pairs_options(case.rate, net), "members": members}
    options |= {k: changes[k] for k in ("hedge", "power") if k in changes}
    if "place" in changes:
        width, alike = changes["place"], changes.get("alike", False)
        options["affinity"] = partial(placed, options["affinity"], case.rate, width, alike)
    sources = nmf.separate(case.mixture, case.n_sources, seed=0, **options)[0]
    if "refit" in changes:
        return refitted(case.mixture, sources, **changes["refit"])
    return sources


def smoke_network(cases: list[scoring.Case], members) -> pairnet.PairNet:
    """A pair network learned in a few steps from the smoke pieces themselves."""
    pairs = learned_affinity.labelled(cases, members)
    x = pairs[list(learned.PAIR_FEATURES)].to_numpy(np.float32)
    cfg = pairnet.PairNetConfig(steps=20)
    return pairnet.train(cfg, learned.PAIR_FEATURES, x, pairs["same"], pairs["weight"])[0]


def by_part(scores: pd.DataFrame, cases: list[scoring.Case]) -> pd.DataFrame:
    """Each variant's mean paired gain over the first on the parts of two players of one
    instrument (a part whose kind another part of its excerpt shares, as two violins) and
    on the others."""
    twin = {}
    for case in cases:
        kinds = kinds_of(case)
        parts = zip(case.references, kinds, strict=True)
        twin |= {(case.track, n): kinds.count(k) > 1 for n, k in parts}
    wide = real_streams.by_variant(scores)
    gain = wide.sub(wide.iloc[:, 0], axis=0)
    twins = np.array([twin[key] for key in gain.index])
    return pd.DataFrame(
        {
            f"two players of one instrument ({twins.sum()})": gain[twins].mean(),
            f"the others ({(~twins).sum()})": gain[~twins].mean(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=["urmp-dev", "urmp-pairs"])
    parser.add_argument("--only", nargs="*", help="these variants only")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="synthetic pieces, tiny members")
    parser.add_argument("--parts", action="store_true", help="also every part's SI-SDRi")
    args = parser.parse_args(argv)
    names = args.only or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose among {list(VARIANTS)}")
    if args.smoke:  # tiny decompositions; the same pieces teach and are scored
        sets = {"smoke": real_streams.smoke_cases()}
        tiny = [(256, 4, 1), (512, 4, 1)]
        net = smoke_network(sets["smoke"], tiny)
        nets = dict.fromkeys(VARIANTS, net)
        names = [
            names[0],
            "correlation clustering",
            "the affinity × a Gaussian of the chord place gap, 0.5 wide",
            "refitted: activations, 8 templates a source",
            "one group fewer, the most polyphonic split into two voices by pitch",
            "two voices only where two groups are as alike as a group's own components",
        ]
    else:
        preset = get_preset(args.preset)
        nets = {  # learned the first time (26 min for 600 pieces, 1,200 renders)
            name: pipeline.pair_network(preset, pieces=VARIANTS[name].get("pieces"))[0]
            for name in names
        }
        sets = real_sets(preset, args.sets)
        if not sets:
            print(NO_REAL_SET)
            return 2
    with nmf.reusing_fits():  # variants that decompose alike share the decompositions
        for set_name, cases in sets.items():
            tables = []
            for name in names:
                members = VARIANTS[name].get("members", tiny if args.smoke else SHIPPED)
                tables.append(
                    real_streams.cached_scores(
                        "real_pairs",
                        f"{set_name}: {name}",
                        [VARIANTS[name], members, args.smoke],
                        cases,
                        lambda case, n=name, m=members: separate(case, nets[n], VARIANTS[n], m),
                    )
                )
            scores = pd.concat(tables)
            print(f"SI-SDRi (dB), {set_name}, {len(cases)} excerpts, true count:")
            print(real_streams.summary(scores).round(2).to_string())
            print(f"mean gain (dB), {set_name}, by part:")
            print(by_part(scores, cases).round(2).to_string())
            if args.parts:
                print(real_streams.by_variant(scores).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
