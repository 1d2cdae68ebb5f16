"""The latent space against the ground truth: which instrument dominates each latent frame,
and how well those labels can be read off the frames (silhouette, a linear probe).

Chapter 03 asks these questions of every autoencoder; they need the embedded dataset's
per-instrument stems, so they live here, beside the other measures against the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latentsep.audio import prepare
from latentsep.models.autoencoder import Autoencoder
from latentsep.separation.clustering import features
from latentsep.separation.latents import encode, frame_energies

SILENCE = "silence"


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


def probe(z: np.ndarray, table: pd.DataFrame) -> float:
    """Accuracy of a linear probe (logistic regression on standardised frames) that names a
    frame's instrument, trained on half the tracks and scored on the other half (2 folds
    grouped by track, averaged). Silent frames are left out."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    keep = (table["instrument"] != SILENCE).to_numpy()
    x, y, g = z[keep], table["instrument"][keep].to_numpy(), table["track"][keep].to_numpy()
    scores = []
    for tr, te in GroupKFold(n_splits=2).split(x, y, g):
        scaler = StandardScaler().fit(x[tr])
        clf = LogisticRegression(max_iter=300).fit(scaler.transform(x[tr]), y[tr])
        scores.append(clf.score(scaler.transform(x[te]), y[te]))
    return float(np.mean(scores))


def separability_table(
    frames: dict[str, tuple[np.ndarray, pd.DataFrame]], seed: int = 0
) -> pd.DataFrame:
    """Chapter 03's measures, one row per model: the silhouette of the true instrument
    labels pooled and within a track, the linear probe beside the majority class, and the
    variance in two principal components.

    Args:
        frames: model name -> :func:`collect`'s ``(frames × dimension, frame table)``.
        seed: for the silhouette's sample.
    """
    rows = {}
    for name, (z, table) in frames.items():
        per_track = [
            separability(
                features(z[(table["track"] == t).to_numpy()].T),
                table.loc[table["track"] == t, "instrument"].to_numpy(),
                seed=seed,
            )
            for t in table["track"].unique()
        ]
        pcs = np.linalg.svd(features(z.T), compute_uv=False) ** 2
        sounding = table.loc[table["instrument"] != SILENCE, "instrument"]
        rows[name] = {
            "silhouette, all tracks": separability(features(z.T), table["instrument"], seed=seed),
            "silhouette, within a track (median)": float(np.nanmedian(per_track)),
            "linear probe accuracy": probe(z, table),
            "majority-class accuracy": sounding.value_counts(normalize=True).iloc[0],
            "variance in 2 PCs": float(pcs[:2].sum() / pcs.sum()),
        }
    return pd.DataFrame(rows).T
