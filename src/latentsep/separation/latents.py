"""Latent frames: encoding audio at the model's rate into frames, decoding frames back, in
chunks so that memory stays flat on long inputs."""

from __future__ import annotations

import numpy as np
import torch

from latentsep.models.autoencoder import Autoencoder


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
