"""NMF components grouped into sources: what describes each component, how alike two are,
and the grouping, alone or as an ensemble of decompositions (``TUNING.streams.members``).

The classic unsupervised baseline groups components by timbre: the shape of each spectral
template's envelope (MFCC-like descriptors). :func:`latent_embeddings` groups them by
where the autoencoder puts each component's sound instead — the study's idea that the
latent space organises timbre, applied to components that each hold one instrument's notes
rather than to frames in which every instrument plays at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.fft import dct
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from latentsep import parallel, spectral
from latentsep.separation import clustering
from latentsep.separation.blocks import profiles
from latentsep.separation.masks import apply_masks
from latentsep.separation.nmf.core import (
    N_COMPONENTS,
    activations,
    component_labels,
    component_sources,
    decompose,
    fit_step,
    grouped_masks,
    grouped_sources,
    hedged,
    loudest_seconds,
    magnitudes,
    n_groups,
)
from latentsep.spectral import hop_of, stft
from latentsep.tuning import TUNING


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


def chords(e: np.ndarray, semis: np.ndarray, floor: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Which components ``(components, frames)`` of energies ``e`` and pitches ``semis``
    (semitones) sound in each frame — within ``floor`` of the frame's loudest, in frames
    above a tenth of the loud ones — and whether a frame holds notes a semitone or more apart
    (a chord: in ensemble music, as many players)."""
    peak = e.max(axis=0)
    loud = peak >= 0.1 * np.percentile(peak, 95)
    active = (e >= floor * peak[None]) & loud[None]
    top, bottom = _outer_notes(active, semis)
    return active, active.any(axis=0) & (top - bottom >= 1.0)


def _outer_notes(active: np.ndarray, semis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's highest and lowest pitch among its ``active`` components (−inf and inf
    where none sounds)."""
    column = semis[:, None]
    return np.where(active, column, -np.inf).max(axis=0), np.where(active, column, np.inf).min(0)


def chord_ranks(w: np.ndarray, h: np.ndarray, f0: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """Each component's place in the chords it sounds in (:func:`chords`): 0 the lowest of
    the frame's notes, 1 the highest, the energy-weighted mean over those frames; 0.5 if it
    is never in one. An ensemble's parts seldom cross, so one player keeps one place even
    where two players of one instrument share a register. ``f0`` in octaves (log2 Hz)."""
    e = h * w.sum(axis=0)[:, None]
    semis = 12 * f0
    active, chord = chords(e, semis, floor)
    active = active & chord[None]
    top, bottom = _outer_notes(active, semis)
    place = np.where(active, (semis[:, None] - bottom) / np.where(chord, top - bottom, 1.0), 0.0)
    weight = np.where(active, e, 0.0).sum(axis=1)
    return np.where(weight > 0, (place * e).sum(axis=1) / np.maximum(weight, 1e-30), 0.5)


def comodulation(h: np.ndarray, fine: bool = True, floor: float = 0.1, least: int = 8):
    """How alike two components' activations move where both sound (common fate: one
    note's parts swell and waver together, two players seldom do): the correlation, 0 or
    more, of their frame-to-frame log changes (not ``fine``: of the activations) over the
    frames where both are above ``floor`` of their peaks (0 with fewer than ``least``)."""
    a = h / (h.max(axis=1, keepdims=True) + 1e-12)
    x = np.diff(np.log(a + 1e-3), axis=1) if fine else a[:, 1:]
    on = (a[:, 1:] > floor) & (a[:, :-1] > floor) if fine else a[:, 1:] > floor
    n = len(h)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            both = on[i] & on[j]
            if both.sum() >= least:
                with np.errstate(invalid="ignore", divide="ignore"):  # a flat one: r is NaN
                    r = np.corrcoef(x[i, both], x[j, both])[0, 1]
                out[i, j] = out[j, i] = max(0.0, r) if np.isfinite(r) else 0.0
    return out


def pitch_local(
    timbre: np.ndarray, f0: np.ndarray, span: float = TUNING.streams.timbre_span
) -> np.ndarray:
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
    the constant-power pan law puts a source. Mono input: every component in the middle.
    Long inputs are placed on the evenly spaced frames :func:`decompose` learns its
    templates on (:func:`fit_step`; a fixed place needs no more: on a 40-s sample a third
    of the time, the angles within 0.003 rad)."""
    if mixture.shape[0] != 2:
        return np.full(w.shape[1], np.pi / 4)
    v = np.abs(stft(mixture, n_fft, hop_of(n_fft)))
    step = fit_step(v.shape[-1])
    v, h = np.ascontiguousarray(v[..., ::step]), np.ascontiguousarray(h[:, ::step])
    gains = np.ones((2, w.shape[1]))
    norm = (w.sum(axis=0)[:, None] * h).sum(axis=1) + 1e-12
    for g, vc in zip(gains, v, strict=True):
        for _ in range(updates):
            g *= ((w.T @ (vc / (w @ (g[:, None] * h) + 1e-12))) * h).sum(axis=1) / norm
    return np.arctan2(gains[1], gains[0])


def pan_affinity(angles: np.ndarray, width: float = TUNING.streams.pan_width) -> np.ndarray:
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


def group_decomposition(
    mixture: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    n_sources: int | None,
    seed: int = 0,
    ks=(2, 3, 4),
    embed: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    standardize: bool = True,
    affinity: Callable[..., np.ndarray] | None = None,
    hedge: float = 0.0,
    n_fft: int = spectral.N_FFT,
) -> np.ndarray:
    """Each component's source label: by :func:`group_components`, or with ``affinity(mixture,
    w, h, n_fft)``, a components × components affinity, by spectral clustering — and then, if
    ``hedge`` is a share above 0, each component's weight in each source, :func:`hedged`."""
    if affinity is not None:
        a = affinity(mixture, w, h, n_fft)
        labels = clustering.spectral_groups(a, n_sources, ks, seed)
        return hedged(a, labels, hedge) if hedge > 0 else labels
    if n_fft != spectral.N_FFT:
        raise ValueError("components described by `embed` are grouped on the package's STFT")
    return group_components(mixture, w, h, n_sources, seed, ks, embed, standardize)


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
        return apply_masks(mixture, self.masks(mixture, h), self.n_fft)

    def masks(self, mixture: np.ndarray, h: np.ndarray | None = None) -> list[np.ndarray]:
        """Each source's mask on this grouping's STFT (activations fitted if not given)."""
        if h is None:
            h = activations(magnitudes(mixture, self.n_fft), self.w)
        return grouped_masks(self.w, h, self.labels, n_groups(self.labels), self.power)

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
    seed: int = 0,
    fit: dict | None = None,
    hear: bool = True,
    **options,
) -> tuple[list[Grouping], list[list[np.ndarray]]]:
    """Each of ``members``' decomposition of ``mixture`` grouped (``(STFT points,
    components)`` pairs, or with a random start's seed third, ``TUNING.streams.members``; default:
    one, ``n_components`` on the package's STFT) and the sources each gives (masks of
    ``power``, :class:`Grouping`), in the first one's order; the first one chooses the
    count. ``seed`` and ``fit`` as for :func:`decompose`, ``options`` as for
    :func:`group_decomposition`. Members are decomposed, grouped and heard at once on the
    cores (:func:`parallel.thread_map`), each as it would be alone. Not ``hear``: the
    sources are heard as their channels' mean only, enough to put them in order (the
    transform is linear), at half the cost of a stereo mixture's."""
    members = [
        (n_fft, k, start[0] if start else None)
        for n_fft, k, *start in members or ((spectral.N_FFT, n_components),)
    ]
    heard_of = mixture if hear else mixture.mean(axis=0, keepdims=True)
    with spectral.reusing_transforms():
        fits = parallel.thread_map(
            lambda m: decompose(mixture, m[1], seed, m[0], m[2], fit), members
        )

        def label(i: int, n: int | None) -> np.ndarray:
            (w, h), n_fft = fits[i], members[i][0]
            return group_decomposition(mixture, w, h, n, seed, n_fft=n_fft, **options)

        def group(i: int, labels: np.ndarray) -> tuple[Grouping, list[np.ndarray]]:
            grouping = Grouping(fits[i][0], labels, members[i][0], power)
            return grouping, grouping.sources(heard_of, fits[i][1])

        first = label(0, n_sources)  # the first member's grouping chooses the count
        n = n_groups(first)
        everyone = parallel.thread_map(
            lambda i: group(i, first if i == 0 else label(i, n)), range(len(members))
        )
    found, heard = [], []
    orders = in_first_order([sources for _, sources in everyone])
    for (grouping, sources), order in zip(everyone, orders, strict=True):
        if order is not None:  # None: a clustering left a group empty, it cannot be matched
            found.append(grouping.reordered(order))
            heard.append([sources[i] for i in order])
    return found, heard


def in_first_order(heard: list[list[np.ndarray]]) -> list[np.ndarray | None]:
    """The order that puts each member's sources in the first member's (one to one, by the
    similarity of their spectrograms): an index array per member, None for a member with
    another number of sources."""
    first = heard[0]
    if len(heard) == 1:
        return [np.arange(len(first))]
    seen = profiles(first)  # once, not once a member

    def order(sources: list[np.ndarray]) -> np.ndarray | None:
        if len(sources) != len(first):
            return None
        return linear_sum_assignment(seen @ profiles(sources).T, maximize=True)[1]

    return [np.arange(len(first)), *parallel.thread_map(order, heard[1:])]


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
    found, _ = groupings(sample, n_sources, hear=False, **options)

    def run(block: np.ndarray) -> list[np.ndarray]:
        with spectral.reusing_transforms():
            heard = parallel.thread_map(lambda grouping: grouping.masks(block), found)
            # the mean of the members' sources: their masks summed on each STFT, one
            # inverse transform per STFT and source (the transform is linear)
            grids = {}
            for grouping, masks_ in zip(found, heard, strict=True):
                kept = grids.setdefault(grouping.n_fft, masks_)
                if kept is not masks_:
                    for total, m in zip(kept, masks_, strict=True):
                        total += m
            # every member's masks sum to one, so the last source is what the others
            # leave of the block: one inverse transform fewer per STFT
            sums = parallel.thread_map(
                lambda grid: apply_masks(block, grid[1][:-1], grid[0]), grids.items()
            )
        sources = [
            (np.sum(each, axis=0, dtype=np.float64) / len(found)).astype(each[0].dtype)
            for each in zip(*sums, strict=True)
        ]
        rest = block - np.sum(sources, axis=0, dtype=np.float64) if sources else block
        return [*sources, rest.astype(block.dtype)]

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
    labels = component_labels(mixture, w, h, references)
    return grouped_sources(mixture, w, h, labels, len(references))
