"""Issue 24's study: how NMF components are grouped, one idea at a time.

    .venv/bin/python experiments/nmf_grouping.py --preset cpu [--tracks 20]
        [--split test|validation] [--only NAME ...] [--smoke]

Every test track is decomposed once (the default method's KL-NMF); each grouping is then a
labelling of the same components, scored by its adjusted Rand index against the oracle
grouping (each component to the true instrument it correlates with most) and by the median
SI-SDRi of the sources it gives, with the true count. On the embedded test set and on the
same pieces played by the unseen soundfont (``--split validation``: the validation pieces,
where a choice may be made). ``--smoke`` scores every grouping with the smoke preset's
dictionaries and network on the first piece of each test set (the test suite does).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import numpy as np
from _shared import scored_sets
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from latentsep import pipeline, spectral
from latentsep.evaluation import metrics, scoring
from latentsep.presets import get_preset
from latentsep.separation import clustering, learned, nmf
from latentsep.tuning import TUNING

SEED = 0


def oracle_labels(case, w, h) -> np.ndarray:
    comps = nmf.component_sources(case.mixture, w, h)
    refs = list(case.references.values())
    return np.array([np.argmax([np.dot(c.ravel(), r.ravel()) for r in refs]) for c in comps])


def kmeans(feats: np.ndarray, k: int) -> np.ndarray:
    return KMeans(k, n_init=4, random_state=SEED).fit_predict(feats)


def spectral_clusters(affinity: np.ndarray, k: int) -> np.ndarray:
    return clustering.spectral_groups(affinity, k, seed=SEED)


def envelope_features(h: np.ndarray) -> np.ndarray:
    """How each component's activation moves in time: attack sharpness, decay, how often it
    starts, how long it lasts (log scales, standardised)."""
    rows = []
    for a in h:
        a = a / (a.max() + 1e-12)
        d = np.diff(a, prepend=0.0)
        rise = np.clip(d, 0, None)
        fall = np.clip(-d, 0, None)
        on = a > 0.1
        starts = np.sum(on[1:] & ~on[:-1]) + on[0]
        rows.append(
            [
                np.log(rise.max() + 1e-6),  # the sharpest attack
                np.log(fall.sum() / (rise.sum() + 1e-9) + 1e-6),
                np.log(fall.mean() / (fall.max() + 1e-9) + 1e-6),  # gradual vs abrupt decay
                np.log(on.mean() + 1e-3),  # share of time sounding
                np.log(starts + 1.0),
            ]
        )
    f = np.array(rows)
    return (f - f.mean(0)) / (f.std(0) + 1e-9)


def coactivation(h: np.ndarray) -> np.ndarray:
    """Correlation of log activations: components sounding at the same moments."""
    x = np.log(h + 1e-3 * h.max())
    x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-9)
    return np.clip(x @ x.T / x.shape[1], 0, None)


def class_shares(w: np.ndarray, rate: int, dicts) -> np.ndarray:
    """The study's own fit, the one its numbers were measured with: 200 multiplicative
    updates from ones (``nmf.class_shares``, the method's, stops at sklearn's tolerance).
    Each component's template explained by the class dictionaries learned from rendered
    stems (KL, templates fixed): the log share of each class (issue 23's dictionaries as a
    timbre prior; not model-free)."""
    src = spectral.frequencies(spectral.N_FFT, rate)
    dst = spectral.frequencies(nmf.DICT_N_FFT, nmf.DICT_RATE)
    v = np.stack([np.interp(dst, src, c, right=0.0) for c in w.T], axis=1) + 1e-9
    t = dicts.templates
    a = np.full((t.shape[1], v.shape[1]), 1.0)
    for _ in range(200):
        a *= (t.T @ (v / (t @ a + 1e-12))) / (t.sum(0)[:, None] + 1e-12)
    share = np.stack(
        [(t[:, dicts.owner == c] @ a[dicts.owner == c]).sum(0) for c in range(len(dicts.classes))],
        axis=1,
    )
    share /= share.sum(1, keepdims=True)
    return np.log(share + 1e-3)


def network_groupings(case, w, h, rate: int, net):
    """``nmf+classmask``'s affinities: the network's class shares of each component heard
    alone and heard in the mixture (:func:`learned.context_shares`), with harmonic timbre
    or with ``nmf+streams``' links (which hold it)."""
    alone, within = (
        clustering.gaussian_affinity(f)
        for f in learned.component_shares(net, case.mixture, w, h, rate)
    )
    a_h = clustering.gaussian_affinity(nmf.harmonic_timbre(w, rate))
    a_s = nmf.stream_affinity(w, h, rate)
    k = case.n_sources
    yield "network: alone × harmonic (nmf+classmask before)", spectral_clusters(alone * a_h, k)
    yield "network: in the mixture × harmonic", spectral_clusters(within * a_h, k)
    yield "network: alone × in the mixture × harmonic", spectral_clusters(alone * within * a_h, k)
    yield "network: alone × streams", spectral_clusters(alone * a_s, k)
    yield "network: in the mixture × streams", spectral_clusters(within * a_s, k)
    yield (
        "network: alone × in the mixture × streams (nmf+classmask)",
        spectral_clusters(alone * within * a_s, k),
    )


def groupings(case, w, h, rate: int, dicts, only: list[str] | None = None):
    k = case.n_sources
    harm = nmf.harmonic_timbre(w, rate)
    mfcc = nmf.timbre(w)
    mfcc = (mfcc - mfcc.mean(0)) / (mfcc.std(0) + 1e-9)
    env = envelope_features(h)
    f0 = np.log2(nmf.fundamentals(w, rate))
    yield "harmonic timbre (default)", kmeans(harm, k)
    yield "MFCC timbre", kmeans(mfcc, k)
    yield "activation envelope", kmeans(env, k)
    yield "harmonic + envelope", kmeans(np.hstack([harm / harm.std(), env]), k)
    a_h = clustering.gaussian_affinity(harm)
    a_c = coactivation(h)
    a_e = clustering.gaussian_affinity(env)
    yield "spectral: harmonic", spectral_clusters(a_h, k)
    yield "spectral: harmonic × envelope", spectral_clusters(a_h * a_e, k)
    yield "spectral: harmonic × (1 + coactivation)", spectral_clusters(a_h * (1 + a_c), k)
    # pitch proximity: one instrument's notes lie within a range (a register)
    a_p = np.exp(-((f0[:, None] - f0[None]) ** 2) / 2.0)
    yield "spectral: harmonic × register", spectral_clusters(a_h * a_p, k)
    yield "spectral: harmonic × envelope × register", spectral_clusters(a_h * a_e * a_p, k)
    a_o = nmf.overlap(h)
    yield "spectral: harmonic × (1 − overlap) [cannot-link]", spectral_clusters(a_h * (1 - a_o), k)
    a_s = nmf.succession(h, f0)
    yield "spectral: harmonic × (1 + succession) [must-link]", spectral_clusters(a_h * (1 + a_s), k)
    yield (
        "spectral: harmonic × (1 − overlap) × (1 + succession)",
        spectral_clusters(a_h * (1 - a_o) * (1 + a_s), k),
    )
    yield (
        "spectral: harmonic × register × (1 − overlap)",
        spectral_clusters(a_h * a_p * (1 - a_o), k),
    )
    streams = {}  # timbre only between notes close in pitch (TUNING.streams.timbre_span)
    for span in (4.0, 6.0, 8.0):
        a = nmf.pitch_local(a_h, f0, span) * (1 - a_o) * (1 + a_s)
        streams[span] = a, spectral_clusters(a, k)
        yield f"pitch-local {span:g}: harmonic × (1 − overlap) × (1 + succession)", streams[span][1]
    for share in (0.3, 0.5, 0.7):  # each component hedged between groups (nmf+streams: 0.5)
        yield (
            f"hedged {share:g}: pitch-local 6 × (1 − overlap) × (1 + succession)",
            nmf.hedged(*streams[TUNING.streams.timbre_span], share),
        )
    if only and not any("class" in o for o in only):
        return  # the learned prior's fit is the slow part
    cls = class_shares(w, rate, dicts)
    yield "class-dictionary shares (learned)", kmeans(cls, k)
    yield (
        "spectral: class shares × register (learned)",
        spectral_clusters(clustering.gaussian_affinity(cls) * a_p, k),
    )
    yield (
        "spectral: class shares × harmonic (learned)",
        spectral_clusters(clustering.gaussian_affinity(cls) * a_h, k),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--tracks", type=int, default=0)
    parser.add_argument(
        "--split",
        choices=["test", "validation"],
        default="test",
        help="validation: the train pieces no dictionary or network learned from (to choose on)",
    )
    parser.add_argument(
        "--only", nargs="*", help="score only the groupings whose names hold one of these"
    )
    parser.add_argument("--smoke", action="store_true", help="smoke preset, two test pieces")
    args = parser.parse_args(argv)
    if args.smoke:
        args.preset, args.split, args.tracks = "smoke", "test", 1
    base = get_preset(args.preset)
    dicts = pipeline.dictionaries(base, progress=False)[0]
    with_net = not args.only or any("network" in o for o in args.only)
    net = pipeline.network(base, "classmask", progress=False)[0] if with_net else None
    out = {}
    sets = scored_sets(base, args.split, args.tracks or None)
    for label, tracks in sets:
        cases = scoring.cases(tracks, base.model)
        rows: dict[str, list] = {}
        t0 = time.perf_counter()
        for case in cases:
            w, h = nmf.decompose(case.mixture, nmf.N_COMPONENTS, SEED)
            truth = oracle_labels(case, w, h)
            found = [
                (name, labels)
                for name, labels in itertools.chain(
                    groupings(case, w, h, case.rate, dicts, args.only),
                    network_groupings(case, w, h, case.rate, net) if with_net else (),
                )
                if not args.only
                or name.startswith("harmonic timbre")
                or any(o in name for o in args.only)
            ]
            for name, labels in [("oracle", truth), *found]:
                sources = nmf.grouped_sources(case.mixture, w, h, labels, case.n_sources)
                scores = metrics.separation_scores(
                    case.references, sources, case.mixture, case.rate, bss=False
                )
                r = rows.setdefault(name, [[], []])
                hard = labels.argmax(axis=1) if labels.ndim == 2 else labels
                r[0].append(adjusted_rand_score(truth, hard))
                r[1].extend(s["SI-SDRi (dB)"] for s in scores)
        table = {
            name: {"ARI": round(float(np.mean(a)), 3), "SI-SDRi": round(float(np.median(s)), 2)}
            for name, (a, s) in rows.items()
        }
        out[label] = table
        print(f"{label} ({len(cases)} tracks, {time.perf_counter() - t0:.0f} s)")
        for name, v in table.items():
            share = v["SI-SDRi"] / table["oracle"]["SI-SDRi"]
            print(f"  {name:45s} ARI {v['ARI']:+.3f}  SI-SDRi {v['SI-SDRi']:+.2f}  ({share:.0%})")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
