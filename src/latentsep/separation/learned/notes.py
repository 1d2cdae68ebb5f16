"""NMF on note dictionaries (``notenmf``), and weighed by the stem network's class masks
(``notenmf+classmask``, :class:`NotesAndMasks`): the class outputs (:func:`note_parts`),
grouped by how alike they play, and counted by a logistic model of the outputs
(:func:`count_likely`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latentsep import spectral
from latentsep.audio import resample
from latentsep.models.stemnet import StemNet
from latentsep.separation import blocks, nmf
from latentsep.separation.base import BlockRun, Estimates, fits, register
from latentsep.separation.learned.grouping import (
    at_rate,
    coactivity,
    energies,
    fitted_classes,
    group,
    needs,
)
from latentsep.separation.learned.stems import class_masks, nearest
from latentsep.tuning import TUNING


@dataclass(frozen=True)
class NotesAndMasks:
    """What the note methods run: the note dictionaries (``notenmf``) and, for
    ``notenmf+classmask``, the stem network whose class masks weigh their class models (the
    same classes, in the same order)."""

    notes: nmf.ClassDictionaries
    net: StemNet | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.notes, nmf.ClassDictionaries):
            raise ValueError(
                f"NotesAndMasks needs the note dictionaries, not {type(self.notes).__name__}"
            )
        if self.net is not None and tuple(self.notes.classes) != tuple(self.net.classes):
            raise ValueError(
                f"the note dictionaries' classes {self.notes.classes} are not the network's "
                f"{tuple(self.net.classes)}"
            )


def note_parts(
    separator: NotesAndMasks,
    x: np.ndarray,
    rate: int,
    weight: float = TUNING.note_masks.weight,
) -> tuple[np.ndarray, np.ndarray]:
    """``notenmf``'s class outputs ``(classes, channels, samples)`` and their co-activity
    (``notenmf+classmask``'s: the class models weighed by the network's class masks to the
    power ``weight``)."""
    y = resample(x, rate, nmf.DICT_RATE)
    spec, models = nmf.class_models(y, separator.notes, notes=True)
    if separator.net is not None:  # weighed on the network's grid, then read on the notes'
        weights = (class_masks(separator.net, x, rate)[0] + TUNING.note_masks.floor) ** weight
        for m, s in zip(models, weights, strict=True):  # a class at a time: less memory
            m *= _on_grid(separator.net, s[None], m.shape)[0]
    # the activations are linear between pooled frames: every eighth frame shows as much
    alike = coactivity([m[:, :: nmf.POOL // 4] for m in models])
    parts = nmf.masked_parts(y, spec, models, notes=True, overwrite=True)  # models → masks
    return at_rate(parts, x, rate, nmf.DICT_RATE), alike


def _on_grid(net: StemNet, masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The network's class masks ``(classes, freqs, frames)`` on the note dictionaries' STFT
    grid ``shape`` (the nearest bin and frame; the same grid when the rates and STFTs are)."""
    freqs = spectral.frequencies(nmf.NOTE_N_FFT, nmf.DICT_RATE)[: shape[0]]
    fi, ti = nearest(net, masks, freqs, np.arange(shape[1]) * nmf.NOTE_HOP / nmf.DICT_RATE)
    return np.take(np.take(masks, ti, axis=2), fi, axis=1)  # 4 times chained indexing's speed


def _played(dicts: nmf.ClassDictionaries, sample: np.ndarray, rate: int) -> nmf.ClassDictionaries:
    return nmf.played(dicts, resample(sample, rate, nmf.DICT_RATE))


def _notes_played(separator: NotesAndMasks, sample: np.ndarray, rate: int) -> NotesAndMasks:
    """The separator with only the notes that ``sample`` plays (a long input's dictionary)."""
    return NotesAndMasks(_played(separator.notes, sample, rate), separator.net)


def _notes(separator) -> NotesAndMasks:
    """The note methods' separator, checked: :class:`NotesAndMasks`."""
    needs(separator)
    if not hasattr(separator, "notes"):
        raise ValueError(
            "notenmf needs its note dictionaries as separator=NotesAndMasks(notes), not "
            f"{type(separator).__name__}"
        )
    return separator


def _notenmf(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    separator = _notes(separator)
    if x.shape[-1] > blocks.FIT_SECONDS * rate:  # as a long file's blocks: the sample's notes
        read = lambda s, n: x[:, s : s + n]  # noqa: E731
        separator = _notes_played(separator, blocks.fit_sample(read, x.shape[-1], rate), rate)
    outs, alike = note_parts(separator, x, rate)
    if n_sources is None:
        n_sources = _note_count(separator, outs, alike, ks)
    return group(
        outs,
        n_sources,
        TUNING.floors.note_class,
        ks,
        alike=alike,
        count_floor_db=TUNING.floors.note_count,
    )


#: ``notenmf+classmask``'s count: each class output is judged an instrument or a leak by a
#: logistic model of :func:`output_features` with one bias per class (some classes' notes
#: catch other instruments' leaks more: piano and synth pads above all), and the count is
#: the most likely number of instruments (:func:`count_likely`). Fitted on all 266
#: validation pieces (``experiments/class_counting.py --fit``; the Ablations appendix). The
#: weights are of the shipped notes and network: a retrained pair may want them fitted again.
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


def _note_count(separator, outs: np.ndarray, alike: np.ndarray, ks) -> int | None:
    """``notenmf+classmask``'s count (:func:`count_likely`; ``notenmf``'s is
    :func:`group`'s: None)."""
    if separator.net is None:
        return None
    energy = energies(outs)
    return count_likely(energy, alike, separator.notes.classes, ks)


_fit_notes = fitted_classes(
    note_parts, TUNING.floors.note_class, count_floor_db=TUNING.floors.note_count, count=_note_count
)


def _fit_notenmf(sample, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> BlockRun:
    """Fitted once per file: the notes the sample plays are the dictionary of every block."""
    separator = _notes_played(_notes(separator), sample, rate)
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
    # updates on coarse bins; 5: counted within TUNING.floors.note_count
    version=5,
)(_notenmf)
fits("notenmf")(_fit_notenmf)


def _masked(run):
    """``run`` for ``notenmf+classmask``, which must be given the network with the notes."""

    def checked(x, n_sources, *, separator, **options):
        if getattr(separator, "net", None) is None:
            raise ValueError(
                "notenmf+classmask needs the note dictionaries with the stem network "
                f"(separator=NotesAndMasks(notes, net)), not {type(separator).__name__}"
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
    # first updates on coarse bins; 4: counted within TUNING.floors.note_count; 5: counted by
    # count_likely
    version=5,
)(_masked(_notenmf))
fits("notenmf+classmask")(_masked(_fit_notenmf))
