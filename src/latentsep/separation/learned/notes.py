"""NMF on note dictionaries (``notenmf``), and weighed by the stem network's class masks
(``notenmf+classmask``, :class:`NotesAndMasks`): the class outputs (:func:`note_parts`),
grouped by how alike they play, and counted by the counting model fitted with the network
(:class:`~latentsep.separation.learned.counting.CountModel`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from latentsep import spectral
from latentsep.audio import resample
from latentsep.models.stemnet import StemNet
from latentsep.separation import blocks, nmf
from latentsep.separation.base import BlockRun, Estimates, fits, register
from latentsep.separation.learned.counting import CountModel
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
    same classes, in the same order) and the counting model fitted on its outputs (needed
    only to count)."""

    notes: nmf.ClassDictionaries
    net: StemNet | None = None
    counter: CountModel | None = None

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
    return replace(separator, notes=_played(separator.notes, sample, rate))


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


def _note_count(separator, outs: np.ndarray, alike: np.ndarray, ks) -> int | None:
    """``notenmf+classmask``'s count (its counting model's; ``notenmf``'s is
    :func:`group`'s: None)."""
    if separator.net is None:
        return None
    if separator.counter is None:
        raise ValueError(
            "notenmf+classmask counts the instruments with its counting model: "
            "separator=NotesAndMasks(notes, net, counter) (pipeline.network gives all three), "
            "or give the number of sources"
        )
    return separator.counter.count(energies(outs), alike, separator.notes.classes, ks)


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
    # its counting model
    version=5,
)(_masked(_notenmf))
fits("notenmf+classmask")(_masked(_fit_notenmf))
