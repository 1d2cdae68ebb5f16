"""A variant of the stem network against the preset's, on the pieces networks are chosen on.

The variant is the preset with ``--set stemnet.field=value`` overrides (its network is
trained first if it is not cached: ``latentsep train-separator --preset cpu --set ...``).
Both networks run ``classmask`` and ``nmf+classmask``, the count given, on the validation
pieces in every training soundfont (median SI-SDRi; the 133 train pieces nothing learned
from: :func:`latentsep.pipeline.validation_tracks`); ``--split test`` scores the two test
sets instead, to report, not to choose. With issue 23's ``stemnet.transpose=3``:

    python benchmarks/probe_network.py --preset cpu --set stemnet.transpose=3
"""

from __future__ import annotations

import argparse
import json
import time

from common import probe_sets

from latentsep import pipeline
from latentsep.cli import parse_overrides
from latentsep.evaluation import scoring
from latentsep.presets import get_preset

METHODS = ("classmask", "nmf+classmask")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], required=True)
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    args = parser.parse_args()
    base = get_preset(args.preset)
    variants = {"preset": base, "variant": get_preset(args.preset, parse_overrides(args.overrides))}
    sets = probe_sets(base, args.split)
    out: dict[str, dict] = {}
    for label, tracks in sets:
        cases = scoring.cases(tracks, base.model)
        for name, preset in variants.items():
            t0 = time.perf_counter()
            net = pipeline.network(preset, "classmask")[0]
            methods = scoring.methods_for(METHODS, None, separators=dict.fromkeys(METHODS, net))
            scores, _ = scoring.evaluate(cases, methods, bss=False, progress=False)
            medians = scoring.median_by_method(scores).round(2).to_dict()
            out.setdefault(label, {})[name] = medians
            print(f"{label}, {name} ({time.perf_counter() - t0:.0f} s): {medians}", flush=True)
    print(json.dumps({"variant": args.overrides, **out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
