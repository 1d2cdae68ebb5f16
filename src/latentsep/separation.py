"""From a mixture to estimated sources: ``separate(audio, model, method, n_sources)``.

The study's methods cluster the autoencoder's latent frames (K-Means, agglomerative,
DBSCAN, spectral) and decode each cluster alone, with the other clusters' frames zeroed.
A ``+wiener`` suffix (e.g. ``"kmeans+wiener"``) turns those decodings into soft masks on
the mixture. ``"nmf"`` is the classic baseline and needs no model; ``"nmf+latent"`` groups
the NMF components by the autoencoder's latents of their sounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from latentsep import clustering, latents, masks, nmf
from latentsep.audio import AudioError, check_audio, resample
from latentsep.model import Autoencoder
from latentsep.train import prepare

BASELINES = ("nmf",)  # need no model
METHODS = (
    clustering.METHODS
    + tuple(f"{m}+wiener" for m in clustering.METHODS)
    + BASELINES
    + ("nmf+latent",)
)
DEFAULT_METHOD = "kmeans"
#: Too short to cluster: fewer latent frames than this.
MIN_FRAMES = 16


@dataclass
class Separation:
    sources: list[np.ndarray]  # (channels, samples) each, at ``rate``
    rate: int
    method: str
    labels: np.ndarray | None  # cluster of each latent frame (or NMF component)
    seconds: float  # wall-clock time of the separation

    @property
    def n_sources(self) -> int:
        return len(self.sources)


def decode_clusters(
    model: Autoencoder, z: np.ndarray, labels: np.ndarray, length: int
) -> list[np.ndarray]:
    """The study's decoding: one source per cluster, the latent with every frame outside
    the cluster set to zero."""
    return [latents.decode(model, z * (labels == c)[None, :], length) for c in np.unique(labels)]


def cluster_frames(
    z: np.ndarray,
    method: str,
    n_sources: int | None,
    seed: int = 0,
    ks=(2, 3, 4),
    criterion: str = "silhouette",
) -> np.ndarray:
    """Cluster labels of latent frames ``(dimension, frames)``; ``n_sources=None`` chooses
    the number of clusters by ``criterion`` (DBSCAN finds its own)."""
    x = clustering.features(z)
    if n_sources is None and method != "dbscan":
        n_sources = clustering.choose_k(x, ks, criterion, seed)
    return clustering.cluster(x, method, n_sources, seed)


def separate(
    audio: np.ndarray,
    model: Autoencoder | None = None,
    method: str = "kmeans",
    n_sources: int | None = None,
    *,
    rate: int | None = None,
    seed: int = 0,
    ks=(2, 3, 4),
    criterion: str = "silhouette",
    name: str = "audio",
) -> Separation:
    """Separate ``(channels, samples)`` audio into sources.

    ``audio`` is at ``rate`` (default: the model's rate) and is resampled and mixed to the
    model's format; the sources come out in that format. ``n_sources=None`` estimates the
    number of instruments among ``ks``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown separation method {method!r}; choose one of {METHODS}")
    if n_sources is not None and n_sources < 1:
        raise ValueError(f"n_sources must be >= 1 or None, got {n_sources}")
    if model is None and method not in BASELINES:
        raise ValueError(f"method {method!r} needs a trained autoencoder (model=...)")
    if model is None and rate is None:
        raise ValueError("give the audio's sample rate (rate=...)")
    rate = rate or model.cfg.sample_rate
    model_rate = model.cfg.sample_rate if model is not None else rate
    hop = model.hop_length if model is not None else masks.HOP
    x = check_audio(audio, name, min_samples=int(np.ceil(MIN_FRAMES * hop * rate / model_rate)))
    start = time.perf_counter()
    if model is not None:
        x = prepare([x], rate, model.cfg)[0]
        rate = model.cfg.sample_rate
    if not np.any(np.abs(x) > 1e-6):  # e.g. stereo with L = -R, mixed down to mono
        raise AudioError(f"{name}: is silent (nothing to separate)")
    labels: np.ndarray | None
    if method == "nmf":
        sources, labels = nmf.separate(x, n_sources, seed=seed, ks=ks)
    elif method == "nmf+latent":
        embed = partial(nmf.latent_embeddings, model)
        sources, labels = nmf.separate(x, n_sources, seed=seed, ks=ks, embed=embed)
    else:
        frame_method, _, post = method.partition("+")
        z = latents.encode(model, x)
        labels = cluster_frames(z, frame_method, n_sources, seed, ks, criterion)
        sources = decode_clusters(model, z, labels, x.shape[1])
        if post == "wiener":
            sources = masks.wiener(x, sources)
    return Separation(sources, rate, method, labels, time.perf_counter() - start)


def resample_sources(sep: Separation, rate: int) -> list[np.ndarray]:
    """The sources at another sample rate."""
    return [resample(s, sep.rate, rate) for s in sep.sources]
