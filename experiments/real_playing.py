"""The stem network taught with parts played as people play (issue 45): does training data
that varies like real playing carry the learned methods over to real instruments?

    .venv/bin/python experiments/real_playing.py [--steps N] [--share S] [--smoke]

Three networks, each scored on every excerpt of ``data/real/urmp-dev``
(``scripts/real_devset.py``) by ``classmask`` and ``nmf+classmask``, the true count given
and counted (``right (%)``):

- **shipped**: the cpu preset's network (15,000 steps on 600 soundfont-rendered pieces);
- **more steps**: that network trained ``--steps`` more on the dataset's own train split
  (both training soundfonts), parts as sampled — the control;
- **played**: the same steps, a share ``--share`` of the parts played as people play
  (``stemnet.playing``: vibrato, detuning, a volume curve, a microphone's colour, a room).

Both go on from the shipped weights (a warm restart at ``stemnet.refine_lr``), so the
comparison costs two short runs, not two trainings. Networks, their validation curves
(held-out rendered pieces: what the renders lose) and score tables are cached under
``data/experiments/real_playing/``, keyed by the settings, the excerpts and the code.
``--smoke`` does it all with the smoke preset on two synthetic pieces (the test suite does).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys

import pandas as pd
from real_streams import smoke_cases, summary

from latentsep import pipeline
from latentsep.evaluation import metrics, multitrack, scoring
from latentsep.models import stemnet, stemnet_training
from latentsep.paths import atomic_write, code_digest, data_dir, param_key
from latentsep.presets import get_preset
from latentsep.separation import base

METHODS = ("classmask", "nmf+classmask")
HERE = "real_playing"


def network(preset, name: str, steps: int, share: float, progress: bool):
    """The shipped network (``steps`` 0) or that network trained ``steps`` more with a
    ``share`` of its parts played, on the dataset's own train split; and its history."""
    net, history, _ = pipeline.stemnet_model(preset, progress=progress)
    if not steps:
        return net, history
    cfg = preset.stemnet
    tuned = dataclasses.replace(
        cfg, steps=cfg.steps + cfg.refine, refine=steps, playing=share, refine_lr=2e-4
    )
    played = inspect.getsource(stemnet_training.play) if share else None  # its code keys it
    key = param_key(
        [name, dataclasses.asdict(tuned), pipeline.stemnet_artifact(preset).key]
        + ([played] if played else [])
    )
    out = data_dir() / "experiments" / HERE / key
    if not (out / "stemnet.pt").is_file():
        parts = pipeline.stemnet_parts(preset, progress, data=preset.data)
        stemnet_training.train(
            tuned,
            parts,
            out,
            progress=progress,
            valid=pipeline.stemnet_validation(preset),
            refine_from=(net, history),
        )
    net, payload = stemnet.load(out / "stemnet.pt")
    return net, payload["history"]


def score(variant: str, net, cases_: list[scoring.Case], key: str) -> pd.DataFrame:
    """Each method's scores with ``net``, true count, and whether its own count was right."""
    path = data_dir() / "experiments" / HERE / f"{param_key([variant, key, code_digest()])}.csv"
    if path.is_file():
        return pd.read_csv(path)
    rows = []
    for method in METHODS:
        for case in cases_:
            run = dict(method=method, rate=case.rate, separator=net, seed=0)
            sources = base.separate(case.mixture, n_sources=case.n_sources, **run).sources
            counted = len(base.separate(case.mixture, **run).sources)
            for row in metrics.separation_scores(
                case.references, sources, case.mixture, case.rate, False, None
            ):
                rows.append(
                    {
                        "variant": f"{method}, {variant}",
                        "track": case.track,
                        "right": counted == case.n_sources,
                        **row,
                    }
                )
    table = pd.DataFrame(rows)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps of further training")
    parser.add_argument("--share", type=float, default=0.75, help="share of parts played")
    parser.add_argument("--smoke", action="store_true", help="smoke preset, synthetic pieces")
    args = parser.parse_args(argv)
    if args.smoke:
        preset, cases_, steps = get_preset("smoke"), smoke_cases(), 4
    else:
        if not pipeline.real_dev_set().is_dir():
            print(f"{pipeline.real_dev_set()}: lay it out with scripts/real_devset.py")
            return 2
        preset, steps = get_preset("cpu"), args.steps
        cases_ = multitrack.cases(multitrack.read_folder(pipeline.real_dev_set()), preset.model)
    key = json.dumps([[c.track for c in cases_], steps, args.share, args.smoke])
    tables, curves = [], {}
    for variant, share in (("shipped", None), ("more steps", 0.0), ("played", args.share)):
        net, history = network(preset, variant, 0 if share is None else steps, share or 0.0, False)
        valid = [h["valid SI-SDRi"] for h in history if "valid SI-SDRi" in h]
        curves[variant] = valid[-1] if valid else float("nan")
        tables.append(score(variant, net, cases_, key))
    scores = pd.concat(tables)
    print(f"SI-SDRi (dB) over (excerpt, instrument) pairs, {len(cases_)} excerpts, true count:")
    for method in METHODS:
        mine = scores[scores["variant"].str.startswith(f"{method}, ")]
        table = summary(mine)
        right = mine.groupby(["variant", "track"])["right"].first().groupby(level=0).mean()
        table["right (%)"] = 100 * right.reindex(table.index)
        print(table.round(2).to_string())
    print("held-out rendered pieces, classmask (the network's validation):")
    print(pd.Series(curves, name="SI-SDRi (dB)").round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
