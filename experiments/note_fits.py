"""How ``notenmf`` fits its note atoms' activations (issue 23): speed and separation of each
way, on the validation pieces (or the test sets, to report).

    .venv/bin/python experiments/note_fits.py [--split validation|test] [--pieces 50] [--smoke]

Every variant fits the same 4,718 fixed atoms to a mixture's magnitudes by KL multiplicative
updates and shares the mixture among the classes by ratio masks, grouped as registered.

- ``full``: session 16's fit — 100 updates at full resolution from a flat start, the atoms
  below 10⁻³ of the loudest dropped after 20;
- ``pool P, U``: U updates on frames summed P at a time (P × 16 ms), the same pruning, the
  pooled activations spread back over the frames (``interp``: linearly between the pooled
  frames' centres), then ``+F`` more updates at full resolution;
- ``bands``: the full fit on a log-frequency band spectrum (every bin below 1 kHz, 24 bands an
  octave above) — cheaper, but the notes' partials blur.

``--smoke`` runs three of the variants with the smoke preset's note dictionaries on the first
piece of each test set (the test suite does).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _shared import scored_sets

from latentsep import pipeline, spectral
from latentsep.audio import resample
from latentsep.evaluation import metrics, scoring
from latentsep.presets import get_preset
from latentsep.separation import learned, nmf
from latentsep.tuning import TUNING


def bands_matrix(split_hz: float = 1000.0, per_octave: int = 24) -> np.ndarray:
    """``(bands, freqs)``: each bin shared linearly (log frequency above ``split_hz``)
    between its two nearest band centres; every column sums to one."""
    f = spectral.frequencies(nmf.NOTE_N_FFT, nmf.DICT_RATE)
    n = int(np.ceil(np.log2(f[-1] / split_hz) * per_octave))
    centres = np.concatenate([f[f < split_hz], split_hz * 2 ** (np.arange(n + 1) / per_octave)])
    m = np.zeros((len(centres), len(f)), np.float32)
    for k, fk in enumerate(f):
        j = min(int(np.searchsorted(centres, fk)), len(centres) - 1)
        if centres[j] <= fk or j == 0:
            m[j, k] = 1.0
            continue
        lo, hi = centres[j - 1], centres[j]
        a = (np.log(fk / lo) / np.log(hi / lo)) if lo > 0 else (fk - lo) / (hi - lo)
        m[j - 1, k], m[j, k] = 1 - a, a
    return m


def fit(v, w, pool=1, pooled=0, full=100, prune_after=20, interp=False, bands=None):
    """Activations ``(atoms, frames)`` of one variant (see the module's docstring)."""
    v, w = np.asarray(v, np.float32), np.asarray(w, np.float32)
    if bands is not None:
        v, w = bands @ v, bands @ w
    atoms, frames = w.shape[1], v.shape[1]
    keep = np.arange(atoms)

    def prune(h):
        energy = h.sum(axis=1)
        return energy >= energy.max() * 1e-3

    if pool > 1:
        n = -(-frames // pool)
        vp = np.pad(v, [(0, 0), (0, n * pool - frames)]).reshape(len(v), n, pool).sum(axis=2)
        hp = np.full((atoms, n), vp.sum(axis=0).mean() / atoms + 1e-9, np.float32)
        for _ in range(pooled):
            hp *= w.T @ (vp / (w @ hp + 1e-9))
        alive = prune(hp)
        keep, w, hp = keep[alive], w[:, alive], hp[alive] / pool
        if interp:
            centres = (np.arange(n) + 0.5) * pool - 0.5
            h = np.stack([np.interp(np.arange(frames), centres, r) for r in hp])
            h = h.astype(np.float32)
        else:
            h = np.repeat(hp, pool, axis=1)[:, :frames].copy()
        prune_after = -1
    else:
        h = np.full((atoms, frames), v.sum(axis=0).mean() / atoms + 1e-9, np.float32)
    for i in range(full):
        if i == prune_after:
            alive = prune(h)
            keep, w, h = keep[alive], w[:, alive], h[alive]
        h *= w.T @ (v / (w @ h + 1e-9))
    out = np.zeros((atoms, frames), np.float32)
    out[keep] = h
    return out, len(keep)


VARIANTS = {
    "full (session 16)": {},
    "bands": {"bands": True},
    "pool 8, 20 +80": {"pool": 8, "pooled": 20, "full": 80},
    "pool 16, 80 +20": {"pool": 16, "pooled": 80, "full": 20},
    "pool 32, 150 +20": {"pool": 32, "pooled": 150, "full": 20},
    "pool 32, 300 +10": {"pool": 32, "pooled": 300, "full": 10},
    "pool 32, 300": {"pool": 32, "pooled": 300, "full": 0},
    "pool 32, 300, interp": {"pool": 32, "pooled": 300, "full": 0, "interp": True},
    "pool 32, 600": {"pool": 32, "pooled": 600, "full": 0},
    "pool 64, 300": {"pool": 64, "pooled": 300, "full": 0},
    "pool 16, 300, interp": {"pool": 16, "pooled": 300, "full": 0, "interp": True},
}


SMOKE = ("full (session 16)", "bands", "pool 32, 300, interp")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--pieces", type=int, default=50, help="each set's first pieces")
    parser.add_argument("--smoke", action="store_true", help="smoke preset, two test pieces")
    args = parser.parse_args(argv)
    variants = VARIANTS
    if args.smoke:
        args.preset, args.split, args.pieces = "smoke", "test", 1
        variants = {k: VARIANTS[k] for k in SMOKE}
    base = get_preset(args.preset)
    dicts = pipeline.note_dictionaries(base, progress=False)[0]
    bands = bands_matrix()
    results = {}
    for label, tracks in scored_sets(base, args.split, args.pieces):
        cases = scoring.cases(tracks, base.model)
        gains = {k: [] for k in variants}
        seconds = {k: 0.0 for k in variants}
        kept = {k: [] for k in variants}
        for case in cases:
            y = resample(case.mixture, case.rate, nmf.DICT_RATE)
            spec = spectral.stft(y, *nmf.stft_grid(notes=True))
            v = np.abs(spec).mean(axis=0)
            for name, options in variants.items():
                options = {**options, "bands": bands if options.get("bands") else None}
                t0 = time.perf_counter()
                h, k = fit(v, dicts.templates, **options)
                seconds[name] += time.perf_counter() - t0
                kept[name].append(k)
                models = [
                    dicts.templates[:, dicts.owner == c] @ h[dicts.owner == c]
                    for c in range(len(dicts.classes))
                ]
                outs = nmf.masked_parts(y, spec, models, notes=True)
                outs = learned.at_rate(outs, case.mixture, case.rate, nmf.DICT_RATE)
                sources, _ = learned.group(outs, case.n_sources, TUNING.floors.nmf_class)
                rows = metrics.separation_scores(
                    case.references, sources, case.mixture, case.rate, False
                )
                gains[name] += [r["SI-SDRi (dB)"] for r in rows]
        results[label] = {
            name: {
                "median SI-SDRi (dB)": round(float(np.median(gains[name])), 2),
                "fit seconds a case": round(seconds[name] / len(cases), 2),
                "atoms kept": int(np.mean(kept[name])),
            }
            for name in variants
        }
        print(f"{label}: {len(cases)} cases", json.dumps(results[label], indent=1), flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
