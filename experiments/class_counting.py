"""How the class-output methods count: each floor, on the pieces the counting is chosen on.

    .venv/bin/python experiments/class_counting.py --preset cpu [--split validation|test]
        [--fit] [--smoke]

For every case, the energy of each class output — the network's (``classmask``: its outputs
in time; ``nmf+classmask``: read from the masked spectrogram of the mono mix-down, as
:func:`latentsep.separation.learned.class_energies` does) and the class dictionaries'
(``supervisednmf``) — and the eigengap of ``nmf+classes``' affinity; then how often the
outputs within each floor of the loudest are the true count. ``validation`` (the default):
the 133 train pieces no network or dictionary learned from, in every training soundfont — the
floors are chosen there; ``test``: the embedded test set and the unseen timbres, to report.

``--fit``: ``notenmf+classmask``'s counting model instead (``learned.CountModel``): each
class output of every validation piece, described by ``learned.output_features`` and its
class, labelled by whether its class plays in the piece; the logistic model fitted on them
all as ``pipeline.count_model`` fits it (``learned.fit_count_model``, printed), and how
often it counts right in five folds of the pieces and trained on one soundfont, read on the
other — beside the floor and leak rule (``learned.count_unlike``) on the same pieces.

``--smoke`` does both with the smoke preset's networks on the first test piece of each
test set (the test suite does).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _shared import scored_sets

from latentsep import pipeline
from latentsep.evaluation import scoring
from latentsep.presets import get_preset
from latentsep.separation import clustering, learned, nmf
from latentsep.tuning import TUNING

FLOORS_DB = (-6, -8, -10, -12, -15, -20)
KS = (2, 3, 4)


def energies(case, net, dicts) -> dict[str, np.ndarray]:
    return {
        "network outputs": learned.energies(learned.outputs(net, case.mixture, case.rate)),
        "network spectrogram": learned.class_energies(net, case.mixture, case.rate),
        "dictionaries": learned.energies(learned.dictionary_parts(dicts, case.mixture, case.rate)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--fit", action="store_true", help="fit notenmf+classmask's count")
    parser.add_argument("--smoke", action="store_true", help="smoke preset, two test pieces")
    args = parser.parse_args(argv)
    if args.smoke:
        base, split, pieces = get_preset("smoke"), "test", 1
    else:
        base, split, pieces = get_preset(args.preset), args.split, None
    if args.fit:
        return fit_count(base)
    net = pipeline.network(base, "classmask", progress=False)[0]
    dicts = pipeline.dictionaries(base, progress=False)[0]
    out = {}
    for label, tracks in scored_sets(base, split, pieces):
        right: dict[str, list[bool]] = {}
        t0 = time.perf_counter()
        for case in scoring.cases(tracks, base.model):
            for source, e in energies(case, net, dicts).items():
                for floor in FLOORS_DB:
                    n = learned.count_sounding(e, floor, KS)
                    right.setdefault(f"{source} {floor} dB", []).append(n == case.n_sources)
            w, h = nmf.decompose(case.mixture, nmf.N_COMPONENTS, 0)
            affinity = clustering.gaussian_affinity(
                nmf.class_shares(w, case.rate, dicts)
            ) * clustering.gaussian_affinity(nmf.harmonic_timbre(w, case.rate))
            n = clustering.affinity_eigengap_k(affinity, KS)
            right.setdefault("nmf+classes eigengap", []).append(n == case.n_sources)
        out[label] = {k: round(100 * float(np.mean(v))) for k, v in right.items()}
        print(f"{label} ({len(tracks)} tracks, {time.perf_counter() - t0:.0f} s), right (%):")
        for rule, pct in sorted(out[label].items(), key=lambda kv: -kv[1]):
            print(f"  {rule:32s} {pct:3d}")
    print(json.dumps(out))
    if args.smoke:  # the counting model too, fitted on the same pieces
        return fit_count(base, split, pieces)
    return 0


def fit_count(base, split: str = "validation", pieces_each: int | None = None) -> int:
    """``--fit``: the counting model of ``notenmf+classmask`` on the validation pieces."""
    both = pipeline.network(base, "notenmf+classmask", progress=False)[0]
    classes = both.notes.classes
    pieces = []  # (soundfont, energies, co-activity, true count, which classes play)
    for label, tracks in scored_sets(base, split, pieces_each):
        for case in scoring.cases(tracks, base.model):
            outs, alike = learned.note_parts(both, case.mixture, case.rate)
            energy = learned.energies(outs)
            plays = np.array([c in case.references for c in classes])
            pieces.append((label, energy, alike, case.n_sources, plays))

    def fitted(train) -> learned.CountModel:
        return learned.fit_count_model([(e, a, plays) for _, e, a, _, plays in train], classes)

    def right(test, model: learned.CountModel) -> list[bool]:
        return [model.count(e, a, classes, KS) == n for _, e, a, n, _ in test]

    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(len(pieces)), 5)
    cv = []
    for fold in folds:
        held = set(fold.tolist())
        model = fitted([p for i, p in enumerate(pieces) if i not in held])
        cv += right([pieces[i] for i in fold], model)
    print(f"{len(pieces)} {split} pieces, right (%):")
    floor = [
        learned.count_unlike(e, a, TUNING.floors.note_count, KS) == n for _, e, a, n, _ in pieces
    ]
    print(f"  floor and leak rule: {100 * np.mean(floor):.0f}")
    print(f"  counting model, five folds: {100 * np.mean(cv):.0f}")
    for label in sorted({p[0] for p in pieces}):
        model = fitted([p for p in pieces if p[0] != label])
        pct = 100 * np.mean(right([p for p in pieces if p[0] == label], model))
        print(f"  counting model fitted without {label}, read on it: {pct:.0f}")
    model = fitted(pieces)  # as pipeline.count_model fits it on these pieces
    print("weights:", {k: round(v, 3) for k, v in model.weights.items()})
    print("bias:", {k: round(v, 3) for k, v in model.bias.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
