"""Two players of one instrument, seen in whole NMF components and in their note events
(issue 45): where does "a player plays one note at a time" show?

    .venv/bin/python experiments/player_events.py [--sets urmp-dev urmp-pairs] [--smoke]

On every real set under ``data/real/`` (``scripts/real_devset.py``), each piece with two
parts of one kind (two violins) is decomposed as ``nmf+streams``' and ``nmf+pairs``' six
members are. Its units are described twice:

- *components*, each given to the part it correlates with most (``nmf.component_labels``);
- *note events*: each component's runs of at least 3 frames above a fifth of its peak,
  each given to the part with the most energy under the component's template in that run
  (one component can hold both players' notes at different times).

Over the pairs of units of the two parts of one kind whose fundamentals are a semitone or
more apart (weighted by loudness), the share that is one player (%): among all of them,
among those *sounding together* (active together over more than half the shorter one),
and, for events, among those *following* (one starting within 4 frames of the other's end,
within 5 semitones). A share well under the first says "two players"; well over it, "one".
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
import real_streams
from _shared import NO_REAL_SET, kinds_of, real_sets

from latentsep.evaluation import scoring
from latentsep.presets import get_preset
from latentsep.separation import nmf
from latentsep.tuning import TUNING

FLOOR, LEAST, TOGETHER, NEAR_FRAMES, NEAR_SEMITONES = 0.2, 3, 0.5, 4, 5.0


def events(w, h, refs_mag: list[np.ndarray]) -> pd.DataFrame:
    """Each component's note events: component, first and end frame, part, energy."""
    a = h / (h.max(axis=1, keepdims=True) + 1e-12)
    rows = []
    for c in range(len(h)):
        edges = np.diff(np.r_[0, (a[c] > FLOOR).astype(int), 0])
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if end - start >= LEAST:
                under = [(w[:, c : c + 1] * r[:, start:end]).sum() for r in refs_mag]
                energy = w[:, c].sum() * h[c, start:end].sum()
                rows.append((c, start, end, int(np.argmax(under)), energy))
    return pd.DataFrame(rows, columns=["component", "start", "end", "part", "energy"])


def unit_pairs(case: scoring.Case, members) -> pd.DataFrame:
    """Pairs of units (components and events) of the doubled parts: one player or not,
    sounding together, following, fundamentals' gap, weight; by level."""
    kinds = kinds_of(case)
    doubled = {p for p, k in enumerate(kinds) if kinds.count(k) > 1}
    refs = list(case.references.values())
    out = []
    for n_fft, k, start in members:
        w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
        f0 = 12 * np.log2(nmf.fundamentals(w, case.rate, n_fft))
        labels = nmf.component_labels(case.mixture, w, h, refs, n_fft)
        energy = (w.sum(axis=0)[:, None] * h).sum(axis=1)
        together = nmf.overlap(h)
        i, j = np.triu_indices(k, 1)
        keep = np.isin(labels[i], list(doubled)) & np.isin(labels[j], list(doubled))
        keep &= np.array([kinds[labels[a]] == kinds[labels[b]] for a, b in zip(i, j, strict=True)])
        i, j = i[keep], j[keep]
        out.append(
            pd.DataFrame(
                {
                    "level": "components",
                    "one": labels[i] == labels[j],
                    "together": together[i, j] > TOGETHER,
                    "following": False,
                    "gap": np.abs(f0[i] - f0[j]),
                    "weight": np.sqrt(energy[i] * energy[j]) / energy.sum(),
                }
            )
        )
        ev = events(w, h, [nmf.magnitudes(r, n_fft) for r in refs])
        ev = ev[ev["part"].isin(doubled)].reset_index(drop=True)
        i, j = np.triu_indices(len(ev), 1)
        a, b = ev.iloc[i].reset_index(drop=True), ev.iloc[j].reset_index(drop=True)
        kind_a, kind_b = (np.array([kinds[p] for p in x["part"]]) for x in (a, b))
        other = (a["component"].to_numpy() != b["component"].to_numpy()) & (kind_a == kind_b)
        shared = np.minimum(a["end"], b["end"]) - np.maximum(a["start"], b["start"])
        shorter = np.minimum(a["end"] - a["start"], b["end"] - b["start"])
        gap = np.abs(f0[a["component"]] - f0[b["component"]])
        out.append(
            pd.DataFrame(
                {
                    "level": "note events",
                    "one": (a["part"] == b["part"]).to_numpy(),
                    "together": (shared / shorter > TOGETHER).to_numpy(),
                    "following": ((-shared).between(-1, NEAR_FRAMES) & (gap <= NEAR_SEMITONES)),
                    "gap": gap,
                    "weight": np.sqrt(a["energy"] * b["energy"]) / max(ev["energy"].sum(), 1e-12),
                }
            )[other]
        )
    return pd.concat(out, ignore_index=True)


def shares(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per level: the share (%) of one player among the distinct-pitch pairs, among those
    sounding together and among those following, with how many pairs each."""
    rows = {}
    for level, d in pairs[pairs["gap"] >= 1].groupby("level", sort=False):

        def share(m, d=d):
            return (
                round(100 * np.average(d["one"][m], weights=d["weight"][m]), 1) if m.any() else None
            )

        rows[level] = {
            "all: one player (%)": share(d["gap"] >= 1),
            "together: one player (%)": share(d["together"]),
            "following: one player (%)": share(d["following"]) if level == "note events" else None,
            "pairs": len(d),
            "together": int(d["together"].sum()),
            "following": int(d["following"].sum()),
        }
    return pd.DataFrame(rows).T


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=["urmp-dev", "urmp-pairs"])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="two synthetic pieces")
    args = parser.parse_args(argv)
    if args.smoke:  # the two synthetic parts named as two players of one instrument
        members = [(256, 4, 1)]
        sets = {
            "smoke": [
                scoring.Case(
                    c.track,
                    c.mixture,
                    dict(zip(["1 a", "2 a"], c.references.values(), strict=True)),
                    c.rate,
                )
                for c in real_streams.smoke_cases()
            ]
        }
    else:
        members, preset = TUNING.streams.members, get_preset(args.preset)
        sets = real_sets(preset, args.sets)
        if not sets:
            print(NO_REAL_SET)
            return 2
    for name, cases in sets.items():
        doubled = [c for c in cases if len(set(kinds_of(c))) < len(kinds_of(c))]
        pairs = pd.concat([unit_pairs(c, members) for c in doubled], ignore_index=True)
        print(f"{name}: {len(doubled)} pieces with two players of one instrument")
        print(shares(pairs).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
