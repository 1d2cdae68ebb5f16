"""NMF of the magnitude spectrogram, its components grouped into sources.

The classic unsupervised baseline groups components by timbre: the shape of each spectral
template's envelope (MFCC-like descriptors). :func:`latent_embeddings` groups them by
where the autoencoder puts each component's sound instead — the study's idea that the
latent space organises timbre, applied to components that each hold one instrument's notes
rather than to frames in which every instrument plays at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.fft import dct
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from sklearn.preprocessing import StandardScaler

from latentsep.separation import clustering, masks
from latentsep.spectral import stft

N_COMPONENTS = 24


def timbre(basis: np.ndarray, n_coefficients: int = 13) -> np.ndarray:
    """MFCC-like timbre descriptors of spectral templates ``(freqs, components)``: the DCT of
    the log spectrum without its first coefficient, so loudness does not count."""
    logs = np.log(basis + 1e-8 * basis.max())
    return dct(logs, axis=0, norm="ortho")[1 : n_coefficients + 1].T


def decompose(
    mixture: np.ndarray, n_components: int = N_COMPONENTS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """KL-NMF of the channel-mean magnitude STFT: templates ``(freqs, components)`` and
    activations ``(components, frames)``."""
    v = np.abs(stft(mixture)).mean(axis=0)
    nmf = NMF(
        n_components,
        beta_loss="kullback-leibler",
        solver="mu",
        init="nndsvda",
        max_iter=200,
        tol=1e-3,
        random_state=seed,
    )
    return nmf.fit_transform(v), nmf.components_


def grouped_sources(
    mixture: np.ndarray, w: np.ndarray, h: np.ndarray, labels: np.ndarray, n: int
) -> list[np.ndarray]:
    """The mixture shared among ``n`` sources, source ``g`` being the components labelled
    ``g`` (ratio masks of their ``W_g H_g``)."""
    parts = [w[:, labels == g] @ h[labels == g] for g in range(n)]
    return masks.apply_masks(mixture, masks.ratio_masks(parts, power=1.0))


def component_sources(mixture: np.ndarray, w: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    """The mixture split into one signal per NMF component."""
    return grouped_sources(mixture, w, h, np.arange(w.shape[1]), w.shape[1])


def loudest_seconds(x: np.ndarray, rate: int, seconds: float = 4.0) -> np.ndarray:
    """The loudest whole seconds of ``x``, in order, at most ``seconds`` of them: enough
    to describe a sound, at a cost that does not grow with the track's length."""
    n = x.shape[-1] // rate
    if n <= seconds:
        return x
    energy = np.sum(x[..., : n * rate].reshape(x.shape[0], n, rate) ** 2, axis=(0, 2))
    keep = np.sort(np.argsort(energy)[::-1][: int(seconds)])
    return np.concatenate([x[..., i * rate : (i + 1) * rate] for i in keep], axis=-1)


def latent_embeddings(model, mixture: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Each component's sound (its loudest 4 s) through the autoencoder's encoder: the
    energy-weighted mean and standard deviation of its latent frames,
    ``(components, 2 × dimension)``."""
    from latentsep.separation import latents

    rows = []
    for x in component_sources(mixture, w, h):
        x = loudest_seconds(x, model.cfg.sample_rate)
        z = latents.encode(model, x)
        weight = latents.frame_energies([x], model.hop_length, z.shape[1])[0] + 1e-12
        mean = (z * weight).sum(axis=1) / weight.sum()
        std = np.sqrt(((z - mean[:, None]) ** 2 * weight).sum(axis=1) / weight.sum())
        rows.append(np.concatenate([mean, std]))
    return np.stack(rows)


def separate(
    mixture: np.ndarray,
    n_sources: int | None,
    n_components: int = N_COMPONENTS,
    seed: int = 0,
    ks=(2, 3, 4),
    embed: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sources and each NMF component's source label. Components are described by
    ``embed(mixture, w, h)`` (default: :func:`timbre` of the templates) and grouped by
    K-Means; ``n_sources=None`` picks the number of groups by silhouette."""
    w, h = decompose(mixture, n_components, seed)
    feats = embed(mixture, w, h) if embed is not None else timbre(w)
    feats = StandardScaler().fit_transform(feats)
    if n_sources is None:
        n_sources = clustering.choose_k(feats, [k for k in ks if k < n_components], seed=seed)
    labels = KMeans(n_sources, n_init=4, random_state=seed).fit_predict(feats)
    return grouped_sources(mixture, w, h, labels, n_sources), labels


def oracle_grouping(
    mixture: np.ndarray,
    references: list[np.ndarray],
    n_components: int = N_COMPONENTS,
    seed: int = 0,
) -> list[np.ndarray]:
    """The ceiling of NMF-based separation: each component goes to the true source it
    correlates with most (uses the references; a yardstick, not a method)."""
    w, h = decompose(mixture, n_components, seed)
    comps = component_sources(mixture, w, h)
    labels = np.array(
        [np.argmax([np.dot(c.ravel(), r.ravel()) for r in references]) for c in comps]
    )
    return grouped_sources(mixture, w, h, labels, len(references))
