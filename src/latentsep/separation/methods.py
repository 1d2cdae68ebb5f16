"""The separation methods without ground truth, registered by name.

The study's methods cluster the autoencoder's latent frames (K-Means, agglomerative,
DBSCAN, spectral) and decode each cluster alone, with the other clusters' frames zeroed.
Each has a ``+wiener`` variant that turns those decodings into soft masks on the mixture.
``"nmf"`` is the classic baseline and needs no model; ``"nmf+latent"`` groups the NMF
components by the autoencoder's latents of their sounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from latentsep.models.autoencoder import Autoencoder
from latentsep.separation import clustering, latents, masks, nmf
from latentsep.separation.base import METHODS, BlockRun, Estimates, Run, fits, register
from latentsep.tuning import TUNING

DESCRIPTIONS = {
    "kmeans": "the study: K-Means on latent frames, each cluster decoded alone",
    "agglomerative": "the study: Ward clustering of latent frames, each cluster decoded alone",
    "dbscan": "the study: DBSCAN on latent frames (finds its own number of clusters)",
    "spectral": "spectral clustering of latent frames, each cluster decoded alone",
}


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
    ks: Sequence[int] = (2, 3, 4),
    criterion: str = "silhouette",
) -> np.ndarray:
    """Cluster labels of latent frames ``(dimension, frames)``; ``n_sources=None`` chooses
    the number of clusters by ``criterion`` (DBSCAN finds its own)."""
    x = clustering.features(z)
    if n_sources is None and method != "dbscan":
        n_sources = clustering.choose_k(x, ks, criterion, seed)
    return clustering.cluster(x, method, n_sources, seed)


def _frame_clustering(algorithm: str) -> Run:
    def run(x, n_sources, *, model, seed=0, ks=(2, 3, 4), criterion="silhouette", **_):
        z = latents.encode(model, x)
        labels = cluster_frames(z, algorithm, n_sources, seed, ks, criterion)
        return decode_clusters(model, z, labels, x.shape[1]), labels

    return run


def with_wiener(run: Run) -> Run:
    """A method whose estimates re-share the mixture by their spectral power
    (:func:`~latentsep.separation.masks.wiener`): the outputs are parts of the mixture."""

    def wrapped(x, n_sources, **options) -> Estimates:
        sources, labels = run(x, n_sources, **options)
        return masks.wiener(x, sources), labels

    return wrapped


for _name in clustering.METHODS:
    register(
        _name,
        DESCRIPTIONS[_name],
        needs_model=True,
        tags=("study", "beyond") if _name == "kmeans" else ("study",),
    )(_frame_clustering(_name))
for _name in clustering.METHODS:
    register(
        f"{_name}+wiener",
        f"{_name} clusters as soft (Wiener) masks on the mixture",
        needs_model=True,
        tags=("beyond",) if _name in ("kmeans", "spectral") else (),
    )(with_wiener(METHODS[_name].run))


@register(
    "nmf",
    "KL-NMF of the spectrogram, components grouped by timbre (no model)",
    tags=("beyond", "baseline"),
)
def _nmf(x, n_sources, *, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    return nmf.separate(x, n_sources, seed=seed, ks=ks)


@fits("nmf")
def _nmf_fit(sample, n_sources, *, seed=0, ks=(2, 3, 4), **_) -> BlockRun:
    return nmf.fit(sample, n_sources, seed=seed, ks=ks)


@register(
    "nmf+harmonic",
    "KL-NMF components grouped by their harmonics' amplitudes (pitch-invariant timbre)",
    tags=("beyond",),
)
def _nmf_harmonic(x, n_sources, *, rate, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    embed = partial(_harmonic_embedding, rate)
    return nmf.separate(x, n_sources, seed=seed, ks=ks, embed=embed, standardize=False)


@fits("nmf+harmonic")
def _nmf_harmonic_fit(sample, n_sources, *, rate, seed=0, ks=(2, 3, 4), **_) -> BlockRun:
    embed = partial(_harmonic_embedding, rate)
    return nmf.fit(sample, n_sources, seed=seed, ks=ks, embed=embed, standardize=False)


def _harmonic_embedding(rate: int, mixture, w, h) -> np.ndarray:
    return nmf.harmonic_timbre(w, rate)


@register(
    "nmf+streams",
    "KL-NMF components grouped by harmonic timbre (between notes close in pitch) with soft "
    "cannot-links (sounding together) and must-links (one note following another), and by "
    "stereo position, each component hedged between groups by its affinity; six "
    "decompositions averaged, no model",
    tags=("beyond",),
    # 2: × the stereo positions; 3: timbre compared within TUNING.streams.timbre_span semitones;
    # 4: components hedged between the groups (nmf.hedged); 5: six decompositions averaged;
    # 6: their masks of TUNING.streams.power; 7: six random starts fitted longer
    # (TUNING.streams.members, TUNING.streams.fit); 8: hedged masks in float32, not float64
    # (the same within 1e-7 of full scale, a fifth faster)
    version=8,
)
def _nmf_streams(x, n_sources, *, rate, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    return nmf.separate(x, n_sources, seed=seed, ks=ks, **streams_options(rate))


@fits("nmf+streams")
def _nmf_streams_fit(sample, n_sources, *, rate, seed=0, ks=(2, 3, 4), **_) -> BlockRun:
    return nmf.fit(sample, n_sources, seed=seed, ks=ks, **streams_options(rate))


def streams_options(rate: int, **changes) -> dict:
    """``nmf+streams``' options for :func:`nmf.separate` and :func:`nmf.groupings`, with
    ``changes`` (an experiment's variant: ``members``, ``power``, ``hedge``, ``fit``)."""
    return {
        "affinity": partial(_streams, rate),
        "hedge": TUNING.streams.hedge_share,
        "members": TUNING.streams.members,
        "power": TUNING.streams.power,
        "fit": TUNING.streams.fit,
        **changes,
    }


def _streams(rate: int, mixture, w, h, n_fft: int) -> np.ndarray:
    links = nmf.stream_affinity(w, h, rate, span=TUNING.streams.timbre_span, n_fft=n_fft)
    return links * nmf.pan_affinity(nmf.channel_angles(mixture, w, h, n_fft=n_fft))


@register(
    "nmf+latent",
    "KL-NMF components grouped by the autoencoder's latents of their sounds",
    needs_model=True,
    tags=("beyond",),
)
def _nmf_latent(x, n_sources, *, model, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    embed = partial(nmf.latent_embeddings, model)
    return nmf.separate(x, n_sources, seed=seed, ks=ks, embed=embed)
