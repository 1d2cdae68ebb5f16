"""``notenmf+classmask``'s counting model: each class output judged an instrument or a leak
by a logistic model of how loud it is and how much it sounds like a louder one, with one
bias per class (some classes' notes catch other instruments' leaks more: piano and synth
pads above all); the count is the most likely number of instruments. The model is data, not
code: fitted after the network on pieces it never learned from (:func:`fit_count_model`),
stored beside it (:meth:`CountModel.save`), retrained with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentsep.paths import atomic_write

#: What describes a class output, in :func:`output_features`' column order.
COUNT_FEATURES = ("level", "share", "louder alike", "most alike")
#: The logistic model's inverse L2 weight.
COUNT_C = 1.0
#: The bias of a class the fit did not see.
UNSEEN = ""


def output_features(energy: np.ndarray, alike: np.ndarray) -> np.ndarray:
    """Each output's level below the loudest and share of all outputs (dB, floored at
    −40), and how alike (:func:`~latentsep.separation.learned.coactivity`) it is to the most
    alike louder output and to the most alike other one: ``(M, 4)``, in
    :data:`COUNT_FEATURES`' order."""
    energy = np.asarray(energy, np.float64)
    db = lambda r: np.maximum(10 * np.log10(np.maximum(r, 1e-12)), -40.0)  # noqa: E731
    others = np.where(np.eye(len(energy), dtype=bool), 0.0, alike)
    louder = np.where(energy[None, :] > energy[:, None], others, 0.0).max(axis=1)
    return np.column_stack(
        [db(energy / energy.max()), db(energy / energy.sum()), louder, others.max(axis=1)]
    )


@dataclass(frozen=True)
class CountModel:
    """A logistic model of :func:`output_features`: ``weights`` by feature, a ``bias`` by
    class (:data:`UNSEEN` for a class it was not fitted on)."""

    weights: dict[str, float]
    bias: dict[str, float]

    def __post_init__(self) -> None:
        if tuple(self.weights) != COUNT_FEATURES or UNSEEN not in self.bias:
            raise ValueError(
                f"a counting model weighs {COUNT_FEATURES} and has a bias for unseen classes "
                f"(''): not {tuple(self.weights)}, {tuple(self.bias)}"
            )

    def likelihoods(self, energy: np.ndarray, alike: np.ndarray, classes: Sequence[str]):
        """Each output's log-odds of being an instrument (output ``i`` is ``classes[i]``)."""
        offset = np.array([self.bias.get(c, self.bias[UNSEEN]) for c in classes])
        return output_features(energy, alike) @ np.array(list(self.weights.values())) + offset

    def count(
        self,
        energy: np.ndarray,
        alike: np.ndarray,
        classes: Sequence[str],
        ks: Sequence[int] = (2, 3, 4),
    ) -> int:
        """The number of instruments in ``ks`` that makes the outputs' judgements most
        likely, the likeliest outputs being the instruments."""
        z = self.likelihoods(energy, alike, classes)
        yes, no = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)  # log p, log (1 − p)
        order = np.argsort(-z)
        return max(ks, key=lambda k: yes[order[:k]].sum() + no[order[k:]].sum())

    def save(self, path: Path) -> Path:
        text = json.dumps({"weights": self.weights, "bias": self.bias}, indent=1) + "\n"
        return atomic_write(path, lambda tmp: tmp.write_text(text))

    @classmethod
    def load(cls, path: Path) -> CountModel:
        try:
            data = json.loads(Path(path).read_text())
            return cls(dict(data["weights"]), dict(data["bias"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a counting model ({e})") from None


#: One piece's class outputs as the counting model learns them: their energies, their
#: co-activity, and which of ``classes`` play in the piece.
CountPiece = tuple[np.ndarray, np.ndarray, np.ndarray]


def fit_count_model(pieces: Sequence[CountPiece], classes: Sequence[str]) -> CountModel:
    """The counting model fitted on ``pieces`` (every class output a sample, labelled by
    whether its class plays): L2-regularised logistic regression of the
    :func:`output_features` and a one-hot class."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate(
        [np.hstack([output_features(e, a), np.eye(len(classes))]) for e, a, _ in pieces]
    )
    y = np.concatenate([np.asarray(plays, bool) for _, _, plays in pieces])
    if y.all() or not y.any():
        raise ValueError(
            f"a counting model needs outputs that play and outputs that do not: "
            f"{len(pieces)} pieces, every output {'plays' if y.any() else 'silent'}"
        )
    model = LogisticRegression(C=COUNT_C, max_iter=5000).fit(x, y)
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    weights = dict(zip(COUNT_FEATURES, map(float, coef[: len(COUNT_FEATURES)]), strict=True))
    bias = {UNSEEN: intercept} | {
        c: intercept + float(b) for c, b in zip(classes, coef[len(COUNT_FEATURES) :], strict=True)
    }
    return CountModel(weights, bias)
