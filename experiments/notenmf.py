"""``notenmf`` (issue 23): NMF whose atoms are the training soundfonts' own notes, beside the
methods it would replace, on the pieces methods are chosen on.

    .venv/bin/python experiments/notenmf.py --preset cpu [--split validation|test] [--pieces 50]
        [--no-baselines] [--mask-weights 0.1 0.25 0.5] [--smoke]

For every case the note atoms' activations are fitted once (as registered:
``nmf.note_activations``); the class parts are shared out by ratio masks and grouped with the
true count — ``co-activity``: the sounding class outputs clustered by how alike their models'
spectrograms are (``learned.coactivity``; as registered at −15 dB, and at −6), ``envelope``:
clustered by envelope (``supervisednmf``'s grouping), ``named``: the loudest classes are the
sources (``classmask``'s) — and by the oracle (each class output to the instrument it
correlates with most: the ceiling of any grouping; ``classmask``'s class outputs grouped so
too). ``notenmf+classmask`` at each ``--mask-weights`` (its class models weighed by the stem
network's class masks to that power), grouped as registered and by the oracle. Then how
often each floor and leak threshold (``learned.count_unlike``) counts right.
The baselines, as registered: ``classmask``, ``supervisednmf`` and ``nmf+classmask``.
``validation`` (the default): the train pieces no network or dictionary learned from, in
every training soundfont; ``test``: the two test sets, to report. ``--smoke`` does it all
with the smoke preset's dictionaries and network on the first piece of each test set (the
test suite does).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _shared import scored_sets

from latentsep import pipeline
from latentsep.evaluation import metrics, scoring
from latentsep.presets import get_preset
from latentsep.separation import learned
from latentsep.tuning import TUNING

BASELINES = ("classmask", "supervisednmf", "nmf+classmask")
FLOORS_DB = (-6, -10, -15, -20)
LEAKS = (0.3, 0.4, 0.5, 0.6, 0.7, 1.01)  # 1.01: every sounding output counts
KS = (2, 3, 4)


def gains(case, sources) -> list[float]:
    rows = metrics.separation_scores(case.references, sources, case.mixture, case.rate, False)
    return [r["SI-SDRi (dB)"] for r in rows]


def oracle_labels(case, outs: np.ndarray) -> np.ndarray:
    """Each class output to the instrument it correlates with most."""
    refs = list(case.references.values())
    return np.array([np.argmax([np.dot(o.ravel(), r.ravel()) for r in refs]) for o in outs])


def note_variants(case, dicts) -> tuple[dict[str, list[float]], dict[str, bool]]:
    """SI-SDRi of each grouping's sources, and whether each counting rule is right."""
    outs, alike = learned.note_parts(learned.NotesAndMasks(dicts), case.mixture, case.rate)
    return groupings(case, outs, alike)


def weighed(case, dicts, net, weights) -> tuple[dict[str, list[float]], dict[str, bool]]:
    """``notenmf+classmask`` as registered (co-activity at −15 dB) at each mask weight: its
    sources' SI-SDRi, and whether each counting rule is right."""
    scores, right = {}, {}
    both = learned.NotesAndMasks(dicts, net)
    for weight in weights:
        outs, alike = learned.note_parts(both, case.mixture, case.rate, weight)
        name = f"notenmf+classmask, weight {weight}"
        n = case.n_sources
        sources = learned.group(outs, n, TUNING.floors.note_class, KS, alike=alike)[0]
        scores[name] = gains(case, sources)
        scores[f"{name}, oracle grouping"] = gains(
            case, learned.by_label(outs, oracle_labels(case, outs), n)
        )
        right |= {f"{name}, {k}": v for k, v in counts(outs, alike, n).items()}
    return scores, right


def counts(outs, alike, n) -> dict[str, bool]:
    """Whether each floor and leak threshold (``learned.count_unlike``) counts ``n``."""
    energy = learned.energies(outs)
    return {
        f"{floor} dB, leak {leak}": learned.count_unlike(energy, alike, floor, KS, leak) == n
        for floor in FLOORS_DB
        for leak in LEAKS
    }


def groupings(case, outs, alike) -> tuple[dict[str, list[float]], dict[str, bool]]:
    """The groupings' SI-SDRi of class outputs, and the counting rules' rightness."""
    n, out = case.n_sources, {}
    for name, floor, options in (
        ("co-activity, -15 dB (registered)", TUNING.floors.note_class, {"alike": alike}),
        ("co-activity, -6 dB", -6.0, {"alike": alike}),
        ("envelope, -6 dB", -6.0, {}),
        ("named", -6.0, {"named": True}),
    ):
        out[name] = gains(case, learned.group(outs, n, floor, KS, **options)[0])
    out["oracle grouping"] = gains(case, learned.by_label(outs, oracle_labels(case, outs), n))
    return out, counts(outs, alike, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--pieces", type=int, default=None, help="each set's first pieces")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--mask-weights",
        type=float,
        nargs="*",
        default=[TUNING.note_masks.weight],
        help="notenmf+classmask's weights of the class masks to score (none: skip it)",
    )
    parser.add_argument("--smoke", action="store_true", help="smoke preset, two test pieces")
    args = parser.parse_args(argv)
    if args.smoke:
        args.preset, args.split, args.pieces = "smoke", "test", 1
    base = get_preset(args.preset)
    dicts = pipeline.note_dictionaries(base, progress=False)[0]
    nets = {m: pipeline.network(base, m, progress=False)[0] for m in BASELINES}
    results = {}
    for label, tracks in scored_sets(base, args.split, args.pieces):
        cases = scoring.cases(tracks, base.model)
        scores: dict[str, list[float]] = {}
        right: dict[str, list[bool]] = {}
        t0 = time.perf_counter()
        for case in cases:
            outs = learned.outputs(nets["classmask"], case.mixture, case.rate)
            scores.setdefault("classmask, oracle grouping", []).extend(
                gains(case, learned.by_label(outs, oracle_labels(case, outs), case.n_sources))
            )
            variants, counted = note_variants(case, dicts)
            for name, g in variants.items():
                scores.setdefault(f"notenmf {name}", []).extend(g)
            for name, ok in counted.items():
                right.setdefault(f"notenmf {name}", []).append(ok)
            variants, counted = weighed(case, dicts, nets["classmask"], args.mask_weights)
            for name, g in variants.items():
                scores.setdefault(name, []).extend(g)
            for name, ok in counted.items():
                right.setdefault(name, []).append(ok)
        seconds = (time.perf_counter() - t0) / len(cases)
        medians = {k: round(float(np.median(v)), 2) for k, v in scores.items()}
        if not args.no_baselines:
            methods = scoring.methods_for(BASELINES, None, separators=nets)
            table, _ = scoring.evaluate(cases, methods, bss=False, progress=False)
            medians |= scoring.median_by_method(table).round(2).to_dict()
        counts = {k: round(100 * float(np.mean(v))) for k, v in right.items()}
        results[label] = {"median SI-SDRi (dB)": medians, "count right (%)": counts}
        print(f"{label}: {len(cases)} cases, notenmf {seconds:.1f} s a case", flush=True)
        print(json.dumps(results[label], indent=1), flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
