"""Running a trained autoencoder over whole tracks, and scoring its reconstructions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from latentsep.audio import prepare
from latentsep.evaluation import metrics
from latentsep.models.autoencoder import Autoencoder
from latentsep.separation import latents


def reconstruct(model: Autoencoder, x: np.ndarray, chunk_seconds: float = 30.0) -> np.ndarray:
    """Encode and decode ``(channels, samples)`` audio (at the model's rate), in chunks of
    whole latent frames so memory stays flat on long tracks."""
    z = latents.encode(model, x, chunk_seconds)
    return latents.decode(model, z, x.shape[1], chunk_seconds)


def evaluate(model: Autoencoder, tracks, signals: list[np.ndarray] | None = None) -> pd.DataFrame:
    """Reconstruction metrics per test track (of ``signals``, default the "other" stems)."""
    if signals is None:
        signals = prepare([t.stems["other"] for t in tracks], tracks[0].rate, model.cfg)
    rows = []
    for t, x in zip(tracks, signals, strict=True):
        rows.append({"track": t.name, **metrics.reconstruction_metrics(x, reconstruct(model, x))})
    return pd.DataFrame(rows)
