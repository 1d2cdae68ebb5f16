"""Latent frames: encoding audio, decoding frames back, and labelling frames with the
instrument that dominates them (ground truth, from the embedded dataset's stems)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from latentsep.model import Autoencoder
from latentsep.train import prepare

SILENCE = "silence"


def _chunks(model: Autoencoder, n: int, chunk_seconds: float) -> list[slice]:
    hop = model.hop_length
    step = max(hop, int(chunk_seconds * model.cfg.sample_rate) // hop * hop)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


@torch.no_grad()
def encode(model: Autoencoder, x: np.ndarray, chunk_seconds: float = 30.0) -> np.ndarray:
    """Latent frames ``(dimension, frames)`` (the mean, for a VAE) of ``(channels, samples)``
    audio at the model's rate, in chunks of whole frames so memory stays flat."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for s in _chunks(model, x.shape[1], chunk_seconds):
        chunk = torch.from_numpy(np.ascontiguousarray(x[:, s]))[None].to(dev)
        out.append(model.encode(chunk).mean[0].float().cpu().numpy())
    return np.concatenate(out, axis=1)


@torch.no_grad()
def decode(
    model: Autoencoder, z: np.ndarray, length: int, chunk_seconds: float = 30.0
) -> np.ndarray:
    """Audio ``(channels, length)`` from latent frames ``(dimension, frames)``."""
    model.eval()
    dev = next(model.parameters()).device
    per_chunk = _chunks(model, length, chunk_seconds)
    hop = model.hop_length
    out = []
    for s in per_chunk:
        frames = torch.from_numpy(np.ascontiguousarray(z[:, s.start // hop : -(-s.stop // hop)]))
        out.append(model.decode(frames[None].to(dev), s.stop - s.start)[0].float().cpu().numpy())
    return np.concatenate(out, axis=1)


def frame_energies(parts: list[np.ndarray], hop: int, n_frames: int) -> np.ndarray:
    """Energy of each part in each latent frame: ``(parts, frames)``."""
    out = np.zeros((len(parts), n_frames))
    for i, x in enumerate(parts):
        mono = np.asarray(x, np.float64).mean(axis=0)
        mono = np.pad(mono, (0, max(0, n_frames * hop - mono.size)))[: n_frames * hop]
        out[i] = np.sum(mono.reshape(n_frames, hop) ** 2, axis=1)
    return out


def frame_labels(
    parts: dict[str, np.ndarray], hop: int, n_frames: int, silence_db: float = -50.0
) -> tuple[np.ndarray, np.ndarray]:
    """The dominant instrument of each frame (:data:`SILENCE` where the sum of the parts is
    ``silence_db`` below its loudest frame) and each part's share of the frame's energy."""
    energy = frame_energies(list(parts.values()), hop, n_frames)
    total = energy.sum(axis=0)
    shares = energy / np.maximum(total, 1e-20)
    names = np.array(list(parts), dtype=object)
    labels = names[np.argmax(energy, axis=0)]
    quiet = 10 * np.log10(total + 1e-20) < 10 * np.log10(total.max() + 1e-20) + silence_db
    labels[quiet] = SILENCE
    return labels, shares


def collect(model: Autoencoder, tracks) -> tuple[np.ndarray, pd.DataFrame]:
    """Every latent frame of the tracks' "other" stems, ``(frames, dimension)``, and a table
    with each frame's track, dominant instrument, its share, and every class's share."""
    zs, tables = [], []
    for t in tracks:
        x = prepare([t.stems["other"]], t.rate, model.cfg)[0]
        z = encode(model, x)
        parts = dict(
            zip(
                t.other_parts, prepare(list(t.other_parts.values()), t.rate, model.cfg), strict=True
            )
        )
        labels, shares = frame_labels(parts, model.hop_length, z.shape[1])
        table = pd.DataFrame(shares.T, columns=list(parts))
        table.insert(0, "dominance", shares.max(axis=0))
        table.insert(0, "instrument", labels)
        table.insert(0, "frame", np.arange(z.shape[1]))
        table.insert(0, "track", t.name)
        zs.append(z.T)
        tables.append(table)
    return np.concatenate(zs), pd.concat(tables, ignore_index=True).fillna(0.0)


def dimension_statistics(z: np.ndarray) -> pd.DataFrame:
    """Per latent dimension: mean, standard deviation, and the share of the total variance."""
    var = z.var(axis=0)
    return pd.DataFrame(
        {"mean": z.mean(axis=0), "std": np.sqrt(var), "variance share": var / var.sum()}
    ).rename_axis("dimension")


def separability(z: np.ndarray, labels: np.ndarray, max_frames: int = 4000, seed: int = 0) -> float:
    """Silhouette of the true instrument labels (silent frames left out): near 1 when each
    instrument's frames form their own tight cloud, near 0 or below when they overlap."""
    from sklearn.metrics import silhouette_score

    keep = np.asarray(labels) != SILENCE
    z, labels = z[keep], np.asarray(labels)[keep]
    if len(set(labels)) < 2:
        return float("nan")
    size = min(max_frames, len(labels))
    return float(silhouette_score(z, labels, sample_size=size, random_state=seed))
