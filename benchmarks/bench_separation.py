"""Separation: the targets of issues 6 and 12 and the speed of every method.

- quality: median SI-SDR improvement over the mixture of each method on the embedded test
  set (the true number of instruments given), from the same cached evaluation as the book,
  also as a fraction of the oracle IRM, with the supervised twin (PIT) beside them;
- counting: how often the best counting rule finds the true number of instruments;
- speed: seconds to separate a 3-minute excerpt into 3 sources, and that time as a ratio
  to a reference run in the same process (one STFT + inverse STFT of the same audio), so
  that machines can be compared;
- metric evaluation: BSSEval v4 (museval) and SI-SDR on one test track, the ratio of the two.

Usage: python benchmarks/bench_separation.py --preset cpu
"""

from __future__ import annotations

import argparse

from common import best_time, report, stft_round_trip

from latentsep import pipeline
from latentsep.evaluation import metrics, scoring
from latentsep.presets import get_preset

TARGETS = scoring.TARGETS


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    base = get_preset(args.preset)
    test = pipeline.evaluate_test_set(
        base, scoring.BEYOND_METHODS + scoring.SUPERVISED, nmf_ceiling=True, progress=False
    )
    med = scoring.median_by_method(test.scores)
    best = med[scoring.BEYOND_METHODS].idxmax()

    # counting rules that need no stems (the supervised twin's outputs are not one of them),
    # and the speed: measured once, shared with chapter 06
    accuracy = scoring.count_accuracy(pipeline.source_counts(test, scoring.BEYOND_METHODS))
    right = accuracy["right (%)"].drop("always the most common count").to_dict()
    best_rule = max(right, key=right.get)
    speed = pipeline.method_speed(test, scoring.BEYOND_METHODS, args.seconds)
    t_stft = stft_round_trip(scoring.long_excerpt(test.cases, args.seconds))

    case = test.cases[0]
    refs = list(case.references.values())
    t_bss = best_time(lambda: metrics.bss_eval(refs, refs[::-1], case.rate), repeat=1)
    t_si = best_time(lambda: [metrics.si_sdr(r, e) for r, e in zip(refs, refs[::-1], strict=True)])

    result = {
        "preset": args.preset,
        "test tracks": len(test.cases),
        "median SI-SDRi (dB)": {m: round(float(v), 2) for m, v in med.items()},
        "fraction of oracle IRM": {
            m: round(float(v / med["oracle IRM"]), 3) for m, v in med.items()
        },
        "best unsupervised method": best,
        "supervised twin": {m: round(float(med[m]), 2) for m in scoring.SUPERVISED},
        "count right (%)": accuracy["right (%)"].round(1).to_dict(),
        "best counting rule": best_rule,
        f"seconds for {args.seconds:g} s": speed["seconds"].round(2).to_dict(),
        "× STFT round trip": (speed["seconds"] / t_stft).round(1).to_dict(),
        "STFT round trip (s)": round(t_stft, 3),
        "BSSEval per track (s)": round(t_bss, 2),
        "SI-SDR per track (s)": round(t_si, 4),
        "BSSEval / SI-SDR time": round(t_bss / t_si, 1),
        "targets": {
            "median SI-SDRi (dB)": [
                round(float(med[best]), 2),
                TARGETS["median SI-SDRi (dB)"],
                bool(med[best] >= TARGETS["median SI-SDRi (dB)"]),
            ],
            "count right (%)": [
                round(right[best_rule], 1),
                TARGETS["count right (%)"],
                bool(right[best_rule] >= TARGETS["count right (%)"]),
            ],
            # the speed target is for a 3-minute track: judged only when that is what ran
            f"seconds for {args.seconds:g} s": [
                round(float(speed.loc[best, "seconds"]), 2),
                TARGETS["seconds for 180 s"] if args.seconds == 180 else None,
                bool(speed.loc[best, "seconds"] < TARGETS["seconds for 180 s"])
                if args.seconds == 180
                else None,
            ],
        },
    }
    return report(f"separation-{args.preset}", result)


if __name__ == "__main__":
    main()
