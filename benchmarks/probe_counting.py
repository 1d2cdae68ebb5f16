"""How the class-output methods count: each floor, on the pieces the counting is chosen on.

For every case, the energy of each class output — the network's (``classmask``: its outputs
in time; ``nmf+classmask``: read from the masked spectrogram of the mono mix-down, as
:func:`latentsep.separation.learned.class_energies` does) and the class dictionaries'
(``supervisednmf``) — and the eigengap of ``nmf+classes``' affinity; then how often the
outputs within each floor of the loudest are the true count. ``validation`` (the default):
the 133 train pieces no network or dictionary learned from, in every training soundfont — the
floors are chosen there; ``test``: the embedded test set and the unseen timbres, to report.

    python benchmarks/probe_counting.py --preset cpu [--split validation|test]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import probe_sets

from latentsep import pipeline
from latentsep.evaluation import scoring
from latentsep.presets import get_preset
from latentsep.separation import clustering, learned, nmf

FLOORS_DB = (-6, -8, -10, -12, -15, -20)
KS = (2, 3, 4)


def energies(case, net, dicts) -> dict[str, np.ndarray]:
    def of(outs) -> np.ndarray:
        return np.sum(np.asarray(outs, np.float64) ** 2, axis=(1, 2))

    return {
        "network outputs": of(learned.outputs(net, case.mixture, case.rate)),
        "network spectrogram": learned.class_energies(net, case.mixture, case.rate),
        "dictionaries": of(learned._dictionary_parts(dicts, case.mixture, case.rate)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    args = parser.parse_args()
    base = get_preset(args.preset)
    net = pipeline.network(base, "classmask", progress=False)[0]
    dicts = pipeline.dictionaries(base, progress=False)[0]
    sets = probe_sets(base, args.split)
    out = {}
    for label, tracks in sets:
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
        print(f"{label} ({len(tracks)} tracks, {time.perf_counter() - t0:.0f} s)")
        for rule, pct in sorted(out[label].items(), key=lambda kv: -kv[1]):
            print(f"  {rule:32s} {pct:3d} % right")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
