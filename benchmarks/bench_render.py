"""Dataset rendering speed: seconds of audio rendered per wall-clock second.

Measures (1) the synthesizer alone on every stem of a few planned tracks, and (2) the full
build of a preset's dataset (planning: music21 parsing; rendering; writing; checksums). The
build is the book's own: when the dataset is not cached it is built (and timed) where the
book reads it; when it is, the time recorded when it was built is reported, so `make book`
renders the dataset once. ``--fresh`` times a build into a temporary folder instead.
Usage: python benchmarks/bench_render.py --preset cpu [--fresh]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import report

from latentsep import pipeline
from latentsep.data import render as embedded
from latentsep.presets import get_preset


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--tracks", type=int, default=8, help="tracks for the synth-only part")
    parser.add_argument("--fresh", action="store_true", help="time a build into a temp folder")
    args = parser.parse_args()
    cfg = get_preset(args.preset).data

    t0 = time.perf_counter()
    plan = embedded.plan(cfg)
    t_plan = time.perf_counter() - t0

    sample = plan[: args.tracks]
    t0 = time.perf_counter()
    stem_seconds = 0.0
    for spec, piece in sample:
        embedded.render_track(spec, piece, cfg)
        stem_seconds += len(spec.stems) * cfg.excerpt_seconds
    t_render = time.perf_counter() - t0

    art = pipeline.dataset_artifact(cfg)
    cached = (art.path / "manifest.json").is_file()
    if args.fresh or (cached and art.seconds() is None):  # no recorded time: measure one
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            embedded.build(cfg, Path(tmp) / "ds", art.key, progress=False)
            t_build, built = time.perf_counter() - t0, "now (temporary folder)"
    elif cached:  # the time recorded when it was built
        t_build, built = art.seconds(), f"when it was built (data/embedded/{art.key})"
    else:
        t0 = time.perf_counter()
        pipeline.dataset(cfg, progress=False)
        t_build, built = time.perf_counter() - t0, "now"

    tracks = cfg.n_train + cfg.n_test
    result = {
        "preset": args.preset,
        "tracks": tracks,
        "excerpt_seconds": cfg.excerpt_seconds,
        "sample_rate": cfg.sample_rate,
        "synth_stem_audio_s_per_s": round(stem_seconds / t_render, 1),
        "plan_s (music21 parsing)": round(t_plan, 1),
        "build_s (plan + render + write + checksums)": round(t_build, 1),
        "build measured": built,
        "build_mixture_audio_s_per_s": round(tracks * cfg.excerpt_seconds / t_build, 1),
    }
    return report(f"render-{args.preset}", result)


if __name__ == "__main__":
    main()
