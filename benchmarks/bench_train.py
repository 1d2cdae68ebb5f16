"""Autoencoder speed: training throughput (audio seconds per wall second) and inference speed
(× real time), for a preset's model on this machine's CPU or GPU.

Training is timed over a few optimiser steps on random audio of the preset's batch shape,
after one warm-up step; inference over a 30 s excerpt. Usage:
python benchmarks/bench_train.py --preset cpu   (also: --preset paper)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import report, stft_round_trip

from latentsep.device import pick_device
from latentsep.evaluation.reconstruction import reconstruct
from latentsep.models.autoencoder import Autoencoder
from latentsep.models.training import seconds_per_step
from latentsep.presets import get_preset


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0, help="inference excerpt")
    args = parser.parse_args()
    p = get_preset(args.preset)
    dev = pick_device()
    t_step = seconds_per_step(p, args.steps)
    model = Autoencoder(p.model).to(dev)

    audio = (
        0.1
        * np.random.default_rng(0).standard_normal(
            (p.model.channels, int(args.seconds * p.model.sample_rate))
        )
    ).astype(np.float32)
    reconstruct(model, audio[:, : p.model.sample_rate])  # warm-up
    t0 = time.perf_counter()
    reconstruct(model, audio)
    t_inf = time.perf_counter() - t0

    t_ref = stft_round_trip(audio)

    result = {
        "preset": args.preset,
        "device": str(dev),
        "torch threads": torch.get_num_threads(),
        "parameters (M)": round(model.n_parameters() / 1e6, 2),
        "batch": f"{p.train.batch_size} x {p.train.segment_seconds} s @ {p.model.sample_rate} Hz",
        "seconds per step": round(t_step, 3),
        "training audio s per s": round(p.train.batch_size * p.train.segment_seconds / t_step, 2),
        "inference x real time": round(args.seconds / t_inf, 1),
        "inference / STFT round trip": round(t_inf / t_ref, 1),
    }
    return report(f"train-{args.preset}-{dev.type}", result)


if __name__ == "__main__":
    main()
