"""Where the instruments sit in the stereo image, as a cue for grouping and counting.

    .venv/bin/python experiments/stereo_pan.py [--pieces 40] [--split test] [--nmf-only] [--smoke]

The renderer pans each instrument of the "other" stem at random (−0.6 … 0.6, constant
power), but the ``cpu`` preset, like its mono autoencoder, scores mono mix-downs, where this
cue does not exist. This study renders the validation pieces (train pieces nothing learned
from) in stereo and measures what the pan adds to

- ``nmf+streams``: each NMF component's stereo angle (``nmf.channel_angles``), its
  affinity times a Gaussian of the angles' gap (``nmf.pan_affinity``; what the method
  does since version 2, at ``TUNING.streams.pan_width``; and, at that width, each component hedged
  between the groups, ``nmf.hedged``, as since version 4; and the method as registered,
  which since version 5 also averages the sources of ``TUNING.streams.members``'s decompositions);
- ``notenmf+classmask``: each class output's angle from its channels' energies, its
  co-activity (which clusters the outputs and, through its counting model since
  version 5, judges leaks when counting) times the same.

``--smoke`` does it all with the smoke preset's network on the first piece of each test set,
in stereo (the test suite does).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
from _shared import scored_sets

from latentsep import pipeline
from latentsep.evaluation import metrics, scoring
from latentsep.presets import get_preset
from latentsep.separation import METHODS, clustering, learned, nmf
from latentsep.tuning import TUNING

SIGMAS = (None, 0.03, 0.06, 0.12, 0.2, 0.3)  # the Gaussian's width in radians; None: no pan cue


def pan_affinity(theta: np.ndarray, sigma: float | None) -> np.ndarray:
    return np.ones((len(theta),) * 2) if sigma is None else nmf.pan_affinity(theta, sigma)


def scores(case, sources) -> list[float]:
    found = metrics.separation_scores(case.references, sources, case.mixture, case.rate, bss=False)
    return [s["SI-SDRi (dB)"] for s in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pieces", type=int, default=40, help="per soundfont")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--nmf-only", action="store_true", help="leave out notenmf+classmask")
    parser.add_argument("--smoke", action="store_true", help="smoke preset, two test pieces")
    args = parser.parse_args(argv)
    base = get_preset("smoke" if args.smoke else "cpu")
    if args.smoke:
        args.split, args.pieces = "test", 1
    stereo = dataclasses.replace(base.model, channels=2)
    both = None if args.nmf_only else pipeline.network(base, "notenmf+classmask", progress=False)[0]
    for label, tracks in scored_sets(base, args.split, args.pieces):
        sdr: dict[str, list[float]] = {}
        right: dict[str, list[bool]] = {}
        for case in scoring.cases(tracks, stereo):
            k = case.n_sources
            w, h = nmf.decompose(case.mixture, nmf.N_COMPONENTS, 0)
            theta = nmf.channel_angles(case.mixture, w, h)
            streams = nmf.stream_affinity(w, h, case.rate, span=TUNING.streams.timbre_span)
            for sigma in SIGMAS:
                a = streams * pan_affinity(theta, sigma)
                labels = clustering.spectral_groups(a, k, seed=0)
                src = nmf.grouped_sources(case.mixture, w, h, labels, k)
                sdr.setdefault(f"nmf+streams, pan {sigma}", []).extend(scores(case, src))
                if sigma == TUNING.streams.pan_width:  # as registered since version 4: hedged
                    hedged = nmf.hedged(a, labels, TUNING.streams.hedge_share)
                    src = nmf.grouped_sources(case.mixture, w, h, hedged, k)
                    name = f"nmf+streams, pan {sigma}, hedged"
                    sdr.setdefault(name, []).extend(scores(case, src))
            src, _ = METHODS["nmf+streams"].run(case.mixture, k, rate=case.rate)
            sdr.setdefault("nmf+streams as registered", []).extend(scores(case, src))
            if args.nmf_only:
                continue
            outs, alike = learned.note_parts(both, case.mixture, case.rate)
            e = np.sum(np.asarray(outs, np.float64) ** 2, axis=2)  # (classes, channels)
            out_theta = np.arctan2(np.sqrt(e[:, 1]), np.sqrt(e[:, 0]))
            for sigma in SIGMAS:
                a = alike * pan_affinity(out_theta, sigma)
                src, _ = learned.group(outs, k, TUNING.floors.note_class, alike=a)
                sdr.setdefault(f"notenmf+classmask, pan {sigma}", []).extend(scores(case, src))
                n = both.counter.count(e.sum(1), a, both.notes.classes)  # as registered
                right.setdefault(f"notenmf+classmask, pan {sigma}", []).append(n == k)
        print(label)
        for name, v in sdr.items():
            count = f"  counting right {np.mean(right[name]):.0%}" if name in right else ""
            print(f"  {name:32s} SI-SDRi {np.median(v):+.2f}{count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
