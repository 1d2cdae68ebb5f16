"""MixIT with the study's latent space as its front end (issue 12, item 1).

    .venv/bin/python experiments/latent_mixit.py --preset cpu --front latent|both|spectrogram
        [--smoke]

The chapter-06 mask network (BLSTM → M softmax masks on the mixture's STFT, trained by MixIT
on mixtures of mixtures) reads its input from the frozen ``cpu`` autoencoder's encoder
instead of the log-magnitude spectrogram: each STFT frame gets the latent frame at its time
(linearly interpolated), layer-normalised. ``--front both`` gives it the two side by side;
``--front spectrogram`` is the shipped network's input, trained here at the autoencoder's
rate so the three compare on equal terms. Masking the mixture, not decoding latents, keeps
the autoencoder's reconstruction error (3.75 dB SI-SDR on "other") out of the output.

Scored on the test set with the true count, the outputs assigned to the instruments by the
truth and grouped without it (as ``mixit`` groups them); the result is printed and written
to ``data/experiments/latent-mixit-<front>-<preset>.json``. Not part of ``make bench``.
``--smoke`` trains the smoke preset's few steps on its autoencoder and scores its test set
(the test suite does).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time

import numpy as np
import torch
from _shared import report
from torch import nn

from latentsep import pipeline, presets
from latentsep.audio import prepare
from latentsep.evaluation import metrics, scoring
from latentsep.models import mixit
from latentsep.models.masknet import MaskNetwork
from latentsep.separation import learned
from latentsep.tuning import TUNING


def latent_separator(encoder, front: str):
    """A :class:`MaskNetwork` whose features come from ``encoder`` (frozen)."""
    dim = encoder.cfg.dimension

    class LatentSeparator(MaskNetwork):
        def __init__(self, cfg):
            super().__init__(cfg)
            width = dim + (self.bins if front == "both" else 0)
            self.norm = nn.LayerNorm(dim)
            self.inp = nn.Sequential(nn.Linear(width, cfg.hidden), nn.Tanh())
            self._audio = None

        def forward(self, x):
            self._audio = x
            return super().forward(x)

        def masks(self, spec):
            with torch.no_grad():
                z = encoder.encode(self._audio[:, None]).mean  # (batch, dim, latent frames)
            z = nn.functional.interpolate(z, size=spec.shape[-1], mode="linear")
            feats = self.norm(z.transpose(1, 2))
            if front == "both":
                feats = torch.cat([torch.log1p(spec.abs()).transpose(1, 2), feats], dim=-1)
            h, _ = self.rnn(self.inp(feats))
            logits = self.out(h).reshape(h.shape[0], h.shape[1], self.cfg.outputs, self.bins)
            return torch.softmax(logits, dim=2).permute(0, 2, 3, 1)

    return LatentSeparator


def scores(model, cases) -> tuple[list[float], list[float]]:
    """SI-SDRi per instrument: outputs assigned by the truth, and grouped without it."""
    assigned, grouped = [], []
    for c in cases:
        outs = learned.outputs(model, c.mixture, c.rate)
        refs = np.stack(list(c.references.values()))
        # each output to the instrument it projects onto most (uses the truth)
        sim = np.array(
            [[np.dot(o.ravel(), r.ravel()) / np.linalg.norm(r) for r in refs] for o in outs]
        )
        label = sim.argmax(axis=1)
        est = [
            outs[label == k].sum(axis=0) if np.any(label == k) else 0 * refs[0]
            for k in range(len(refs))
        ]
        for k, r in enumerate(refs):
            assigned.append(metrics.si_sdr(r, est[k]) - metrics.si_sdr(r, c.mixture))
        sources, _ = learned.group(outs, len(refs), TUNING.floors.silent)
        rows = metrics.separation_scores(c.references, sources, c.mixture, c.rate, bss=False)
        grouped += [row["SI-SDRi (dB)"] for row in rows]
    return assigned, grouped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--front", choices=("latent", "both", "spectrogram"), default="latent")
    parser.add_argument("--smoke", action="store_true", help="the smoke preset")
    args = parser.parse_args(argv)
    if args.smoke:
        args.preset = "smoke"
    torch.set_num_threads(2)
    p = presets.get_preset(args.preset)
    encoder = pipeline.trained_model(p, progress=False).eval()
    for param in encoder.parameters():
        param.requires_grad_(False)
    fmt = dataclasses.replace(p.model, channels=1)
    cfg = dataclasses.replace(p.separator, sample_rate=fmt.sample_rate)
    train = pipeline.tracks(p.data, "train")
    stems = prepare([t.stems["other"] for t in train], train[0].rate, fmt)
    cases = scoring.cases(pipeline.tracks(p.data, "test"), fmt)
    if args.front != "spectrogram":
        mixit.MaskNetwork = latent_separator(encoder, args.front)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model, history = mixit.train(cfg, stems, tmp, "mixit", progress=False)
    seconds = time.perf_counter() - t0
    assigned, grouped = scores(model, cases)
    report(
        f"latent-mixit-{args.front}-{args.preset}",
        {
            "front": args.front,
            "steps": cfg.steps,
            "sample rate": cfg.sample_rate,
            "training seconds": round(seconds, 1),
            "loss first / last": [round(history[0]["loss"], 2), round(history[-1]["loss"], 2)],
            "median SI-SDRi, outputs assigned by the truth (dB)": round(
                float(np.median(assigned)), 2
            ),
            "median SI-SDRi, grouped without the truth (dB)": round(float(np.median(grouped)), 2),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
