"""Learned separators as methods: the mask network trained without stems (``mixit``) and
its supervised twin (``pit``), with their M outputs grouped into sources without the truth.

The network gives M outputs (M ≥ the most instruments a stem holds) that add up to the
mixture. Grouping them needs no reference: outputs more than :data:`FLOOR_DB` below the
loudest are silent; the sounding ones are the sources, merged by the similarity of their
spectral envelopes when there are more than asked for; silent ones join the source whose
envelope is nearest, so the sources still add up to the mixture. Counting is the number
of sounding outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from latentsep import spectral
from latentsep.audio import resample
from latentsep.models.separator import MaskSeparator
from latentsep.models.stemnet import StemNet
from latentsep.separation import blocks, clustering, nmf
from latentsep.separation.base import BlockRun, Estimates, Fit, fits, register

#: Outputs this far below the loudest are silent (an inference choice: not in the model's key).
FLOOR_DB = -20.0


@torch.no_grad()
def outputs(separator: MaskSeparator | StemNet, x: np.ndarray, rate: int) -> np.ndarray:
    """The separator's M outputs for ``(channels, samples)`` audio at ``rate``, each
    channel separated on its own: ``(M, channels, samples)``, adding up to ``x``."""
    cfg = separator.cfg
    y = resample(x, rate, cfg.sample_rate)
    dev = next(separator.parameters()).device
    out = separator(torch.from_numpy(np.ascontiguousarray(y, np.float32)).to(dev))
    return _at_rate(out.float().cpu().numpy().transpose(1, 0, 2), x, rate, cfg.sample_rate)


def _at_rate(out: np.ndarray, x: np.ndarray, rate: int, net_rate: int) -> np.ndarray:
    """Outputs ``(M, channels, samples)`` made at ``net_rate`` back at the input's ``rate``
    and length, still adding up to the input ``x``."""
    if net_rate != rate:
        out = np.stack([resample(o, net_rate, rate) for o in out])
        out = out[..., : x.shape[-1]]
        out = np.pad(out, [(0, 0), (0, 0), (0, x.shape[-1] - out.shape[-1])])
        out += (x - out.sum(axis=0)) / len(out)  # what resampling lost, shared alike
    return out.astype(np.float32)


def envelopes(signals: np.ndarray) -> np.ndarray:
    """MFCC-like envelope descriptors of each signal's mean magnitude spectrum."""
    mags = np.stack([np.abs(spectral.stft(s.mean(axis=0))).mean(axis=-1) for s in signals])
    return nmf.timbre(mags.T + 1e-12)


def energies(outs: np.ndarray) -> np.ndarray:
    """Each output's energy: ``(M, channels, samples)`` → ``(M,)``, summed in float64."""
    return np.sum(np.asarray(outs, np.float64) ** 2, axis=(1, 2))


def sounding(energy: np.ndarray, floor_db: float) -> np.ndarray:
    """Which outputs of energies ``energy`` sound: those within ``floor_db`` of the loudest."""
    return np.asarray(energy) >= np.max(energy) * 10 ** (floor_db / 10)


def count_sounding(energy: np.ndarray, floor_db: float, ks: Sequence[int] = (2, 3, 4)) -> int:
    """How many outputs sound (:func:`sounding`), kept within ``ks``: the count of every
    class-output method."""
    return int(np.clip(sounding(energy, floor_db).sum(), min(ks), max(ks)))


def group(
    outs: np.ndarray,
    n_sources: int | None,
    floor_db: float,
    ks: Sequence[int] = (2, 3, 4),
    named: bool = False,
    alike: np.ndarray | None = None,
    count_floor_db: float | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Sources from outputs ``(M, channels, samples)`` and each output's source label.
    ``named``: the outputs are instrument classes, so the loudest ``n`` are the sources and
    every other output joins the one whose envelope is nearest (on the 13 held-out train
    pieces, with the count given: ``classmask`` +3.45 / +3.61 dB in the two training
    soundfonts against +2.24 / +3.64 when the sounding outputs were clustered). ``alike``
    ``(M, M)`` in [0, 1]: the sounding outputs are clustered by it instead of by their
    envelopes (silent ones join the source they are most alike on average), and the count
    is :func:`count_unlike`'s. ``count_floor_db``: the outputs counted are those within it
    (``floor_db`` when not given)."""
    m = len(outs)
    energy = energies(outs)
    count_floor_db = floor_db if count_floor_db is None else count_floor_db
    if n_sources is not None:
        n = n_sources
    elif alike is not None:
        n = count_unlike(energy, alike, count_floor_db, ks)
    else:
        n = count_sounding(energy, count_floor_db, ks)
    order = np.argsort(-energy)
    if n >= m:
        labels = np.arange(m)
    elif named:
        feats = envelopes(outs)
        labels = np.full(m, -1)
        labels[order[:n]] = np.arange(n)
        for i in order[n:]:
            labels[i] = int(np.argmin(((feats[order[:n]] - feats[i]) ** 2).sum(axis=1)))
    else:
        from sklearn.cluster import AgglomerativeClustering

        keep = sounding(energy, floor_db)
        if keep.sum() < n:  # fewer sounding than asked for: the loudest n are the sources
            keep[order[:n]] = True
        idx = np.flatnonzero(keep)
        if alike is not None:
            distance = 1.0 - alike[np.ix_(idx, idx)]
            cluster = AgglomerativeClustering(n, metric="precomputed", linkage="average")
        else:
            feats = envelopes(outs)
            distance = feats[idx]
            cluster = AgglomerativeClustering(n, linkage="average")
        labels = np.full(m, -1)
        labels[idx] = cluster.fit_predict(distance) if len(idx) > n else np.arange(len(idx))
        if alike is None:  # the sounding outputs' envelopes are the sources' centres
            centres = np.stack([feats[idx[labels[idx] == g]].mean(axis=0) for g in range(n)])
        for i in np.flatnonzero(labels < 0):  # silent outputs join the nearest source
            if alike is not None:  # (and those that joined it before them)
                labels[i] = int(np.argmax([alike[i, labels == g].mean() for g in range(n)]))
            else:
                labels[i] = int(np.argmin(((centres - feats[i]) ** 2).sum(axis=1)))
    return by_label(outs, labels, n), labels


def count_unlike(
    energy: np.ndarray,
    alike: np.ndarray,
    floor_db: float,
    ks: Sequence[int] = (2, 3, 4),
    leak: float | None = None,
) -> int:
    """How many sounding outputs (:func:`sounding`) are not a louder one's leak: from the
    loudest down, an output counts unless it is ``leak`` (:data:`LEAK_ALIKE`) alike or more
    to one that counted; kept within ``ks``."""
    leak = LEAK_ALIKE if leak is None else leak
    loud = sounding(energy, floor_db)
    counted: list[int] = []
    for i in np.argsort(-np.asarray(energy)):
        if loud[i] and all(alike[i, j] < leak for j in counted):
            counted.append(int(i))
    return int(np.clip(len(counted), min(ks), max(ks)))


def coactivity(models: Sequence[np.ndarray]) -> np.ndarray:
    """How alike class models ``(freqs, frames)`` are: the cosine of their magnitude
    spectrograms, ``(M, M)`` in [0, 1]. High where a class plays the notes another plays, at
    the same times: one instrument's sound shared by two classes' atoms (a leak)."""
    x = np.stack([np.ravel(m) for m in models]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return np.clip(x @ x.T, 0.0, 1.0)


#: ``notenmf+classmask``'s count: each class output is judged an instrument or a leak by a
#: logistic model of :func:`output_features` with one bias per class (some classes' notes
#: catch other instruments' leaks more: piano and synth pads above all), and the count is
#: the most likely number of instruments (:func:`count_likely`). Fitted on all 266
#: validation pieces (``benchmarks/probe_counting.py --fit``, L2 weight 1): right 90 % in
#: five folds and 86 / 90 % trained on one training soundfont and read on the other, against
#: 83 % for the floor and leak rule (:func:`count_unlike`). The weights are of the shipped
#: notes and network: a retrained pair may want them fitted again.
COUNT_WEIGHTS = {"level": -0.064, "share": 0.72, "louder alike": -1.628, "most alike": -1.405}
COUNT_BIAS = {  # "": a class the fit did not see
    "": 10.327,
    "piano": 8.146,
    "guitar": 10.297,
    "organ": 11.429,
    "strings": 12.158,
    "synth_lead": 11.835,
    "synth_pad": 7.623,
    "brass": 12.414,
    "reed": 9.504,
    "chromatic": 9.632,
}


def output_features(energy: np.ndarray, alike: np.ndarray) -> np.ndarray:
    """Each output's level below the loudest and share of all outputs (dB, floored at
    −40), and how alike (:func:`coactivity`) it is to the most alike louder output and to
    the most alike other one: ``(M, 4)``, in :data:`COUNT_WEIGHTS`' order."""
    energy = np.asarray(energy, np.float64)
    db = lambda r: np.maximum(10 * np.log10(np.maximum(r, 1e-12)), -40.0)  # noqa: E731
    others = np.where(np.eye(len(energy), dtype=bool), 0.0, alike)
    louder = np.where(energy[None, :] > energy[:, None], others, 0.0).max(axis=1)
    return np.column_stack(
        [db(energy / energy.max()), db(energy / energy.sum()), louder, others.max(axis=1)]
    )


def count_likely(
    energy: np.ndarray,
    alike: np.ndarray,
    classes: Sequence[str],
    ks: Sequence[int] = (2, 3, 4),
    weights: dict[str, float] | None = None,
    bias: dict[str, float] | None = None,
) -> int:
    """The number of instruments in ``ks`` that makes the outputs' judgements (a logistic
    model: ``weights`` of :func:`output_features`, a ``bias`` per class, default
    :data:`COUNT_WEIGHTS` and :data:`COUNT_BIAS`; output ``i`` is class ``classes[i]``) most
    likely, the likeliest outputs being the instruments."""
    weights, bias = weights or COUNT_WEIGHTS, bias or COUNT_BIAS
    offset = np.array([bias.get(c, bias[""]) for c in classes])
    z = output_features(energy, alike) @ np.array(list(weights.values())) + offset
    yes, no = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)  # log p, log (1 − p)
    order = np.argsort(-z)
    return max(ks, key=lambda k: yes[order[:k]].sum() + no[order[k:]].sum())


def by_label(outs: np.ndarray, labels: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` sources, source ``g`` the sum of the outputs labelled ``g`` (n > M: the groups
    past the outputs are silent)."""
    zero = np.zeros_like(outs[0])
    return [outs[labels == g].sum(axis=0) if np.any(labels == g) else zero for g in range(n)]


def fitted_classes(
    parts,
    floor_db: float,
    named: bool = False,
    count_floor_db: float | None = None,
    count=None,
) -> Fit:
    """A class-output method fitted once on a long input's sample: which classes make which
    source (and how many sources) is decided there, so each output is the same classes, the
    same instrument, in every block. ``parts(separator, x, rate)`` gives the class outputs,
    or the outputs and how alike they are (:func:`group`'s ``alike``); ``count(separator,
    outs, alike, ks)``, if given, counts the sources when they are not given (None: as
    :func:`group` does)."""

    def fit(sample, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> BlockRun:
        _needs(separator)
        outs, alike = _with_alike(parts(separator, sample, rate))
        if n_sources is None and count is not None:
            n_sources = count(separator, outs, alike, ks)
        sources, labels = group(outs, n_sources, floor_db, ks, named, alike, count_floor_db)

        def run(block: np.ndarray) -> list[np.ndarray]:
            return by_label(_with_alike(parts(separator, block, rate))[0], labels, len(sources))

        return run

    return fit


def _with_alike(found) -> tuple[np.ndarray, np.ndarray | None]:
    return found if isinstance(found, tuple) else (found, None)


def _needs(separator) -> None:
    if separator is None:
        raise ValueError("a learned method needs its trained separator (separator=...)")


def _learned(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    _needs(separator)
    return group(outputs(separator, x, rate), n_sources, FLOOR_DB, ks)


register(
    "mixit",
    "a mask network trained on mixtures of mixtures only (MixIT), outputs grouped unsupervised",
    learned=True,
    tags=("beyond",),
)(_learned)
register(
    "pit",
    "the same network trained on the instruments' stems (supervised twin, the ceiling)",
    learned=True,
    tags=("supervised",),
)(_learned)


# --- learned from the rendered stems (one network, two heads: models.stemnet) ---------------

#: A class output this far below the loudest is not an instrument (counting). Chosen on the
#: 13 held-out train pieces in both training soundfonts (26 cases) with the 600-piece
#: network: right 85 % of the time at −12 dB (−8: 62 %, −10: 73 %, −15: 73 %, −20: 69 %;
#: ``nmf+classmask``'s eigengap: 50 %). Supervised NMF's classes leak more and count best at
#: −6 dB (chosen on every fourth train track: 55 %; −10: 52 %, −15: 39 %).
CLASS_FLOOR_DB = -12.0
NMF_CLASS_FLOOR_DB = -6.0
#: Deep clustering clusters the bins within this many dB of the loudest; quieter bins go to
#: the nearest centre. At most this many bins are used to fit the centres.
DC_FLOOR_DB = -40.0
DC_FIT_BINS = 8000


def _classmask(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    _needs(separator)
    return group(outputs(separator, x, rate), n_sources, CLASS_FLOOR_DB, ks, named=True)


@torch.no_grad()
def embeddings(net: StemNet, x: np.ndarray, rate: int) -> tuple[np.ndarray, torch.Tensor, int]:
    """The deep-clustering embedding of every time-frequency bin of the mono mix-down,
    ``(freqs × frames, embedding)``, the STFT of each channel at the network's rate,
    ``(channels, freqs, frames)``, and the length in samples at that rate."""
    y = torch.from_numpy(np.ascontiguousarray(resample(x, rate, net.cfg.sample_rate), np.float32))
    dev = next(net.parameters()).device
    spec = net.stft(y.to(dev))
    _, emb = net.heads(spec.mean(dim=0, keepdim=True))
    return emb[0].reshape(emb.shape[1], -1).T.float().cpu().numpy(), spec, y.shape[-1]


def missing_head(method: str, cfg) -> str | None:
    """Why a stem network of configuration ``cfg`` cannot run ``method`` (None: it can)."""
    if method == "deepclustering" and cfg.dc_weight <= 0:
        return (
            "deepclustering needs the network's deep-clustering head, which this preset does "
            "not train (stemnet.dc_weight = 0; --set stemnet.dc_weight=1 trains it)"
        )
    return None


def _deepclustering(x, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    _needs(separator)
    if reason := missing_head("deepclustering", separator.cfg):
        raise ValueError(reason)
    from sklearn.cluster import KMeans

    cfg = separator.cfg
    v, spec, length = embeddings(separator, x, rate)
    level = spec.abs().mean(dim=0).reshape(-1).cpu().numpy()
    active = np.flatnonzero(level > level.max() * 10 ** (DC_FLOOR_DB / 20))
    rng = np.random.default_rng(seed)
    fit = v[np.sort(rng.choice(active, min(len(active), DC_FIT_BINS), replace=False))]
    if n_sources is None:
        n_sources = clustering.choose_k(fit, [k for k in ks if k < len(fit)], seed=seed)
    labels = KMeans(n_sources, n_init=4, random_state=seed).fit(fit).predict(v)
    masks = torch.from_numpy(np.stack([labels == k for k in range(n_sources)]).astype(np.float32))
    masks = masks.reshape(n_sources, 1, *spec.shape[1:]).to(spec.device)
    out = spectral.torch_istft(masks * spec[None], cfg.n_fft, cfg.hop, length)
    return list(_at_rate(out.cpu().numpy(), x, rate, cfg.sample_rate)), labels


register(
    "classmask",
    "a mask per instrument class, learned from rendered stems of other pieces",
    learned=True,
    network="stemnet",
    tags=("stems",),
)(_classmask)
register(
    "deepclustering",
    "deep clustering of time-frequency bins, learned from rendered stems (no class names)",
    learned=True,
    network="stemnet",
    tags=("stems",),
)(_deepclustering)
fits("classmask")(fitted_classes(outputs, CLASS_FLOOR_DB, named=True))


def _supervisednmf(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    _needs(separator)
    return group(_dictionary_parts(separator, x, rate), n_sources, NMF_CLASS_FLOOR_DB, ks)


def _dictionary_parts(dicts: nmf.ClassDictionaries, x: np.ndarray, rate: int) -> np.ndarray:
    y = resample(x, rate, nmf.DICT_RATE)
    return _at_rate(nmf.class_parts(y, dicts), x, rate, nmf.DICT_RATE)


register(
    "supervisednmf",
    "NMF with one dictionary per instrument class, learned from rendered stems",
    learned=True,
    network="nmfdict",
    tags=("stems",),
)(_supervisednmf)
# its classes leak more: picked by loudness, its outputs did no better (held-out pieces +2.20 /
# +1.53 against +1.70 / +1.75; the smoke set −0.9 against +1.3 dB), so they are clustered
fits("supervisednmf")(fitted_classes(_dictionary_parts, NMF_CLASS_FLOOR_DB, named=False))


#: ``notenmf``'s class outputs this far below the loudest are silent: they join a source
#: without deciding the groups, and are not counted. An output at least LEAK_ALIKE alike
#: (:func:`coactivity`) to a louder counted one is its leak. Chosen on 100 validation pieces
#: (``benchmarks/probe_notes.py``): the count given, clustered by co-activity at −15 dB
#: +7.30 / +8.15 dB (at −6 dB +6.96 / +8.02; by envelope, as ``supervisednmf``, +6.46 /
#: +7.30; the oracle grouping +7.71 / +8.57); counting right 58 / 66 % (at −6 dB, every
#: sounding output: 52 / 52 %).
NOTE_CLASS_FLOOR_DB, LEAK_ALIKE = -15.0, 0.4
#: ... but counted within 10 dB of the loudest (chosen on the 266 validation pieces).
NOTE_COUNT_FLOOR_DB = -10.0


#: ``notenmf+classmask`` weighs each class's model by the stem network's mask for that class
#: to this power (floored at MASK_FLOOR): a product of the two experts, the notes' fit
#: deciding where each note is and the network, which hears each bin in its context, which
#: class holds it (``benchmarks/probe_notes.py --mask-weights``; the Ablations appendix).
MASK_WEIGHT, MASK_FLOOR = 0.25, 0.01


@dataclass(frozen=True)
class NotesAndMasks:
    """``notenmf+classmask``'s learned parts: the note dictionaries and the stem network
    whose class masks weigh their class models (the same classes, in the same order)."""

    notes: nmf.ClassDictionaries
    net: StemNet

    def __post_init__(self) -> None:
        if tuple(self.notes.classes) != tuple(self.net.classes):
            raise ValueError(
                f"the note dictionaries' classes {self.notes.classes} are not the network's "
                f"{tuple(self.net.classes)}"
            )


def _note_parts(
    separator: nmf.ClassDictionaries | NotesAndMasks,
    x: np.ndarray,
    rate: int,
    weight: float = MASK_WEIGHT,
) -> tuple[np.ndarray, np.ndarray]:
    """``notenmf``'s class outputs ``(classes, channels, samples)`` and their co-activity
    (``notenmf+classmask``'s: the class models weighed by the network's class masks to the
    power ``weight``)."""
    with_net = isinstance(separator, NotesAndMasks)
    y = resample(x, rate, nmf.DICT_RATE)
    spec, models = nmf.class_models(y, separator.notes if with_net else separator, notes=True)
    if with_net:  # weighed on the network's (smaller) grid, then read on the notes'
        weights = (class_masks(separator.net, x, rate)[0] + MASK_FLOOR) ** weight
        for m, s in zip(models, weights, strict=True):  # a class at a time: less memory
            m *= _on_grid(separator.net, s[None], m.shape)[0]
    # the activations are linear between pooled frames: every eighth frame shows as much
    alike = coactivity([m[:, :: nmf.POOL // 4] for m in models])
    parts = nmf.masked_parts(y, spec, models, notes=True, overwrite=True)  # models → masks
    return _at_rate(parts, x, rate, nmf.DICT_RATE), alike


def _on_grid(net: StemNet, masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The network's class masks ``(classes, freqs, frames)`` on the note dictionaries' STFT
    grid ``shape`` (the nearest bin and frame; the same grid when the rates and STFTs are)."""
    freqs = spectral.frequencies(nmf.NOTE_N_FFT, nmf.DICT_RATE)[: shape[0]]
    fi, ti = _nearest(net, masks, freqs, np.arange(shape[1]) * nmf.NOTE_HOP / nmf.DICT_RATE)
    return np.take(np.take(masks, ti, axis=2), fi, axis=1)  # 4 times chained indexing's speed


def _nearest(
    net: StemNet, masks: np.ndarray, freqs: np.ndarray, seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The network's bin and frame nearest each frequency (Hz) and time (s), within its
    masks ``(classes, freqs, frames)``."""
    cfg = net.cfg
    fi = np.minimum(np.round(freqs * cfg.n_fft / cfg.sample_rate).astype(int), masks.shape[1] - 1)
    ti = np.round(seconds * cfg.sample_rate / cfg.hop).astype(int)
    return fi, np.minimum(ti, masks.shape[2] - 1)


def _played(dicts: nmf.ClassDictionaries, sample: np.ndarray, rate: int) -> nmf.ClassDictionaries:
    return nmf.played(dicts, resample(sample, rate, nmf.DICT_RATE))


def _notes_played(separator, sample: np.ndarray, rate: int):
    """The separator with only the notes that ``sample`` plays (a long input's dictionary)."""
    if isinstance(separator, NotesAndMasks):
        return NotesAndMasks(_played(separator.notes, sample, rate), separator.net)
    return _played(separator, sample, rate)


def _notenmf(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    _needs(separator)
    if x.shape[-1] > blocks.FIT_SECONDS * rate:  # as a long file's blocks: the sample's notes
        read = lambda s, n: x[:, s : s + n]  # noqa: E731
        separator = _notes_played(separator, blocks.fit_sample(read, x.shape[-1], rate), rate)
    outs, alike = _note_parts(separator, x, rate)
    if n_sources is None:
        n_sources = _note_count(separator, outs, alike, ks)
    return group(
        outs, n_sources, NOTE_CLASS_FLOOR_DB, ks, alike=alike, count_floor_db=NOTE_COUNT_FLOOR_DB
    )


def _note_count(separator, outs: np.ndarray, alike: np.ndarray, ks) -> int | None:
    """``notenmf+classmask``'s count (:func:`count_likely`; ``notenmf``'s is
    :func:`group`'s: None)."""
    if not isinstance(separator, NotesAndMasks):
        return None
    energy = energies(outs)
    return count_likely(energy, alike, separator.notes.classes, ks)


_fit_notes = fitted_classes(
    _note_parts, NOTE_CLASS_FLOOR_DB, count_floor_db=NOTE_COUNT_FLOOR_DB, count=_note_count
)


def _fit_notenmf(sample, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> BlockRun:
    """Fitted once per file: the notes the sample plays are the dictionary of every block."""
    _needs(separator)
    separator = _notes_played(separator, sample, rate)
    return _fit_notes(sample, n_sources, rate=rate, separator=separator, ks=ks)


register(
    "notenmf",
    "NMF whose atoms are every note each instrument class's programs play in the training "
    "soundfonts, rendered alone",
    learned=True,
    network="notedict",
    tags=("stems",),
    # 2: activations fitted on half-second frames, outputs grouped by co-activity; 3: the
    # notes' STFT 2,048 / 512 (nmf.NOTE_N_FFT); 4: 4,096 / 512, pruned at 10⁻², the first
    # updates on coarse bins; 5: counted within NOTE_COUNT_FLOOR_DB
    version=5,
)(_notenmf)
fits("notenmf")(_fit_notenmf)


def _masked(run):
    """``run`` for ``notenmf+classmask``, which must be given the network with the notes."""

    def checked(x, n_sources, *, separator, **options):
        if not isinstance(separator, NotesAndMasks):
            raise ValueError(
                "notenmf+classmask needs the note dictionaries with the stem network "
                f"(separator=NotesAndMasks(...)), not {type(separator).__name__}"
            )
        return run(x, n_sources, separator=separator, **options)

    return checked


register(
    "notenmf+classmask",
    "notenmf with each class's part weighed by the stem network's class mask (a product of "
    "the two)",
    learned=True,
    network="notedict+stemnet",
    tags=("stems",),
    # 2: the notes' STFT 2,048 / 512 (nmf.NOTE_N_FFT); 3: 4,096 / 512, pruned at 10⁻², the
    # first updates on coarse bins; 4: counted within NOTE_COUNT_FLOOR_DB; 5: counted by
    # count_likely
    version=5,
)(_masked(_notenmf))
fits("notenmf+classmask")(_masked(_fit_notenmf))


def _grouped_by_classes(
    name: str, description: str, network: str, shares, count=None, streams: bool = False
) -> None:
    """Register a method that groups the mixture's own NMF components by spectral
    clustering of harmonic-timbre affinity × one class affinity per feature that
    ``shares(separator, mixture, w, h, rate)`` lists for the components (× ``streams``:
    ``nmf+streams``' cannot- and must-links); fitted once per file. The count, when not
    given: ``count(separator, x, rate, ks)``, else the affinity's eigengap."""

    def affinity(separator, rate: int):
        def run(mixture: np.ndarray, w: np.ndarray, h: np.ndarray, n_fft: int) -> np.ndarray:
            if n_fft != spectral.N_FFT:
                raise ValueError("class shares are measured on the package's STFT")
            if streams:
                out = nmf.stream_affinity(w, h, rate)
            else:
                out = clustering.gaussian_affinity(nmf.harmonic_timbre(w, rate))
            for feats in shares(separator, mixture, w, h, rate):
                out = out * clustering.gaussian_affinity(feats)
            return out

        return run

    def counted(x, n_sources, separator, rate, ks):
        if n_sources is None and count is not None:
            return count(separator, x, rate, ks)
        return n_sources

    def method(x, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> Estimates:
        _needs(separator)
        n = counted(x, n_sources, separator, rate, ks)
        return nmf.separate(x, n, seed=seed, ks=ks, affinity=affinity(separator, rate))

    def fit(sample, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> BlockRun:
        _needs(separator)
        n = counted(sample, n_sources, separator, rate, ks)
        return nmf.fit(sample, n, seed=seed, ks=ks, affinity=affinity(separator, rate))

    register(name, description, learned=True, network=network, tags=("stems",))(method)
    fits(name)(fit)


_grouped_by_classes(
    "nmf+classes",
    "the mixture's own KL-NMF components grouped by harmonic timbre and by the class "
    "dictionaries learned from rendered stems",
    "nmfdict",
    lambda dicts, mixture, w, h, rate: [nmf.class_shares(w, rate, dicts)],
)


#: Each component is described by its loudest this many seconds (of its mono mix-down):
#: enough to know its instrument, at a cost that does not grow with the input's length.
SHARE_SECONDS = 4.0


@torch.no_grad()
def class_masks(net: StemNet, x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The network's class masks ``(classes, freqs, frames)`` for ``(channels, samples)``
    audio's mono mix-down and the magnitudes ``(freqs, frames)`` they share, on the
    network's own STFT grid."""
    y = resample(np.asarray(x, np.float32).mean(axis=0, keepdims=True), rate, net.cfg.sample_rate)
    dev = next(net.parameters()).device
    spec = net.stft(torch.from_numpy(np.ascontiguousarray(y, np.float32)).to(dev))
    masks, _ = net.heads(spec, embed=False)
    return masks[0].float().cpu().numpy(), spec[0].abs().float().cpu().numpy()


def class_energies(net: StemNet, x: np.ndarray, rate: int) -> np.ndarray:
    """The energy of each class output for ``(channels, samples)`` audio (its mono
    mix-down), measured on the masked spectrogram at the network's rate: no inverse STFT."""
    masks, mag = class_masks(net, x, rate)
    return np.square(masks * mag[None], dtype=np.float64).sum(axis=(1, 2))


def context_shares(
    net: StemNet, mixture: np.ndarray, w: np.ndarray, h: np.ndarray, rate: int
) -> np.ndarray:
    """Each NMF component heard in its mixture: the share of its model spectrogram
    ``w[:, k] h[k]`` (the package's STFT of ``mixture`` at ``rate``) that each of the
    network's class masks for the whole mixture holds, below the network's Nyquist
    frequency, as log shares ``(components, classes)``. One pass of the network, which
    hears each note among the others, as it learned to."""
    masks, _ = class_masks(net, mixture, rate)
    freqs = spectral.frequencies(spectral.N_FFT, rate)[: w.shape[0]]
    below = freqs < net.cfg.sample_rate / 2
    fi, ti = _nearest(net, masks, freqs[below], np.arange(h.shape[1]) * spectral.HOP / rate)
    wb = w[below]
    held = np.stack([np.sum(wb * (masks[c][fi][:, ti] @ h.T), axis=0) for c in range(len(masks))])
    share = held.T / (wb.sum(axis=0) * h.sum(axis=1) + 1e-12)[:, None]
    return np.log(share + 1e-3)


def network_shares(net: StemNet, components: Iterable[np.ndarray], rate: int) -> np.ndarray:
    """Each NMF component's sound (``(channels, samples)``, its loudest
    :data:`SHARE_SECONDS`) given to the network: the log share of its energy in each class
    output, ``(components, classes)``."""
    energy = np.stack(
        [class_energies(net, nmf.loudest_seconds(c, rate, SHARE_SECONDS), rate) for c in components]
    )
    return np.log(energy / (energy.sum(axis=1, keepdims=True) + 1e-12) + 1e-3)


def component_shares(
    net: StemNet, mixture: np.ndarray, w: np.ndarray, h: np.ndarray, rate: int
) -> list[np.ndarray]:
    """``nmf+classmask``'s two descriptions of each NMF component: the network's class
    shares of its sound alone (:func:`network_shares`) and in the mixture
    (:func:`context_shares`)."""
    mono = mixture.mean(axis=0, keepdims=True)
    alone = network_shares(net, nmf.iter_component_sources(mono, w, h), rate)
    return [alone, context_shares(net, mixture, w, h, rate)]


_grouped_by_classes(
    "nmf+classmask",
    "the mixture's own KL-NMF components grouped by harmonic timbre, by streaming links and "
    "by the class outputs of the network learned from rendered stems (each component alone "
    "and in the mixture)",
    "stemnet",
    # each component alone and in the mixture, × nmf+streams' links: on the 266 validation
    # pieces +3.36 / +4.29 dB in the two training soundfonts, adjusted Rand index 0.43 /
    # 0.47 (alone × harmonic timbre, before: +3.01 / +3.81, 0.36 / 0.39)
    lambda net, mixture, w, h, rate: component_shares(net, mixture, w, h, rate),
    # counted like classmask, by the network's class outputs on the whole mixture (held-out
    # pieces: 85 % right, against 50 % for the affinity's eigengap)
    lambda net, x, rate, ks: count_sounding(class_energies(net, x, rate), CLASS_FLOOR_DB, ks),
    streams=True,
)
