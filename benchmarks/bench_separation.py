"""Separation: the targets of issues 6 and 12 and the speed of every method.

- quality: median SI-SDR improvement over the mixture of each method on the embedded test
  set (the true number of instruments given), from the same cached evaluation as the book,
  also as a fraction of the oracle IRM, with the supervised twin (PIT) beside them;
- counting: how often the best counting rule finds the true number of instruments;
- speed: seconds to separate a 3-minute excerpt into 3 sources, and that time as a ratio
  to a reference run in the same process (one STFT + inverse STFT of the same audio), so
  that machines can be compared;
- metric evaluation: BSSEval v4 (museval) and SI-SDR on one test track, the ratio of the two;
- unseen timbres (issue 22): the same methods on the test pieces played by a soundfont no
  model trained on (FluidR3_GM), when it is installed;
- a song: the default method of ``latentsep separate`` on 3 minutes of 44.1 kHz stereo, of
  the test stems and, when it is laid out (``scripts/real_devset.py --song 240``), of real
  recordings;
- real recordings (issue 45): every method on the real development set
  (``scripts/real_devset.py``), the true count given and estimated, when it is laid out.

Usage: python benchmarks/bench_separation.py --preset cpu
"""

from __future__ import annotations

import argparse

import numpy as np
from common import best_time, report, stft_round_trip

from latentsep import pipeline, separation
from latentsep.audio import resample
from latentsep.data import synth
from latentsep.evaluation import metrics, scoring
from latentsep.presets import get_preset

TARGETS = scoring.TARGETS


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    base = get_preset(args.preset)
    blind = pipeline.blind_methods(base)
    test = pipeline.evaluate_test_set(
        base, blind + scoring.SUPERVISED, nmf_ceiling=True, progress=False
    )
    med = scoring.median_by_method(test.scores)
    best = med[blind].idxmax()
    unseen = unseen_medians(base, blind)
    real = real_scores(base, blind)
    song = song_seconds(test, base)
    real_song = real_song_seconds(base)

    # counting rules that need no stems (the supervised twin's outputs are not one of them),
    # and the speed: measured once, shared with chapter 06
    accuracy = scoring.count_accuracy(pipeline.source_counts(test, blind))
    right = accuracy["right (%)"].drop("always the most common count").to_dict()
    best_rule = max(right, key=right.get)
    speed = pipeline.method_speed(test, blind, args.seconds)
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
        "unseen timbres: median SI-SDRi (dB)": unseen,
        f"{separation.DEFAULT_METHOD}: seconds for a 180 s 44.1 kHz stereo song": song,
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
    if unseen:
        best_unseen = max(blind, key=lambda m: unseen.get(m, -np.inf))
        result["best on unseen timbres"] = best_unseen
        result["targets"]["unseen timbres: median SI-SDRi (dB)"] = [
            unseen[best_unseen],
            scoring.TARGETS_UNSEEN["median SI-SDRi (dB)"],
            bool(unseen[best_unseen] >= scoring.TARGETS_UNSEEN["median SI-SDRi (dB)"]),
        ]
    # issue 24: the method that needs no model against NMF grouped by the truth
    free, ceiling = separation.MODEL_FREE_METHOD, scoring.NMF_CEILING
    shares = {
        label: round(100 * float(d[free] / d[ceiling]), 1)
        for label, d in (("embedded", med), ("unseen timbres", unseen))
        if free in d and ceiling in d
    }
    result[f"{free} (no model): share of {ceiling} (%)"] = shares
    for label, share in shares.items():
        result["targets"][f"model-free share, {label} (%)"] = [
            share,
            scoring.TARGET_MODEL_FREE_SHARE,
            bool(share >= scoring.TARGET_MODEL_FREE_SHARE),
        ]
    if real:
        result["real recordings"] = real
        free_best = max(blind, key=lambda m: real["median SI-SDRi (dB)"].get(m, -np.inf))
        result["best on real recordings"] = free_best
        result["targets"]["real recordings: median SI-SDRi (dB)"] = [
            real["median SI-SDRi (dB)"][free_best],
            scoring.TARGETS_REAL["median SI-SDRi (dB)"],
            bool(
                real["median SI-SDRi (dB)"][free_best]
                >= scoring.TARGETS_REAL["median SI-SDRi (dB)"]
            ),
        ]
        counted = real["count right (%)"]
        best_count = max(counted, key=counted.get)
        result["targets"]["real recordings: count right (%)"] = [
            counted[best_count],
            scoring.TARGETS_REAL["count right (%)"],
            bool(counted[best_count] >= scoring.TARGETS_REAL["count right (%)"]),
        ]
    limit = scoring.TARGETS_UNSEEN["seconds for a 180 s song"]
    result["targets"]["seconds for a 180 s 44.1 kHz stereo song"] = [song, limit, song <= limit]
    if real_song is not None:
        result[f"{separation.DEFAULT_METHOD}: seconds for a real 180 s song"] = real_song
        result["targets"]["seconds for a real 180 s 44.1 kHz stereo song"] = [
            real_song,
            limit,
            real_song <= limit,
        ]
    return report(f"separation-{args.preset}", result)


def unseen_medians(base, blind: list[str]) -> dict[str, float]:
    """Every method's median on the test pieces played by the unseen soundfont (empty when
    that soundfont is not installed)."""
    if not synth.soundfont_available(pipeline.UNSEEN_SOUNDFONT):
        print(f"note: {pipeline.UNSEEN_SOUNDFONT} is not installed: no unseen-timbre numbers")
        return {}
    test = pipeline.evaluate_test_set(
        base,
        blind + scoring.SUPERVISED,
        nmf_ceiling=True,
        progress=False,
        soundfont=pipeline.UNSEEN_SOUNDFONT,
    )
    return {m: round(float(v), 2) for m, v in scoring.median_by_method(test.scores).items()}


def real_scores(base, blind: list[str]) -> dict:
    """Every method's median on the real development set and how often each counts right
    (empty when the set is not laid out: ``scripts/real_devset.py``)."""
    from latentsep.evaluation import multitrack

    folder = pipeline.real_dev_set()
    if not folder.is_dir():
        print(f"note: no real development set in {folder} (scripts/real_devset.py lays it out)")
        return {}
    pieces = multitrack.read_folder(folder)
    names = [*scoring.REFERENCES, scoring.NMF_CEILING, *blind, *scoring.SUPERVISED]
    names = [n for n in names if not pipeline.evaluation_problem(base, n)]
    tables = pipeline.evaluate_real(
        base,
        multitrack.excerpts(pieces),
        names,
        pipeline.real_scores_dir(folder),
        jobs=2,
        log=lambda line: None,
    )
    summary = tables["summary"]
    return {
        "pieces": len(pieces),
        "median SI-SDRi (dB)": summary["median SI-SDRi (dB)"].dropna().round(2).to_dict(),
        "count right (%)": summary["count right (%)"].dropna().round(1).to_dict(),
        "s per s of audio": summary["s per s of audio"].dropna().round(3).to_dict(),
    }


def song_seconds(test, base, seconds: float = 180.0, rate: int = 44100) -> float:
    """Seconds the default method of ``latentsep separate`` takes for a 3-minute 44.1 kHz
    stereo song (the test stems end to end, upsampled, the right channel at half level)."""
    mono = resample(scoring.long_excerpt(test.cases, seconds), test.cases[0].rate, rate)
    return _default_seconds(base, np.concatenate([mono, 0.5 * mono]), rate)


def real_song_seconds(base, seconds: float = 180.0, rate: int = 44100) -> float | None:
    """The same on real recordings: the first ``seconds`` of the real song-length piece
    (``pipeline.real_song``), resampled and panned alike; None when it is not laid out."""
    from latentsep.evaluation import multitrack

    folder = pipeline.real_song()
    if not folder.is_dir():
        print(f"note: no real song in {folder} (scripts/real_devset.py --song 240 lays it out)")
        return None
    piece = multitrack.read_folder(folder)[0]
    stems = piece.read(0, int(seconds * piece.rate)).values()
    mono = resample(np.sum(list(stems), axis=0).mean(axis=0, keepdims=True), piece.rate, rate)
    return _default_seconds(base, np.concatenate([mono, 0.5 * mono]), rate)


def _default_seconds(base, song: np.ndarray, rate: int) -> float:
    spec = separation.get_method(separation.DEFAULT_METHOD)
    net = pipeline.network(base, spec.name, progress=False)[0] if spec.learned else None
    sep = separation.separate(song, None, spec.name, None, rate=rate, separator=net)
    return round(sep.seconds, 2)


if __name__ == "__main__":
    main()
