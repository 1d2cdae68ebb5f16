"""The decomposition itself: KL-NMF of a mixture's magnitude spectrogram into spectral
templates and their activations, each fit kept for reuse while :func:`reusing_fits` is
open, and the mixture shared among the components (:func:`component_sources`) or among
groups of them (:func:`grouped_sources`, :func:`hedged`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from sklearn.decomposition._nmf import _initialize_nmf

from latentsep import spectral
from latentsep.separation import masks
from latentsep.spectral import hop_of, istft, stft
from latentsep.tuning import TUNING

N_COMPONENTS = 24
#: Longer inputs learn their templates on this many evenly spaced STFT frames.
MAX_FIT_FRAMES = 1500


def magnitudes(mixture: np.ndarray, n_fft: int = spectral.N_FFT) -> np.ndarray:
    """The channel-mean magnitude STFT ``(freqs, frames)`` that NMF decomposes."""
    return np.abs(stft(mixture, n_fft, hop_of(n_fft))).mean(axis=0)


#: The fits kept while :func:`reusing_fits` is open (None: none is kept).
_FITS: dict[tuple, object] | None = None


@contextmanager
def reusing_fits() -> Iterator[None]:
    """Within the block, a fit (:func:`decompose`, :func:`activations`,
    :func:`note_activations`) of the same data with the same settings runs once and is
    reused, with identical results: a piece's true-count and counting runs fit the same
    decompositions, the count only groups them (``latentsep evaluate`` scores each piece in
    such a block)."""
    global _FITS
    outer, _FITS = _FITS, {}
    try:
        yield
    finally:
        _FITS = outer


def _token(value) -> object:
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return (value.shape, str(value.dtype), hashlib.sha1(data.view(np.uint8)).hexdigest())
    return repr(value)


def reused(fn: Callable) -> Callable:
    """``fn``, its results kept by its arguments while :func:`reusing_fits` is open."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _FITS is None:
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = (fn.__name__, *(_token(v) for v in bound.arguments.values()))
        if key not in _FITS:
            _FITS[key] = fn(*args, **kwargs)
        out = _FITS[key]  # copies: a caller may change its arrays in place
        return tuple(a.copy() for a in out) if isinstance(out, tuple) else out.copy()

    return wrapper


@reused
def decompose(
    mixture: np.ndarray,
    n_components: int = N_COMPONENTS,
    seed: int = 0,
    n_fft: int = spectral.N_FFT,
    start: int | None = None,
    fit: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """KL-NMF of the channel-mean magnitude STFT (``n_fft`` points): templates ``(freqs,
    components)`` and activations ``(components, frames)``, started from NNDSVD (``start``
    None) or from random factors drawn with the seed ``start``; ``fit``: ``max_iter`` and
    ``tol`` other than 200 updates and 10⁻³.

    Inputs longer than :data:`MAX_FIT_FRAMES` frames (about 35 s) learn their templates on
    that many evenly spaced frames, then fit every frame's activations with the templates
    fixed: a 3-minute track costs a fifth of a full fit, and shorter ones are unchanged."""
    v = magnitudes(mixture, n_fft)
    step = fit_step(v.shape[1])
    fitted = kl_nmf(
        v[:, ::step],
        n_components,
        seed if start is None else start,
        init="nndsvda" if start is None else "random",
        **{**_KL, **(fit or {})},
    )
    return fitted if step == 1 else (fitted[0], activations(v, fitted[0]))


_KL = dict(max_iter=200, tol=1e-3)
#: scikit-learn's floor under a model's values (``sklearn.decomposition._nmf.EPSILON``).
_EPS = np.finfo(np.float32).eps


def kl_nmf(
    v: np.ndarray,
    n_components: int,
    seed: int = 0,
    init: str = "nndsvda",
    max_iter: int = 200,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """KL-NMF ``v ≈ w h`` by multiplicative updates: templates ``(freqs, components)`` and
    activations ``(components, frames)``, from scikit-learn's start ``init`` (``"random"``
    or ``"nndsvda"``) for ``seed``; at most ``max_iter`` updates, stopping where ten of them
    gain less than ``tol`` of the first error. Exactly ``NMF(beta_loss="kullback-leibler",
    solver="mu")``'s fit, to the bit (``tests/test_separation.py``), a fifth faster
    (:func:`_kl_mu`)."""
    w, h = _initialize_nmf(v, n_components, init=init, random_state=seed)
    return _kl_mu(v, w, h, max_iter, tol)


class _KLError:
    """scikit-learn's convergence measure, ``_beta_divergence(x, w, h, 1, square_root=True)``,
    with what depends on ``x`` alone worked out once rather than at every check."""

    def __init__(self, x: np.ndarray):
        flat = x.ravel()
        self.kept = flat > _EPS
        self.x = flat[self.kept]
        self.x_sum = self.x.sum()

    def __call__(self, w: np.ndarray, h: np.ndarray, wh: np.ndarray) -> float:
        model = np.maximum(wh.ravel()[self.kept], _EPS)
        total = np.dot(np.sum(w, axis=0), np.sum(h, axis=1))
        np.divide(self.x, model, out=model)
        error = np.dot(self.x, np.log(model, out=model))
        error += total - self.x_sum
        return np.sqrt(error * 2)


def _kl_mu(
    x: np.ndarray, w: np.ndarray, h: np.ndarray, max_iter: int, tol: float, update_h: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``_fit_multiplicative_update`` for the KL divergence, the same
    operations in the same order (``w`` and ``h`` updated in place), without its copy of the
    model and boolean masks in every update, its error's fixed parts at every check, and the
    model product a check and the next update share computed twice."""
    error = _KLError(x)
    wh = np.dot(w, h)
    first = previous = error(w, h, wh)
    h_sum = None
    for n in range(1, max_iter + 1):
        step = _ratio(x, np.dot(w, h) if wh is None else wh) @ h.T
        if h_sum is None:  # h fixed (not update_h): its sums once
            h_sum = np.sum(h, axis=1)
            h_sum[h_sum == 0] = _EPS
        step /= h_sum[np.newaxis, :]
        w *= step
        if update_h:
            step = w.T @ _ratio(x, np.dot(w, h))
            w_sum = np.sum(w, axis=0)
            w_sum[w_sum == 0] = 1.0
            step /= w_sum[:, np.newaxis]
            h *= step
            h[h < np.finfo(np.float64).eps] = 0.0
            h_sum = None
        wh = None
        if tol > 0 and n % 10 == 0:
            wh = np.dot(w, h)
            now = error(w, h, wh)
            if (previous - now) / first < tol:
                break
            previous = now
    return w, h


def _ratio(x: np.ndarray, wh: np.ndarray) -> np.ndarray:
    """``x / wh``, the model floored at scikit-learn's epsilon, in ``wh``'s memory."""
    np.maximum(wh, _EPS, out=wh)
    return np.divide(x, wh, out=wh)


def fit_step(frames: int) -> int:
    """The stride that keeps at most :data:`MAX_FIT_FRAMES` of ``frames`` evenly spaced
    STFT frames: those a long input's templates (and places, :func:`channel_angles`) are
    fitted on."""
    return -(-frames // MAX_FIT_FRAMES)


@reused
def activations(v: np.ndarray, w: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """KL-NMF activations ``(components, frames)`` of magnitudes ``v`` ``(freqs, frames)``
    with the templates ``w`` ``(freqs, components)`` fixed (multiplicative updates from a
    flat start)."""
    x = v.T  # scikit-learn's orientation, for the same fit to the bit
    start = np.full((x.shape[0], w.shape[1]), np.sqrt(x.mean() / w.shape[1]), dtype=x.dtype)
    return _kl_mu(x, start, w.T, _KL["max_iter"], tol, update_h=False)[0].T


def grouped_sources(
    mixture: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    labels: np.ndarray,
    n: int,
    n_fft: int = spectral.N_FFT,
    power: float = 1.0,
) -> list[np.ndarray]:
    """The mixture shared among ``n`` sources, source ``g`` being the components labelled
    ``g`` (:func:`grouped_masks` on the ``n_fft``-point STFT they decompose)."""
    return masks.apply_masks(mixture, grouped_masks(w, h, labels, n, power), n_fft)


def grouped_masks(
    w: np.ndarray, h: np.ndarray, labels: np.ndarray, n: int, power: float = 1.0
) -> list[np.ndarray]:
    """Ratio masks of each group's ``W_g H_g`` to the ``power``, source ``g`` being the
    components labelled ``g``; ``labels`` may also be each component's weight in each source
    ``(components, n)`` (:func:`hedged`)."""
    # weights in the templates' precision: float64 masks double the cost of all that follows
    weights = labels.astype(w.dtype, copy=False) if labels.ndim == 2 else None
    parts = np.empty((n, w.shape[0], h.shape[1]), dtype=np.result_type(w, h))
    for g in range(n):  # into one array: the masks are made of it in place
        if weights is not None:
            np.matmul(w * weights[:, g], h, out=parts[g])
        else:
            np.matmul(w[:, labels == g], h[labels == g], out=parts[g])
    return masks.ratio_masks(parts, power=power, overwrite=True)


def n_groups(labels: np.ndarray) -> int:
    """The number of sources of hard ``labels`` or of weights ``(components, sources)``."""
    return labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1


def hedged(
    affinity: np.ndarray,
    labels: np.ndarray,
    share: float = TUNING.streams.hedge_share,
    power: float = TUNING.streams.hedge_power,
) -> np.ndarray:
    """Each component's weight in each group ``(components, groups)``, rows summing to one:
    ``1 − share`` in its own group, ``share`` spread over the groups by its mean affinity to
    their members (to the power ``power``; all in its own group where it has none)."""
    hard = np.eye(int(labels.max()) + 1)[labels]
    others = affinity - np.diag(np.diag(affinity))
    mean = (others @ hard / np.maximum(hard.sum(axis=0), 1)) ** power
    total = mean.sum(axis=1, keepdims=True)
    soft = np.where(total > 0, mean / np.maximum(total, 1e-300), hard)
    return (1 - share) * hard + share * soft


def component_sources(
    mixture: np.ndarray, w: np.ndarray, h: np.ndarray, n_fft: int = spectral.N_FFT
) -> list[np.ndarray]:
    """The mixture split into one signal per NMF component (of an ``n_fft``-point STFT)."""
    return list(iter_component_sources(mixture, w, h, n_fft))


def iter_component_sources(
    mixture: np.ndarray, w: np.ndarray, h: np.ndarray, n_fft: int = spectral.N_FFT
):
    """The mixture's share of each NMF component, one at a time (the memory of one
    component, not of all: 24 masks of a 40-s 44.1 kHz excerpt take ~0.7 GB)."""
    z = stft(mixture, n_fft, hop_of(n_fft))
    total = w @ h
    ok, safe = total > masks.EPS, np.maximum(total, masks.EPS)
    for i in range(w.shape[1]):  # masks.ratio_masks(power=1), one component at a time
        mask = np.where(ok, np.outer(w[:, i], h[i]) / safe, 1.0 / w.shape[1])
        yield istft(mask * z, mixture.shape[-1], n_fft, hop_of(n_fft))


def component_labels(
    mixture: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    references: list[np.ndarray],
    n_fft: int = spectral.N_FFT,
) -> np.ndarray:
    """Each component's true source: the one of ``references`` its share of the mixture
    correlates with most (uses the references: a yardstick, or a teacher's label)."""
    return np.array(
        [
            np.argmax([np.dot(c.ravel(), r.ravel()) for r in references])
            for c in iter_component_sources(mixture, w, h, n_fft)
        ]
    )


def loudest_seconds(x: np.ndarray, rate: int, seconds: float = 4.0) -> np.ndarray:
    """The loudest whole seconds of ``x``, in order, at most ``seconds`` of them: enough
    to describe a sound, at a cost that does not grow with the track's length."""
    n = x.shape[-1] // rate
    if n <= seconds:
        return x
    energy = np.sum(x[..., : n * rate].reshape(x.shape[0], n, rate) ** 2, axis=(0, 2))
    keep = np.sort(np.argsort(energy)[::-1][: int(seconds)])
    return np.concatenate([x[..., i * rate : (i + 1) * rate] for i in keep], axis=-1)
