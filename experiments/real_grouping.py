"""Where nmf+streams' grouping loses on real music (issue 45): its cues one at a time, and
its own ceiling, on the real development set.

    .venv/bin/python experiments/real_grouping.py [--only NAME ...] [--smoke]

Each variant groups nmf+streams' six decompositions of every excerpt of
``data/real/urmp-dev`` (the true count given) with another affinity between components, or
by the truth: ``oracle`` gives each component of each member to the instrument whose stem
it correlates with most, which is the most any grouping of these decompositions can do.
The cues: harmonic ``timbre`` compared within a few semitones, ``apart`` (1 − how much
two components sound together: instruments that play one note at a time), ``follow``
(1 + how often one starts as the other stops, near in pitch), ``register`` (a Gaussian of
the fundamentals' gap, 12 semitones wide). Scored as ``real_streams.py`` scores.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import real_streams

from latentsep.evaluation import scoring
from latentsep.separation import clustering, masks, nmf
from latentsep.tuning import TUNING

#: name -> the cues multiplied into the affinity ("oracle": grouped by the truth).
VARIANTS: dict[str, tuple[str, ...]] = {
    "timbre, apart, follow (nmf+streams)": ("timbre", "apart", "follow"),
    "oracle (each component to its instrument)": ("oracle",),
    "timbre": ("timbre",),
    "timbre, apart": ("timbre", "apart"),
    "apart, follow": ("apart", "follow"),
    "register, apart, follow": ("register", "apart", "follow"),
    "timbre, apart, follow, register": ("timbre", "apart", "follow", "register"),
    "register": ("register",),
    "timbre, apart unless moving together (fine), follow": ("timbre", "fate fine", "follow"),
    "timbre, apart unless moving together (raw), follow": ("timbre", "fate raw", "follow"),
    "apart unless moving together (fine), follow": ("fate fine", "follow"),
    "voices by pitch rank": ("voices", "0.1"),
    "voices by pitch rank, threshold 0.2": ("voices", "0.2"),
    "voices by pitch rank, averaged with nmf+streams": ("voices+streams", "0.1"),
    "voices by pitch rank, partials to their notes": ("voices", "0.1", "harmonics"),
    "voices by pitch rank and register": ("voices", "0.1", "register"),
    "voices by pitch rank and register, averaged with nmf+streams": (
        "voices+streams",
        "0.1",
        "register",
    ),
    "timbre, apart, follow, same voice": ("timbre", "apart", "follow", "voice"),
    "voices by pitch rank, partials to their notes, averaged with nmf+streams": (
        "voices+streams",
        "0.1",
        "harmonics",
    ),
    "nmf+streams, then each component to the ensemble's source (1 pass)": ("consensus", "1"),
    "nmf+streams, then each component to the ensemble's source (3 passes)": ("consensus", "3"),
}

#: The decompositions grouped (nmf+streams' own; the smoke run's are tiny).
MEMBERS = TUNING.streams.members


def affinity(cues: tuple[str, ...], w, h, rate: int, n_fft: int, k: int = 2) -> np.ndarray:
    f0 = np.log2(nmf.fundamentals(w, rate, n_fft))
    out = np.ones((w.shape[1], w.shape[1]))
    if "timbre" in cues:
        timbre = clustering.gaussian_affinity(nmf.harmonic_timbre(w, rate, n_fft))
        out = out * nmf.pitch_local(timbre, f0)
    if "apart" in cues:
        out = out * (1 - nmf.overlap(h))
    for how in ("fine", "raw"):
        if f"fate {how}" in cues:
            c = nmf.comodulation(h, fine=how == "fine")
            out = out * (1 - nmf.overlap(h) * (1 - c)) * (1 + c)
    if "voice" in cues:  # alike in which voice (by pitch rank) they sound
        label = voices(w, h, rate, n_fft, k, 0.1)
        energy = h * w.sum(axis=0)[:, None]
        hist = np.stack([(energy * (label == v)).sum(axis=1) for v in range(k)], axis=1)
        hist = np.sqrt(hist / (hist.sum(axis=1, keepdims=True) + 1e-12))
        out = out * (hist @ hist.T) ** 2  # Bhattacharyya coefficient, squared
    if "follow" in cues:
        out = out * (1 + nmf.succession(h, f0))
    if "register" in cues:
        out = out * np.exp(-0.5 * (12 * (f0[:, None] - f0[None]) / 12.0) ** 2)
    return out


def component_labels(mixture, w, h, n_fft: int, refs: list[np.ndarray]) -> np.ndarray:
    """Each component to the signal in ``refs`` it correlates with most."""
    comps = nmf.grouped_sources(mixture, w, h, np.arange(w.shape[1]), w.shape[1], n_fft)
    return np.array([np.argmax([np.dot(c.ravel(), r.ravel()) for r in refs]) for c in comps])


def separate(case: scoring.Case, cues: tuple[str, ...]) -> list[np.ndarray]:
    if cues[0] == "consensus":  # the ensemble's own sources as the truth, regrouped
        sources = separate(case, VARIANTS["timbre, apart, follow (nmf+streams)"])
        for _ in range(int(cues[1])):
            sources = separate_by(case, sources)
        return sources
    if cues[0].startswith("voices"):
        sources = separate_by(case, cues)
        if cues[0] == "voices+streams":
            streams = separate(case, VARIANTS["timbre, apart, follow (nmf+streams)"])
            sources = real_streams.matched_mean([streams, sources])
        return sources
    return separate_by(case, cues)


#: Semitones from a fundamental up to its 2nd, 3rd, 4th, 5th, 6th and 8th harmonics.
HARMONIC_STEPS = (12, 19, 24, 28, 31, 36)


def voices(
    w,
    h,
    rate: int,
    n_fft: int,
    k: int,
    floor: float,
    harmonics: bool = False,
    register: float = 0.0,
):
    """Each component's voice in each frame ``(components, frames)``: in every frame the
    components sounding above ``floor`` of the frame's loudest are notes (one per semitone
    of their fundamentals, the k loudest), the notes from high to low go to voices from high
    to low, each to the voice whose last note is nearest that keeps the order (voices seldom
    cross in ensemble writing); a component that does not sound keeps its usual voice."""
    from itertools import combinations

    semis = np.round(12 * np.log2(nmf.fundamentals(w, rate, n_fft) / 440.0)).astype(int)
    energy = h * w.sum(axis=0)[:, None]
    loud = energy.sum(axis=0)
    heard = loud > 1e-3 * loud.max()
    pitches = np.repeat(semis[:, None], h.shape[1], axis=1)[energy > floor * energy.max(axis=0)]
    last = np.quantile(pitches, (k - np.arange(k) - 0.5) / k) if pitches.size else np.zeros(k)
    label = -np.ones(h.shape, int)
    mean = last.copy()  # each voice's register: a slow average of its notes
    for t in np.flatnonzero(heard):
        on = np.flatnonzero(energy[:, t] > floor * energy[:, t].max())
        notes = {}
        for c in on:
            notes[semis[c]] = notes.get(semis[c], 0.0) + energy[c, t]
        owner = {n: n for n in notes}
        if harmonics:  # a quieter note a harmonic above a louder one is that note's partial
            for n in sorted(notes, key=notes.get, reverse=True):
                for m in notes:
                    if owner[m] == m and m != n and owner[n] == n and notes[m] < notes[n]:
                        if m - n in HARMONIC_STEPS:
                            owner[m] = n
            for m, n in owner.items():
                if m != n:
                    notes[n] += notes.pop(m)
        kept = sorted(sorted(notes, key=notes.get, reverse=True)[:k], reverse=True)
        best = min(
            combinations(range(k), len(kept)),
            key=lambda vs: sum(
                abs(n - last[v]) + register * abs(n - mean[v])
                for n, v in zip(kept, vs, strict=True)
            ),
        )
        for n, v in zip(kept, best, strict=True):
            last[v] = n
            mean[v] += 0.05 * (n - mean[v])
            mine = [m for m, o in owner.items() if o == n]
            label[on[np.isin(semis[on], mine)], t] = v
    usual = np.array(
        [np.bincount(r[r >= 0], minlength=k).argmax() if (r >= 0).any() else 0 for r in label]
    )
    return np.where(label >= 0, label, usual[:, None])


def separate_by(case: scoring.Case, cues) -> list[np.ndarray]:
    heard = []
    for n_fft, k, start in MEMBERS:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
        if cues == ("oracle",) or not isinstance(cues, tuple):
            refs = list(case.references.values()) if cues == ("oracle",) else cues
            weights = component_labels(case.mixture, w, h, n_fft, refs)
            if nmf.n_groups(weights) != case.n_sources:
                weights = np.eye(case.n_sources)[weights]
        elif cues[0].startswith("voices"):
            label = voices(
                w,
                h,
                case.rate,
                n_fft,
                case.n_sources,
                float(cues[1]),
                "harmonics" in cues,
                1.0 if "register" in cues else 0.0,
            )
            parts = [w @ (h * (label == v)) for v in range(case.n_sources)]
            heard.append(
                masks.apply_masks(
                    case.mixture, masks.ratio_masks(parts, power=TUNING.streams.power), n_fft
                )
            )
            continue
        else:
            a = affinity(cues, w, h, case.rate, n_fft, case.n_sources)
            labels = clustering.spectral_groups(a, case.n_sources, seed=0)
            weights = nmf.hedged(a, labels, TUNING.streams.hedge_share)
        grouping = nmf.Grouping(w, weights, n_fft, TUNING.streams.power)
        heard.append(grouping.sources(case.mixture, h))
    return real_streams.matched_mean(heard)


def score(name: str, cases_: list[scoring.Case]) -> pd.DataFrame:
    """One variant's scores (``real_streams.cached_scores``)."""
    return real_streams.cached_scores(
        "real_grouping", name, VARIANTS[name], cases_, lambda case: separate(case, VARIANTS[name])
    )


def main(argv: list[str] | None = None) -> int:
    def smoke(names: list[str]) -> None:
        global MEMBERS
        MEMBERS = ((256, 4, 1), (256, 4, 2))  # tiny pieces: two short decompositions

    return real_streams.run_study(argv, __doc__, VARIANTS, score, list(VARIANTS)[:2], smoke)


if __name__ == "__main__":
    sys.exit(main())
