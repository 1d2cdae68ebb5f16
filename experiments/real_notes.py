"""Notes, not components, as what nmf+streams groups (issue 45): on the real development set.

    .venv/bin/python experiments/real_notes.py [--only NAME ...] [--smoke]

An NMF component is a spectral shape, often one pitch, that sounds wherever any instrument
plays it: in an ensemble the violin and the viola take the same note at different times,
and one component then holds both, so no grouping of components can part them. Here each
component's activation is cut at its silences longer than a gap into *note events*, each
event its own atom (the same template, the activation of its stretch of time; the atoms'
``W H`` is the decomposition's exactly). The atoms are grouped as ``nmf+streams`` groups
components — harmonic timbre within a few semitones, a cannot-link for sounding together,
a must-link for following each other — with each atom's timbre taken from the mixture's
share of it over its own frames (a template is shared by its atoms; what they sound like
in the mixture is not). ``same`` keeps some pull between the atoms of one component.

Scored as ``real_streams.py`` scores (each excerpt of ``data/real/urmp-dev``, the true count
given; SI-SDRi over (excerpt, instrument) pairs; paired against the first variant).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import real_streams

from latentsep.evaluation import scoring
from latentsep.separation import clustering, nmf
from latentsep.spectral import hop_of
from latentsep.tuning import TUNING

#: name -> (gap in seconds that cuts a component into notes (None: components as they
#: are), activation threshold (share of the component's peak), pull between one
#: component's atoms).
VARIANTS: dict[str, tuple[float | None, float, float]] = {
    "components (nmf+streams)": (None, 0.1, 0.0),
    "notes cut at 0.25-s silences": (0.25, 0.1, 0.0),
    "notes cut at 0.5-s silences": (0.5, 0.1, 0.0),
    "notes cut at 1-s silences": (1.0, 0.1, 0.0),
    "notes cut at 0.5-s silences, same-component pull 1": (0.5, 0.1, 1.0),
    "notes cut at 0.25-s silences, threshold 0.2": (0.25, 0.2, 0.0),
}


#: The decompositions grouped (nmf+streams' own; the smoke run's are tiny).
MEMBERS = TUNING.streams.members


def note_atoms(
    h: np.ndarray, gap: int | None, threshold: float, smooth: int = 5, shortest: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Each component's activation cut where it stays under ``threshold`` of its peak for
    more than ``gap`` frames: the atoms' components and activations ``(atoms, frames)``,
    which add up to ``h`` (each frame goes to the stretch it is nearest)."""
    if gap is None:
        return np.arange(len(h)), h
    comps, rows = [], []
    kernel = np.ones(smooth) / smooth
    for c, hc in enumerate(h):
        a = np.convolve(hc, kernel, "same")
        on = np.flatnonzero(a > threshold * (a.max() + 1e-12))
        if on.size:  # stretches shorter than `shortest` frames are not notes
            runs = np.split(on, np.flatnonzero(np.diff(on) > 1) + 1)
            on = np.concatenate([r for r in runs if r.size >= shortest] or [on])
        breaks = np.flatnonzero(np.diff(on) > gap)
        cuts = (on[breaks] + on[breaks + 1]) // 2 + 1
        edges = np.r_[0, cuts, h.shape[1]]
        for s, e in zip(edges[:-1], edges[1:], strict=True):
            row = np.zeros_like(hc)
            row[s:e] = hc[s:e]
            comps.append(c)
            rows.append(row)
    return np.array(comps), np.stack(rows)


def atom_affinity(mixture, w, h, comps, ha, n_fft, rate, same: float) -> np.ndarray:
    """nmf+streams' links between atoms, each atom's timbre its share of the mixture."""
    v = nmf.magnitudes(mixture, n_fft)
    wa = w[:, comps]
    spectra = wa * ((v / (w @ h + 1e-12)) @ ha.T)
    f0 = np.log2(nmf.fundamentals(w, rate, n_fft))[comps]
    timbre = clustering.gaussian_affinity(nmf.harmonic_timbre(spectra, rate, n_fft))
    links = nmf.pitch_local(timbre, f0) * (1 - nmf.overlap(ha)) * (1 + nmf.succession(ha, f0))
    links = links * nmf.pan_affinity(nmf.channel_angles(mixture, wa, ha, n_fft=n_fft))
    return links * (1 + same * (comps[:, None] == comps[None]))


def separate(case: scoring.Case, gap_s, threshold, same) -> list[np.ndarray]:
    """nmf+streams' ensemble with atoms for components: each member's atoms grouped into
    the true count, hedged, masked; sources matched to the first member's and averaged."""
    heard = []
    for n_fft, k, start in MEMBERS:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
        gap = None if gap_s is None else int(round(gap_s * case.rate / hop_of(n_fft)))
        comps, ha = note_atoms(h, gap, threshold)
        a = atom_affinity(case.mixture, w, h, comps, ha, n_fft, case.rate, same)
        labels = clustering.spectral_groups(a, case.n_sources, seed=0)
        weights = nmf.hedged(a, labels, TUNING.streams.hedge_share)
        grouping = nmf.Grouping(w[:, comps], weights, n_fft, TUNING.streams.power)
        heard.append(grouping.sources(case.mixture, ha))
    return real_streams.matched_mean(heard)


def score(name: str, cases_: list[scoring.Case]) -> pd.DataFrame:
    """One variant's scores (``real_streams.cached_scores``)."""
    return real_streams.cached_scores(
        "real_notes", name, VARIANTS[name], cases_, lambda case: separate(case, *VARIANTS[name])
    )


def main(argv: list[str] | None = None) -> int:
    def smoke(names: list[str]) -> None:
        global MEMBERS
        MEMBERS = ((256, 4, 1), (256, 4, 2))  # tiny pieces: two short decompositions

    return real_streams.run_study(argv, __doc__, VARIANTS, score, list(VARIANTS)[:2], smoke)


if __name__ == "__main__":
    sys.exit(main())
