"""NMF of the magnitude spectrogram, its components grouped into sources.

The classic unsupervised baseline groups components by timbre: the shape of each spectral
template's envelope (MFCC-like descriptors). :func:`latent_embeddings` groups them by
where the autoencoder puts each component's sound instead — the study's idea that the
latent space organises timbre, applied to components that each hold one instrument's notes
rather than to frames in which every instrument plays at once.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
from scipy.fft import dct
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF, non_negative_factorization
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from latentsep import spectral
from latentsep.separation import clustering, masks
from latentsep.separation.blocks import similarity
from latentsep.spectral import hop_of, istft, stft

N_COMPONENTS = 24
#: Longer inputs learn their templates on this many evenly spaced STFT frames.
MAX_FIT_FRAMES = 1500


def timbre(basis: np.ndarray, n_coefficients: int = 13) -> np.ndarray:
    """MFCC-like timbre descriptors of spectral templates ``(freqs, components)``: the DCT of
    the log spectrum without its first coefficient, so loudness does not count."""
    logs = np.log(basis + 1e-8 * basis.max())
    return dct(logs, axis=0, norm="ortho")[1 : n_coefficients + 1].T


def fundamentals(
    basis: np.ndarray, rate: int, n_fft: int = spectral.N_FFT, n_harmonics: int = 16
) -> np.ndarray:
    """The fundamental (Hz) of each spectral template ``(freqs, components)``, by weighted
    harmonic summation over 55–1760 Hz in 1/48 octaves (weights 0.8^n, so f0/2, which
    collects the same peaks at higher harmonic numbers, scores lower)."""
    freqs = spectral.frequencies(n_fft, rate)
    f0s = 55.0 * 2.0 ** (np.arange(0, 5 * 48) / 48)  # 1/48 octave from A1 to A6
    n = np.arange(1, n_harmonics + 1)
    grid = f0s[:, None] * n[None, :]
    basis = np.asarray(basis, np.float64)
    return np.array(
        [f0s[np.argmax(np.interp(grid, freqs, w, right=0.0) @ 0.8**n)] for w in basis.T]
    )


def harmonic_timbre(
    basis: np.ndarray, rate: int, n_fft: int = spectral.N_FFT, n_harmonics: int = 16
) -> np.ndarray:
    """Pitch-invariant timbre of spectral templates ``(freqs, components)``: the log
    amplitudes of the first ``n_harmonics`` harmonics of each template's fundamental
    (:func:`fundamentals`), loudness removed. A note's harmonics sit at n·f0 whatever its
    pitch, so two notes of one instrument look alike here, while MFCC-like envelopes
    (:func:`timbre`) describe where a note's energy lies in frequency — its pitch as much as
    its instrument. Returns ``(components, n_harmonics)``."""
    freqs = spectral.frequencies(n_fft, rate)
    n = np.arange(1, n_harmonics + 1)
    basis = np.asarray(basis, np.float64)
    rows = []
    for w, f0 in zip(basis.T, fundamentals(basis, rate, n_fft, n_harmonics), strict=True):
        harm = np.interp(f0 * n, freqs, w, right=0.0)
        logs = np.log(harm + 1e-3 * harm.max() + 1e-12)
        rows.append(logs - logs.mean())
    return np.stack(rows)


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


def _reused(fn: Callable) -> Callable:
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


@_reused
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
    init, seed = ("nndsvda", seed) if start is None else ("random", start)
    nmf = NMF(n_components, init=init, random_state=seed, **{**_KL, **(fit or {})})
    step = -(-v.shape[1] // MAX_FIT_FRAMES)
    with warnings.catch_warnings():  # a budget of updates is the method, not a failure
        warnings.simplefilter("ignore", ConvergenceWarning)
        if step == 1:
            return nmf.fit_transform(v), nmf.components_
        w = nmf.fit_transform(v[:, ::step])
    return w, activations(v, w)


_KL = dict(beta_loss="kullback-leibler", solver="mu", max_iter=200, tol=1e-3)


@_reused
def activations(v: np.ndarray, w: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """KL-NMF activations ``(components, frames)`` of magnitudes ``v`` ``(freqs, frames)``
    with the templates ``w`` ``(freqs, components)`` fixed (multiplicative updates from a
    flat start)."""
    with warnings.catch_warnings():  # a fixed count of updates is the method, not a failure
        warnings.simplefilter("ignore", ConvergenceWarning)
        h, _, _ = non_negative_factorization(
            v.T,
            H=w.T,
            n_components=w.shape[1],
            init="custom",
            update_H=False,
            **{**_KL, "tol": tol},
        )
    return h.T


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
    ``g`` (ratio masks of their ``W_g H_g`` to the ``power`` on the ``n_fft``-point STFT they
    decompose); ``labels`` may also be each component's weight in each source
    ``(components, n)`` (:func:`hedged`)."""
    if labels.ndim == 2:
        parts = [(w * labels[:, g]) @ h for g in range(n)]
    else:
        parts = [w[:, labels == g] @ h[labels == g] for g in range(n)]
    return masks.apply_masks(mixture, masks.ratio_masks(parts, power=power), n_fft)


def n_groups(labels: np.ndarray) -> int:
    """The number of sources of hard ``labels`` or of weights ``(components, sources)``."""
    return labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1


#: How much of each component ``nmf+streams`` hedges among the groups (:func:`hedged`): the
#: share and the power of the mean affinity that spreads it. An NMF component is only
#: partly one instrument, so a hard choice at a group's edge loses more than a hedge
#: (measured in the book's Ablations appendix).
HEDGE_SHARE, HEDGE_POWER = 0.5, 4.0


def hedged(
    affinity: np.ndarray, labels: np.ndarray, share: float = HEDGE_SHARE, power: float = HEDGE_POWER
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


def component_sources(mixture: np.ndarray, w: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    """The mixture split into one signal per NMF component."""
    return list(iter_component_sources(mixture, w, h))


def iter_component_sources(mixture: np.ndarray, w: np.ndarray, h: np.ndarray):
    """The mixture's share of each NMF component, one at a time (the memory of one
    component, not of all: 24 masks of a 40-s 44.1 kHz excerpt take ~0.7 GB)."""
    z = stft(mixture)
    total = w @ h
    ok, safe = total > masks.EPS, np.maximum(total, masks.EPS)
    for i in range(w.shape[1]):  # masks.ratio_masks(power=1), one component at a time
        mask = np.where(ok, np.outer(w[:, i], h[i]) / safe, 1.0 / w.shape[1])
        yield istft(mask * z, mixture.shape[-1])


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


def overlap(h: np.ndarray) -> np.ndarray:
    """How much two components sound at the same time: the shared part of their
    max-normalised activations over the smaller one's (1: one sounds only within the other)."""
    a = h / (h.max(axis=1, keepdims=True) + 1e-12)
    shared = np.minimum(a[:, None], a[None]).sum(-1)
    return shared / (np.minimum(a.sum(1)[:, None], a.sum(1)[None]) + 1e-12)


def succession(h: np.ndarray, f0: np.ndarray, frames: int = 3, semitones: float = 5.0):
    """How often one component starts as another within ``semitones`` of it stops (a line
    moving from note to note), both ways, scaled to 0–1 (multi-pitch streaming's continuity,
    Duan, Han & Pardo 2014); ``f0`` in octaves (log2 Hz)."""
    a = h / (h.max(axis=1, keepdims=True) + 1e-12)
    d = np.diff(a, axis=1, prepend=0.0)
    on, off = np.clip(d, 0, None), np.clip(-d, 0, None)
    kernel = np.ones(2 * frames + 1)
    near_on = np.stack([np.convolve(o, kernel, "same") for o in on])  # onsets within ±frames
    s = off @ near_on.T / (np.sqrt(off.sum(1)[:, None] * on.sum(1)[None]) + 1e-12)
    s = np.clip(s + s.T, 0, None)
    s /= s.max() + 1e-12
    return s * (np.abs(12 * (f0[:, None] - f0[None])) <= semitones)


#: How far apart in pitch (semitones) two components' harmonic timbres still tell whether
#: they are one instrument: the width of :func:`pitch_local`'s Gaussian. A soundfont plays
#: neighbouring notes from one sample, and far notes change their timbre as much as
#: instruments differ (the Ablations appendix).
TIMBRE_SPAN = 6.0


def pitch_local(timbre: np.ndarray, f0: np.ndarray, span: float = TIMBRE_SPAN) -> np.ndarray:
    """A timbre affinity heard only between components close in pitch (``f0`` in octaves):
    its log weighed by a Gaussian of the pitch gap, the rest of the weight on the median
    log affinity, which tells nothing."""
    near = np.exp(-((12 * (f0[:, None] - f0[None])) ** 2) / (2 * span**2))
    logs = np.log(timbre + 1e-12)
    return np.exp(near * logs + (1 - near) * np.median(logs))


def stream_affinity(
    w: np.ndarray,
    h: np.ndarray,
    rate: int,
    span: float | None = None,
    n_fft: int = spectral.N_FFT,
) -> np.ndarray:
    """Components alike in harmonic timbre (compared only within ``span`` semitones,
    :func:`pitch_local`, if given), seldom sounding together (a soft cannot-link) and
    following each other in pitch and time (a soft must-link); templates of an
    ``n_fft``-point STFT."""
    f0 = np.log2(fundamentals(w, rate, n_fft))
    timbre_ = clustering.gaussian_affinity(harmonic_timbre(w, rate, n_fft))
    if span is not None:
        timbre_ = pitch_local(timbre_, f0, span)
    return timbre_ * (1 - overlap(h)) * (1 + succession(h, f0))


#: How far apart (radians of the pan angle) two components' stereo positions may be and
#: still look like one instrument: the width of :func:`pan_affinity`'s Gaussian. Chosen on
#: the validation pieces rendered in stereo (``benchmarks/probe_stereo.py --nmf-only``, 40
#: in each training soundfont): ``nmf+streams`` +1.17 / +2.26 dB without the pan, with it
#: at 0.03 / 0.06 / 0.12 / 0.2 / 0.3 rad +2.38 / +2.94, +2.26 / +3.21, +2.98 / +4.26,
#: +3.23 / +4.31, +2.76 / +3.88 (the renderer pans each instrument within ±0.47 rad);
#: with the timbre compared between near notes only (:data:`TIMBRE_SPAN`), +3.63 / +2.45
#: without the pan, +3.84 / +4.32 with it at 0.2 rad (0.3: +3.91 / +4.42).
PAN_WIDTH = 0.2


def channel_angles(
    mixture: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    updates: int = 30,
    n_fft: int = spectral.N_FFT,
) -> np.ndarray:
    """Each component's place in the stereo image: a gain per channel and component fitted
    to each channel's magnitudes with the templates and activations fixed (KL
    multiplicative updates; the channel mode of FitzGerald, Cranitch & Coyle's non-negative
    tensor model), as the angle atan(g_right / g_left): π/4 in the middle, 0 hard left, as
    the constant-power pan law puts a source. Mono input: every component in the middle."""
    if mixture.shape[0] != 2:
        return np.full(w.shape[1], np.pi / 4)
    v = np.abs(stft(mixture, n_fft, hop_of(n_fft)))
    gains = np.ones((2, w.shape[1]))
    norm = (w.sum(axis=0)[:, None] * h).sum(axis=1) + 1e-12
    for g, vc in zip(gains, v, strict=True):
        for _ in range(updates):
            g *= ((w.T @ (vc / (w @ (g[:, None] * h) + 1e-12))) * h).sum(axis=1) / norm
    return np.arctan2(gains[1], gains[0])


def pan_affinity(angles: np.ndarray, width: float = PAN_WIDTH) -> np.ndarray:
    """How alike components' stereo positions :func:`channel_angles` are: a Gaussian of
    their gap, 1 for all in mono (where the stereo image tells nothing)."""
    return np.exp(-((angles[:, None] - angles[None]) ** 2) / (2 * width**2))


def group_components(
    mixture: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    n_sources: int | None,
    seed: int = 0,
    ks=(2, 3, 4),
    embed: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    standardize: bool = True,
) -> np.ndarray:
    """Each component's source label: components described by ``embed(mixture, w, h)``
    (default: :func:`timbre` of the templates), standardised (unless the features share one
    unit, as :func:`harmonic_timbre`'s log amplitudes do) and grouped by K-Means;
    ``n_sources=None`` picks the number of groups by silhouette."""
    feats = embed(mixture, w, h) if embed is not None else timbre(w)
    if standardize:
        feats = StandardScaler().fit_transform(feats)
    if n_sources is None:
        n_sources = clustering.choose_k(feats, [k for k in ks if k < w.shape[1]], seed=seed)
    return KMeans(n_sources, n_init=4, random_state=seed).fit_predict(feats)


def decompose_and_group(
    mixture: np.ndarray,
    n_sources: int | None,
    n_components: int = N_COMPONENTS,
    seed: int = 0,
    ks=(2, 3, 4),
    embed: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    standardize: bool = True,
    affinity: Callable[..., np.ndarray] | None = None,
    hedge: float = 0.0,
    n_fft: int = spectral.N_FFT,
    start: int | None = None,
    fit: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The templates, activations and each component's source label of ``mixture``
    (:func:`decompose` of its ``n_fft``-point STFT, ``start`` and ``fit`` as there; grouped
    by :func:`group_components`, or with ``affinity(mixture, w, h, n_fft)``, a components ×
    components affinity, by spectral clustering — and then, if ``hedge`` is a share above 0,
    each component's weight in each source, :func:`hedged`)."""
    w, h = decompose(mixture, n_components, seed, n_fft, start, fit)
    if affinity is not None:
        a = affinity(mixture, w, h, n_fft)
        labels = clustering.spectral_groups(a, n_sources, ks, seed)
        return w, h, hedged(a, labels, hedge) if hedge > 0 else labels
    if n_fft != spectral.N_FFT:
        raise ValueError("components described by `embed` are grouped on the package's STFT")
    return w, h, group_components(mixture, w, h, n_sources, seed, ks, embed, standardize)


#: ``nmf+streams``' decompositions, ``(STFT points, components, random start's seed)``: each
#: is grouped on its own (the first one choosing the count when it is not given) and the
#: sources of all are averaged, matched to the first one's. Their errors differ — a longer
#: window resolves low notes, and a random start finds other components than NNDSVD's one
#: deterministic start — and the average errs less than any (chosen on validation pieces;
#: on real recordings ``experiments/real_streams.py`` compares other sizes and ranks).
ENSEMBLE = (
    (2048, 24, 1),
    (2048, 24, 2),
    (2048, 24, 3),
    (4096, 24, 1),
    (4096, 24, 2),
    (4096, 24, 3),
)
#: ... each fitted with this budget of updates (:func:`decompose`'s ``fit``), not the
#: default's 200 (which stops at a relative change of 10⁻³, before converging): its
#: components are purer, so the yardstick of issue 24 (the default decomposition grouped by
#: the truth, :func:`oracle_grouping`) is not this ensemble's own ceiling.
ENSEMBLE_FIT = {"max_iter": 600, "tol": 1e-4}
#: ... each member's masks its groups' models to this power (a generalised Wiener filter):
#: the average of soft masks is softer than any of them, and sharper members make up for it.
ENSEMBLE_POWER = 1.5


@dataclass
class Grouping:
    """One decomposition's templates, each one's source (labels or weights ``(components,
    sources)``), and the STFT size they belong to."""

    w: np.ndarray
    labels: np.ndarray
    n_fft: int = spectral.N_FFT
    power: float = 1.0  # of the groups' models in their masks

    def sources(self, mixture: np.ndarray, h: np.ndarray | None = None) -> list[np.ndarray]:
        """The mixture's sources under this grouping (activations fitted if not given)."""
        if h is None:
            h = activations(magnitudes(mixture, self.n_fft), self.w)
        n = n_groups(self.labels)
        return grouped_sources(mixture, self.w, h, self.labels, n, self.n_fft, self.power)

    def reordered(self, order: np.ndarray) -> Grouping:
        """The same grouping whose source ``j`` is this one's source ``order[j]``."""
        if self.labels.ndim == 2:
            return replace(self, labels=self.labels[:, order])
        return replace(self, labels=np.argsort(order)[self.labels])


def groupings(
    mixture: np.ndarray,
    n_sources: int | None,
    members=None,
    n_components: int = N_COMPONENTS,
    power: float = 1.0,
    **options,
) -> tuple[list[Grouping], list[list[np.ndarray]]]:
    """Each of ``members``' decomposition of ``mixture`` grouped (``(STFT points,
    components)`` pairs, or with a random start's seed third, :data:`ENSEMBLE`; default:
    one, ``n_components`` on the package's STFT) and the sources each gives (masks of
    ``power``, :class:`Grouping`), in the first one's order; the first one chooses the
    count. ``options`` as for :func:`decompose_and_group`."""
    found, heard = [], []
    for n_fft, k, *start in members or ((spectral.N_FFT, n_components),):
        n = n_groups(found[0].labels) if found else n_sources
        w, h, labels = decompose_and_group(
            mixture, n, n_components=k, n_fft=n_fft, start=start[0] if start else None, **options
        )
        grouping = Grouping(w, labels, n_fft, power)
        sources = grouping.sources(mixture, h)
        if found and len(sources) != len(heard[0]):
            continue  # a member whose clustering left a group empty: it cannot be matched
        if found:  # match the first member's sources, one to one
            order = linear_sum_assignment(similarity(heard[0], sources), maximize=True)[1]
            grouping, sources = grouping.reordered(order), [sources[i] for i in order]
        found.append(grouping)
        heard.append(sources)
    return found, heard


def _mean(heard: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The sources averaged over the members that give them (one: as they are)."""
    if len(heard) == 1:
        return heard[0]
    return [
        np.mean(each, axis=0, dtype=np.float64).astype(each[0].dtype)
        for each in zip(*heard, strict=True)
    ]


def separate(mixture: np.ndarray, n_sources: int | None, **options) -> tuple[list, np.ndarray]:
    """Sources and each NMF component's source label (its heaviest source when hedged; of
    the first decomposition when there are several); ``options`` as for :func:`groupings`."""
    found, heard = groupings(mixture, n_sources, **options)
    labels = found[0].labels
    return _mean(heard), labels.argmax(axis=1) if labels.ndim == 2 else labels


def fit(sample: np.ndarray, n_sources: int | None, **options) -> Callable[[np.ndarray], list]:
    """:func:`separate` fitted once on ``sample``, audio spread over a long input: the
    templates and their grouping are learned there; each block then only fits its
    activations, so every block's sources come in the same order."""
    found, _ = groupings(sample, n_sources, **options)

    def run(block: np.ndarray) -> list[np.ndarray]:
        return _mean([grouping.sources(block) for grouping in found])

    return run


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


# --- supervised NMF: a dictionary per instrument class, learned from rendered stems ---------

#: Supervised NMF works at the stem-trained network's rate and resolution.
DICT_RATE, DICT_N_FFT, DICT_HOP = 16000, 1024, 256
#: Frames of a part this far below its loudest frame are rests, not timbre.
DICT_FLOOR_DB = -60.0


@dataclass
class ClassDictionaries:
    """KL-NMF templates learned on each instrument class's isolated parts."""

    templates: np.ndarray  # (freqs, atoms), every class's atoms side by side
    owner: np.ndarray  # (atoms,) the class index of each atom
    classes: tuple[str, ...]

    @property
    def atoms_per_class(self) -> int:
        return int(np.bincount(self.owner).max())


def learn_dictionaries(
    parts: list[tuple[int, np.ndarray]],
    classes: tuple[str, ...],
    atoms: int,
    seed: int = 0,
    max_frames: int = 4000,
) -> ClassDictionaries:
    """One KL-NMF dictionary of ``atoms`` templates per class, from ``(class index, mono
    audio at DICT_RATE)`` parts: their sounding frames, at most ``max_frames`` per class
    (evenly spaced)."""
    templates, owner = [], []
    for c in range(len(classes)):
        frames = []
        for cls, x in parts:
            if cls != c:
                continue
            v = np.abs(stft(x.mean(axis=0), DICT_N_FFT, DICT_HOP))
            level = v.sum(axis=0)
            frames.append(v[:, level > level.max() * 10 ** (DICT_FLOOR_DB / 20)])
        if not frames:
            continue
        v = np.concatenate(frames, axis=1)
        v = v[:, :: -(-v.shape[1] // max_frames)]
        k = min(atoms, v.shape[1])
        model = NMF(
            k,
            init="nndsvda",
            beta_loss="kullback-leibler",
            solver="mu",
            max_iter=200,
            tol=1e-4,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            w = model.fit_transform(v)
        templates.append(w / (w.sum(axis=0, keepdims=True) + 1e-12))
        owner += [c] * k
    if not templates:
        raise ValueError("no instrument parts to learn dictionaries from")
    return ClassDictionaries(np.concatenate(templates, axis=1), np.array(owner), tuple(classes))


def class_shares(basis: np.ndarray, rate: int, dicts: ClassDictionaries) -> np.ndarray:
    """How the class dictionaries explain each spectral template ``(freqs, components)`` of
    an STFT at ``rate`` (:data:`~latentsep.spectral.N_FFT`): each template, on the
    dictionaries' frequency grid, fitted with every class's atoms at once (KL, atoms fixed);
    the log share of each class, ``(components, classes)``. A timbre prior learned from
    rendered stems, for grouping a mixture's own templates."""
    src = spectral.frequencies(spectral.N_FFT, rate)
    dst = spectral.frequencies(DICT_N_FFT, DICT_RATE)
    v = np.stack([np.interp(dst, src, c, right=0.0) for c in basis.T], axis=1) + 1e-9
    a = activations(v.astype(dicts.templates.dtype), dicts.templates)
    share = np.stack(
        [
            (dicts.templates[:, dicts.owner == c] @ a[dicts.owner == c]).sum(axis=0)
            for c in range(len(dicts.classes))
        ],
        axis=1,
    )
    return np.log(share / share.sum(axis=1, keepdims=True) + 1e-3)


def class_parts(mixture: np.ndarray, dicts: ClassDictionaries, notes: bool = False) -> np.ndarray:
    """The mixture ``(channels, samples)`` at :data:`DICT_RATE` shared among the classes by
    ratio masks of each class's part of the fit (activations fitted with the templates
    fixed): ``(classes, channels, samples)``, adding up to the mixture. ``notes``: the
    atoms are a note dictionary's thousands, fitted by :func:`note_activations` instead of
    :func:`activations` to convergence."""
    spec, models = class_models(mixture, dicts, notes)
    return masked_parts(mixture, spec, models, notes)


def class_models(
    mixture: np.ndarray, dicts: ClassDictionaries, notes: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`class_parts`' STFT of the mixture and each class's part of the fit, one array
    ``(classes, freqs, frames)``."""
    n_fft, hop = stft_grid(notes)
    if len(dicts.templates) != n_fft // 2 + 1:
        raise ValueError(
            f"dictionaries of {len(dicts.templates)} frequencies on a {n_fft}-point STFT grid "
            f"({'note' if notes else 'class'} dictionaries need {n_fft // 2 + 1})"
        )
    spec = stft(mixture, n_fft, hop)
    v = np.abs(spec).mean(axis=0)
    h = note_activations(v, dicts.templates) if notes else activations(v, dicts.templates, 1e-4)
    # made in place in one array: a 3-minute input's are 9 × 46 MB, and the masks reuse it
    models = np.empty((len(dicts.classes), *v.shape), np.result_type(dicts.templates, h))
    for c, model in enumerate(models):
        np.matmul(dicts.templates[:, dicts.owner == c], h[dicts.owner == c], out=model)
    return spec, models


def masked_parts(
    mixture: np.ndarray,
    spec: np.ndarray,
    models: np.ndarray | list[np.ndarray],
    notes: bool = False,
    power: float = 1.0,
    overwrite: bool = False,
) -> np.ndarray:
    """The mixture shared among ``models`` by their ratio masks of its STFT ``spec`` (the
    note dictionaries' grid when ``notes``; ``power``: 2 is Wiener's; ``overwrite``: the
    models, one array, become the masks)."""
    ratios = masks.ratio_masks(models, power=power, overwrite=overwrite)
    grid = stft_grid(notes)
    masked = np.empty_like(spec)  # one buffer for every class's masked STFT
    return np.stack(
        [spectral.istft(np.multiply(spec, m, out=masked), mixture.shape[-1], *grid) for m in ratios]
    )


# --- note dictionaries: one template per note the training soundfonts play ------------------

#: A rendered note's frames this far below its loudest are its release, not its timbre.
NOTE_FLOOR_DB = -30.0
#: The note dictionaries' STFT at DICT_RATE: 256-ms windows, 3.9-Hz bins that resolve the
#: partials of neighbouring low notes (a semitone at 100 Hz is 6 Hz). The activations are
#: held for half a second anyway (POOL), so the longer window costs no timing. On 50
#: validation pieces (the first 25 in each training soundfont, ``notenmf+classmask``):
#: 1,024 / 256 +7.82 / +8.14 dB, 2,048 / 256 +8.78 / +9.28, 2,048 / 512 +8.79 / +9.26,
#: 4,096 / 512 +8.94 / +10.10 (each pruned at the end only, PRUNE_SHARE 10⁻³); as now
#: (PRUNE_SHARE, PRUNE_EVERY, COARSE_BINS), 2,048 / 512 +8.85 / +9.25 against 4,096 / 512
#: +9.11 / +10.03 in the same time for a 10-s piece.
NOTE_N_FFT, NOTE_HOP = 4096, 512


def stft_grid(notes: bool = False) -> tuple[int, int]:
    """The ``(n_fft, hop)`` at DICT_RATE of the class dictionaries, or of the notes'."""
    return (NOTE_N_FFT, NOTE_HOP) if notes else (DICT_N_FFT, DICT_HOP)


#: A note dictionary's activations are fitted on the mixture's frames summed POOL at a time
#: (half a second at NOTE_HOP), POOLED_UPDATES multiplicative updates, then spread back
#: over the frames (linearly between the pooled frames' centres); atoms below PRUNE_SHARE
#: of the loudest atom's activation are dropped. Activations held for half a second are a
#: continuity prior: a frame alone is explained as well by wrong notes as by right ones. On
#: 100 validation pieces: +6.5 / +7.3 dB against +3.9 / +3.9 for 100 full-resolution
#: updates, at a third of the time; 10 full-resolution updates after the pooled fit lose
#: 0.4 dB, and 600 pooled updates change −0.2 / +0.1 dB at twice the cost
#: (``benchmarks/probe_note_fits.py``; 1,024-point notes).
POOL, POOLED_UPDATES, PRUNE_SHARE = 16, 300, 1e-2
#: ... dropped every PRUNE_EVERY updates too, which makes the fit three times as fast (on 50
#: validation pieces, 2,048-point notes pruned every 50 updates: +8.88 / +9.25 dB against
#: +8.79 / +9.26 at the end only, 0.65 s a 10-s excerpt against 2.0). The share: on all 266
#: validation pieces (2,048-point notes) 10⁻² +8.67 / +9.05 against 10⁻³'s +8.63 / +8.97,
#: next to a cliff at 3·10⁻² (+7.92 / +8.93 on 50); with 4,096-point notes, 10⁻² +9.18 /
#: +10.13 on 50 against 10⁻³'s +8.88 / +10.35, and fewer atoms left to fit.
PRUNE_EVERY = 25
#: The first PRUNE_EVERY updates, the only ones with every atom, are on bins summed
#: COARSE_BINS at a time (15.6 Hz): they only decide which atoms go on, and were two
#: thirds of the fit's time (on 50 validation pieces: +9.11 / +10.03 dB against +9.18 /
#: +10.13 on every bin; pruned at 10⁻³, summed by 2 or 8 no better than by 4).
COARSE_BINS = 4
#: The pooled frames are fitted (and their atoms pruned) this many at a time: ~10 s, the
#: length of the pieces it was chosen on. The frames' fits are independent given the atoms,
#: so a long input costs its length, not its length times every note it plays anywhere
#: (a 3-minute input's two fits, the sample's and the whole's: 4.7 s against 9.2).
CHUNK = 20


def note_template(x: np.ndarray) -> np.ndarray:
    """One rendered note ``(channels, samples)`` at :data:`DICT_RATE` as a template: its mean
    magnitude spectrum (:data:`NOTE_N_FFT`) over the frames it sounds in, summing to one
    (``(freqs,)``)."""
    v = np.abs(stft(x.mean(axis=0), *stft_grid(notes=True)))
    level = v.sum(axis=0)
    if level.max() <= 0:
        raise ValueError("a silent note cannot be a template")
    t = v[:, level > level.max() * 10 ** (NOTE_FLOOR_DB / 20)].mean(axis=1)
    return t / t.sum()


def _coarse(x: np.ndarray) -> np.ndarray:
    """``x`` ``(freqs, n)`` with its bins summed :data:`COARSE_BINS` at a time (the last
    group padded with zeros): columns that sum to one still do."""
    pad = -len(x) % COARSE_BINS
    x = np.pad(x, [(0, pad), (0, 0)])
    return x.reshape(-1, COARSE_BINS, x.shape[1]).sum(axis=1)


def pooled_fit(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The atoms of ``w`` ``(freqs, atoms)``, summing to one, that magnitudes ``v``
    ``(freqs, frames)`` play, and their activations on the pooled frames (:data:`POOL`,
    :data:`POOLED_UPDATES`, :data:`PRUNE_SHARE`, :data:`PRUNE_EVERY`, :data:`COARSE_BINS`),
    fitted :data:`CHUNK` pooled frames at a time: ``(kept atoms' indices, (kept, pooled
    frames))``, float32."""
    v = np.asarray(v, np.float32)
    w = np.asarray(w, np.float32)
    frames = -(-v.shape[1] // POOL)
    pooled = np.pad(v, [(0, 0), (0, frames * POOL - v.shape[1])])
    pooled = pooled.reshape(len(v), frames, POOL).sum(axis=2)
    coarse = _coarse(w)
    h = np.zeros((w.shape[1], frames), np.float32)
    for start in range(0, frames, CHUNK):
        keep, fit = _pooled_chunk(pooled[:, start : start + CHUNK], w, coarse)
        h[keep, start : start + CHUNK] = fit
    keep = np.flatnonzero(h.any(axis=1))
    return keep, h[keep]


def _pooled_chunk(
    pooled: np.ndarray, w: np.ndarray, coarse: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pooled_fit` of one chunk, ``coarse`` being ``w``'s :func:`_coarse`: the kept
    atoms' indices and activations (none for a silent chunk)."""
    if not pooled.any():
        return np.arange(0), np.zeros((0, pooled.shape[1]), np.float32)
    start = pooled.sum(axis=0).mean() / w.shape[1] + 1e-9
    h = np.full((w.shape[1], pooled.shape[1]), start, np.float32)
    v, basis = _coarse(pooled), coarse
    for _ in range(PRUNE_EVERY):  # the templates sum to one: no denominator
        h *= basis.T @ (v / (basis @ h + 1e-9))
        np.maximum(h, _TINY, out=h)
    keep = np.arange(w.shape[1])
    for i in range(PRUNE_EVERY, POOLED_UPDATES):
        if i % PRUNE_EVERY == 0:  # what is silent now stays silent: drop it as we go
            loud = _loud(h)
            keep, h, w = keep[loud], h[loud], w[:, loud]
        h *= w.T @ (pooled / (w @ h + 1e-9))
        np.maximum(h, _TINY, out=h)
    loud = _loud(h)
    return keep[loud], h[loud]


#: The smallest normal float32: activations decaying below it become subnormal numbers,
#: whose arithmetic is many times slower on some CPUs (a 60-s fit on an Intel Xeon: 4.7 s,
#: 1.4 s floored here, the same atoms kept); a value this small is silence anyway.
_TINY = np.finfo(np.float32).tiny


def _loud(h: np.ndarray) -> np.ndarray:
    """The atoms whose activations ``h`` ``(atoms, frames)`` reach PRUNE_SHARE of the
    loudest one's."""
    energy = h.sum(axis=1)
    return np.flatnonzero(energy >= energy.max() * PRUNE_SHARE)


@_reused
def note_activations(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """KL-NMF activations ``(atoms, frames)`` of magnitudes ``v`` ``(freqs, frames)`` with
    the templates ``w`` ``(freqs, atoms)`` fixed and summing to one: :func:`pooled_fit`'s,
    spread linearly over the frames between the pooled frames' centres (the dropped atoms'
    are zero), float32."""
    keep, pooled = pooled_fit(v, w)
    frames = v.shape[1]
    at = np.clip((np.arange(frames) + 0.5) / POOL - 0.5, 0, pooled.shape[1] - 1)
    left = np.minimum(at.astype(int), max(pooled.shape[1] - 2, 0))
    right = np.minimum(left + 1, pooled.shape[1] - 1)
    share = (at - left)[None].astype(np.float32)
    out = np.zeros((w.shape[1], frames), np.float32)
    out[keep] = (pooled[:, left] * (1 - share) + pooled[:, right] * share) / POOL
    return out


def played(dicts: ClassDictionaries, mixture: np.ndarray) -> ClassDictionaries:
    """The atoms of ``dicts`` that a mixture ``(channels, samples)`` at :data:`DICT_RATE`
    plays (those :func:`pooled_fit` keeps): a long input's dictionary, found once on a sample
    of it, so that its blocks do not start from every atom."""
    v = np.abs(stft(mixture, *stft_grid(notes=True))).mean(axis=0)
    keep, _ = pooled_fit(v, dicts.templates)
    if not len(keep):  # a silent sample says nothing about the notes: all of them
        return dicts
    return ClassDictionaries(dicts.templates[:, keep], dicts.owner[keep], dicts.classes)
