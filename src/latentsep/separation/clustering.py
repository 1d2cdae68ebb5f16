"""Clustering latent frames, the study's way: K-Means, agglomerative, DBSCAN and spectral
clustering from scikit-learn, and two ways to choose the number of clusters."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors, kneighbors_graph
from sklearn.preprocessing import StandardScaler

METHODS = ("kmeans", "agglomerative", "dbscan", "spectral")
#: Agglomerative and spectral clustering cost O(frames²) memory: longer inputs are fitted
#: on evenly spaced frames, and the other frames join the nearest cluster's centre.
MAX_FIT_FRAMES = 3000


def features(z: np.ndarray) -> np.ndarray:
    """Latent frames ``(dimension, frames)`` as standardised rows ``(frames, dimension)``."""
    return StandardScaler().fit_transform(np.asarray(z, np.float64).T)


def _nearest_centre(x: np.ndarray, fitted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    centres = np.stack([fitted[labels == i].mean(axis=0) for i in ids])
    d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return ids[np.argmin(d, axis=1)]


def _dbscan(x: np.ndarray) -> np.ndarray:
    # eps from the data: the median distance to the 10th neighbour, so that DBSCAN finds
    # dense regions in any latent space (sklearn's default eps=0.5 labels all noise here).
    nn = NearestNeighbors(n_neighbors=min(10, len(x) - 1)).fit(x)
    eps = float(np.median(nn.kneighbors(x)[0][:, -1]))
    labels = DBSCAN(eps=max(eps, 1e-9), min_samples=10).fit_predict(x)
    core = labels >= 0
    if not core.any():
        return np.zeros(len(x), dtype=int)
    labels[~core] = _nearest_centre(x[~core], x[core], labels[core])  # no frame left out
    return labels


def cluster(x: np.ndarray, method: str, k: int | None, seed: int = 0) -> np.ndarray:
    """Cluster labels ``0..n-1`` for each row of ``x``; ``k`` is ignored by DBSCAN, which
    finds its own number of clusters. The same seed gives the same labels."""
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {METHODS}")
    x = np.asarray(x, np.float64)
    if method == "dbscan":
        labels = _dbscan(x)
    else:
        if k is None or k < 1:
            raise ValueError(f"{method} needs the number of clusters k >= 1, got {k}")
        k = min(k, len(x))
        if method == "kmeans":
            labels = KMeans(k, n_init=4, random_state=seed).fit_predict(x)
        else:
            step = max(1, -(-len(x) // MAX_FIT_FRAMES))
            fit = x[::step]
            if method == "agglomerative":
                fitted = AgglomerativeClustering(k, linkage="ward").fit_predict(fit)
            else:
                fitted = SpectralClustering(
                    k,
                    affinity="nearest_neighbors",
                    n_neighbors=min(10, len(fit) - 1),
                    random_state=seed,
                    assign_labels="cluster_qr",
                ).fit_predict(fit)
            labels = fitted if step == 1 else _nearest_centre(x, fit, fitted)
    _, labels = np.unique(labels, return_inverse=True)  # renumber 0..n-1
    return labels.astype(int)


def silhouette_k(x: np.ndarray, ks=(2, 3, 4), seed: int = 0) -> int:
    """The k whose K-Means clustering has the highest silhouette."""
    size = min(2000, len(x))
    scores = {
        k: silhouette_score(x, cluster(x, "kmeans", k, seed), sample_size=size, random_state=seed)
        for k in ks
        if k < len(x)
    }
    return max(scores, key=scores.get)


def eigengap_k(x: np.ndarray, ks=(2, 3, 4), seed: int = 0) -> int:
    """The k after which the normalised graph Laplacian's eigenvalues jump most (von Luxburg
    2007): k well-separated groups give k eigenvalues near 0."""
    step = max(1, -(-len(x) // 1500))
    fit = x[::step]
    graph = kneighbors_graph(fit, n_neighbors=min(10, len(fit) - 1), include_self=False)
    return affinity_eigengap_k(0.5 * (graph + graph.T).toarray(), ks)


def affinity_eigengap_k(affinity: np.ndarray, ks=(2, 3, 4)) -> int:
    """:func:`eigengap_k` on a given symmetric affinity matrix."""
    from scipy.sparse.csgraph import laplacian

    values = np.linalg.eigvalsh(laplacian(affinity, normed=True))[: max(ks) + 1]
    gaps = {k: values[k] - values[k - 1] for k in ks if k < len(values)}
    return max(gaps, key=gaps.get)


def gaussian_affinity(x: np.ndarray) -> np.ndarray:
    """exp(−d²/median d²) between the rows of ``x``: 1 for identical rows, the median pair
    at 1/e, whatever the features' scale."""
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    return np.exp(-d / (np.median(d[d > 0]) + 1e-12)) if np.any(d > 0) else np.ones_like(d)


def spectral_groups(affinity: np.ndarray, k: int | None, ks=(2, 3, 4), seed: int = 0) -> np.ndarray:
    """Spectral clustering of a precomputed affinity into ``k`` groups (None: by eigengap)."""
    k = k if k is not None else affinity_eigengap_k(affinity, [c for c in ks if c < len(affinity)])
    return SpectralClustering(k, affinity="precomputed", random_state=seed, n_init=10).fit_predict(
        affinity
    )


def choose_k(x: np.ndarray, ks=(2, 3, 4), criterion: str = "silhouette", seed: int = 0) -> int:
    """The number of clusters by ``criterion``: "silhouette" or "eigengap"."""
    if criterion == "silhouette":
        return silhouette_k(x, ks, seed)
    if criterion == "eigengap":
        return eigengap_k(x, ks, seed)
    raise ValueError(f"unknown criterion {criterion!r}; choose 'silhouette' or 'eigengap'")
