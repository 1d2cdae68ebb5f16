"""Counting instruments by polyphony (issue 45): in ensemble music each instrument mostly plays
one note at a time, so the number of notes sounding together tells the number of players.

    .venv/bin/python experiments/polyphony_count.py [--smoke]

For every threshold and percentile of :func:`polyphony_count`, how
often it finds the true number of instruments on the real development set
(``scripts/real_devset.py``) and on the embedded test set, beside ``nmf+streams``' own count
(the eigengap of its affinity).
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np
import pandas as pd

from latentsep import pipeline, separation
from latentsep.evaluation import multitrack, scoring
from latentsep.presets import get_preset
from latentsep.separation import nmf
from latentsep.spectral import N_FFT


def polyphony(
    w: np.ndarray, h: np.ndarray, rate: int, n_fft: int = N_FFT, floor: float = 0.1
) -> np.ndarray:
    """How many distinct notes (fundamentals a semitone apart or more) sound in each frame:
    the components within ``floor`` of the frame's loudest, frames quieter than a tenth of
    the loud ones left out."""
    energy = h * w.sum(axis=0)[:, None]
    total = energy.sum(axis=0)
    loud = total >= 0.1 * np.percentile(total, 95)
    pitch = np.round(12 * np.log2(nmf.fundamentals(w, rate, n_fft)))
    active = energy[:, loud] >= floor * energy[:, loud].max(axis=0, keepdims=True)
    return np.array([len(set(pitch[a])) for a in active.T])


def polyphony_count(
    w: np.ndarray,
    h: np.ndarray,
    rate: int,
    ks=(2, 3, 4),
    floor: float = 0.1,
    percentile: float = 75,
    n_fft: int = N_FFT,
) -> int:
    """The number of instruments as the ``percentile`` of the notes sounding together
    (:func:`polyphony`), within ``ks``: each player of an ensemble mostly plays one note
    at a time."""
    notes = polyphony(w, h, rate, n_fft, floor)
    n = int(round(np.percentile(notes, percentile))) if notes.size else min(ks)
    return int(np.clip(n, min(ks), max(ks)))


THRESHOLDS = (0.05, 0.1, 0.2, 0.3)
PERCENTILES = (50, 75, 90)
KS = (2, 3, 4, 5)


def sets(preset, smoke: bool) -> dict[str, list[scoring.Case]]:
    if smoke:
        from real_streams import smoke_cases  # noqa: PLC0415 - beside this script

        return {"smoke": smoke_cases()}
    out = {}
    if pipeline.real_dev_set().is_dir():
        out["real (URMP)"] = multitrack.cases(
            multitrack.read_folder(pipeline.real_dev_set()), preset.model
        )
    tracks = pipeline.rendered_tracks(preset.data, "TimGM6mb", "test", None, False)
    out["embedded test"] = scoring.cases(tracks, preset.model)
    return out


def counts(case: scoring.Case, streams: bool) -> dict:
    w, h = nmf.decompose(case.mixture, nmf.N_COMPONENTS, 0)
    row = {"true": case.n_sources}
    for t, q in itertools.product(THRESHOLDS, PERCENTILES):
        row[f"polyphony {t:g}, p{q}"] = polyphony_count(w, h, case.rate, KS, t, q)
    if streams:
        row["nmf+streams (eigengap)"] = separation.separate(
            case.mixture, None, "nmf+streams", None, rate=case.rate, ks=KS
        ).n_sources
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-streams", action="store_true", help="skip nmf+streams' count")
    args = parser.parse_args(argv)
    preset = get_preset("cpu")
    table = {}
    for name, cases_ in sets(preset, args.smoke).items():
        rows = pd.DataFrame([counts(c, not (args.no_streams or args.smoke)) for c in cases_])
        rules = rows.columns.drop("true")
        table[f"{name}: right (%)"] = {
            r: 100 * float(np.mean(rows[r] == rows["true"])) for r in rules
        }
    print(pd.DataFrame(table).round(1).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
