"""The inference settings the methods were tuned to, in one typed place beside the presets.

A preset says how big the data and models are; this says how a trained or model-free
method turns a mixture into sources: ``nmf+streams``' ensemble, its masks and links, and
the floors below which a learned method's outputs are silent or not counted. Each was
chosen on validation pieces (never on the test sets); the measurements behind each, with
the commands that make them again, are in the book's Ablations appendix. Nothing here
shapes a trained model, so none of it is in a model's key (training floors, such as deep
clustering's, stay with their model).

Every module reads :data:`TUNING`; an experiment passes a changed copy,
``dataclasses.replace(TUNING.streams, power=2.0)``, to the function it studies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Member = tuple[int, int, int]


@dataclass(frozen=True)
class Streams:
    """``nmf+streams``: an ensemble of KL-NMF decompositions, each grouped on its own."""

    #: ``(STFT points, components, random start's seed)``: their errors differ (a longer
    #: window resolves low notes, a random start finds other components) and the average
    #: errs less than any (``experiments/nmf_grouping.py``, ``real_streams.py``).
    members: tuple[Member, ...] = (
        (2048, 24, 1),
        (2048, 24, 2),
        (2048, 24, 3),
        (4096, 24, 1),
        (4096, 24, 2),
        (4096, 24, 3),
    )
    #: Updates and tolerance of each member's fit: the default's 200 stop before
    #: converging, and converged components are purer.
    updates: int = 600
    tolerance: float = 1e-4
    #: Each member's masks raise its groups' models to this power: the average of soft
    #: masks is softer than any, and sharper members make up for it.
    power: float = 1.5
    #: A component is only partly one instrument: this share of it is hedged among the
    #: groups, spread by its mean affinity to their members to this power.
    hedge_share: float = 0.5
    hedge_power: float = 4.0
    #: Semitones within which two components' harmonic timbres are compared: far notes
    #: change their timbre as much as instruments differ (``experiments/nmf_grouping.py``).
    timbre_span: float = 6.0
    #: Radians of pan angle within which two components look like one instrument
    #: (``experiments/stereo_pan.py --nmf-only``).
    pan_width: float = 0.2

    @property
    def fit(self) -> dict:
        """The members' fit, as :func:`latentsep.separation.nmf.decompose` takes it."""
        return {"max_iter": self.updates, "tol": self.tolerance}


@dataclass(frozen=True)
class Floors:
    """Levels (dB below the loudest output) at which a learned method's outputs stop
    counting as instruments or as sound."""

    #: Any learned method's output this far down is silent.
    silent: float = -20.0
    #: The stem network's class outputs: below this, not an instrument (counting;
    #: ``experiments/class_counting.py``).
    stem_class: float = -12.0
    #: Supervised NMF's classes leak more than the network's, so they count higher.
    nmf_class: float = -6.0
    #: ``notenmf``'s class outputs: below this they join a source without deciding groups
    #: (``experiments/notenmf.py``).
    note_class: float = -15.0
    #: ... and they count as instruments only within this of the loudest
    #: (``experiments/class_counting.py``).
    note_count: float = -10.0


@dataclass(frozen=True)
class NoteMasks:
    """``notenmf+classmask`` weighs each class's model by the stem network's mask for that
    class: a product of two experts, the notes' fit deciding where each note is and the
    network, which hears each bin in its context, which class holds it."""

    #: The mask's power (0: the notes alone, 1: mask and notes alike;
    #: ``experiments/notenmf.py --mask-weights``).
    weight: float = 0.25
    #: Added to the mask first, so a class the network missed is not silenced outright.
    floor: float = 0.01


@dataclass(frozen=True)
class Tuning:
    streams: Streams = field(default_factory=Streams)
    floors: Floors = field(default_factory=Floors)
    note_masks: NoteMasks = field(default_factory=NoteMasks)
    #: An output at least this alike (in how it sounds over time) to a louder counted one
    #: is that one's leak, not an instrument.
    leak_alike: float = 0.4


#: The settings every method uses.
TUNING = Tuning()
