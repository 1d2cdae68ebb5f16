"""A variant of the stem network against the preset's, on the pieces networks are chosen on.

    .venv/bin/python experiments/stemnet_variant.py --preset cpu --set stemnet.field=value
        [--split validation|test] [--smoke]

The variant is the preset with ``--set stemnet.field=value`` overrides (its network is
trained first if it is not cached: ``latentsep train-stem-models --preset cpu --set ...``).
Both networks run ``classmask`` and ``nmf+classmask``, the count given, on the validation
pieces in every training soundfont (median SI-SDRi; the 133 train pieces nothing learned
from: :func:`latentsep.pipeline.validation_tracks`); ``--split test`` scores the two test
sets instead, to report, not to choose. With issue 23's ``stemnet.transpose=3``:

    .venv/bin/python experiments/stemnet_variant.py --preset cpu --set stemnet.transpose=3

``--smoke`` compares the smoke preset's network with one trained on transposed parts
(``stemnet.transpose=3``, unless ``--set`` says otherwise) on the first piece of each test
set (the test suite does).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _shared import scored_sets

from latentsep import pipeline
from latentsep.cli import parse_overrides
from latentsep.evaluation import scoring
from latentsep.presets import get_preset

METHODS = ("classmask", "nmf+classmask")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--smoke", action="store_true", help="smoke preset, two test pieces")
    args = parser.parse_args(argv)
    pieces = None
    if args.smoke:
        args.preset, args.split, pieces = "smoke", "test", 1
        args.overrides = args.overrides or ["stemnet.transpose=3"]
    elif not args.overrides:
        parser.error("the variant needs at least one --set stemnet.field=value")
    base = get_preset(args.preset)
    variants = {"preset": base, "variant": get_preset(args.preset, parse_overrides(args.overrides))}
    sets = scored_sets(base, args.split, pieces)
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
            seconds = time.perf_counter() - t0
            print(f"{label}, {name} ({seconds:.0f} s), median SI-SDRi: {medians}", flush=True)
    print(json.dumps({"variant": args.overrides, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
