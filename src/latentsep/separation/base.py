"""The interface every separation method shares, and the registry that names them.

A method is a function ``run(mixture, n_sources, *, rate, model, seed, references, ks,
criterion) -> (sources, labels)`` registered with :func:`register` under a name, a one-line
description and flags (``needs_model``, ``needs_references``, ``learned``) — in the spirit of
nussl's ``SeparationBase`` and EnCodec's name → builder table. :func:`separate`, the CLI's
``--method`` choices, the evaluation, the chapters and the benchmarks all read
:data:`METHODS`; the oracles are methods too, flagged as needing the true sources.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from latentsep import spectral
from latentsep.audio import AudioError, check_audio, prepare, resample
from latentsep.models.autoencoder import Autoencoder

#: Too short to separate: fewer latent (or STFT) frames than this.
MIN_FRAMES = 16

#: ``(sources, labels)``: sources ``(channels, samples)`` each, at the mixture's rate; labels
#: (e.g. the cluster of each latent frame or NMF component) or None.
Estimates = tuple[list[np.ndarray], "np.ndarray | None"]
Run = Callable[..., Estimates]


@dataclass(frozen=True)
class Method:
    """A registered separation method."""

    name: str
    run: Run
    description: str
    needs_model: bool = False  # the autoencoder (model=...)
    needs_references: bool = False  # the true sources: an oracle, a yardstick
    learned: bool = False  # runs a trained network of its own (separate(separator=...))
    tags: frozenset[str] = frozenset()  # the book's selections: "study", "beyond", "reference"


METHODS: dict[str, Method] = {}


def register(
    name: str,
    description: str,
    *,
    needs_model: bool = False,
    needs_references: bool = False,
    learned: bool = False,
    tags: Sequence[str] = (),
) -> Callable[[Run], Run]:
    """Decorator: register ``run`` as the separation method ``name``."""

    def add(run: Run) -> Run:
        if name in METHODS:
            raise ValueError(f"separation method {name!r} is registered twice")
        METHODS[name] = Method(
            name, run, description, needs_model, needs_references, learned, frozenset(tags)
        )
        return run

    return add


def get_method(name: str) -> Method:
    """The registered method ``name``; a clear error listing the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown separation method {name!r}; choose one of {tuple(METHODS)}")
    return METHODS[name]


def method_names(tag: str | None = None, *, references: bool | None = None) -> list[str]:
    """Registered names in registration order, optionally only those tagged ``tag`` and
    (``references``) only those that do (True) or do not (False) need the true sources."""
    return [
        m.name
        for m in METHODS.values()
        if (tag is None or tag in m.tags)
        and (references is None or m.needs_references == references)
    ]


def describe() -> str:
    """One line per method: name, what it needs, description (``latentsep separate
    --list-methods``)."""
    width = max(map(len, METHODS))
    lines = []
    for m in METHODS.values():
        needs = [
            n for n, f in (("model", m.needs_model), ("true sources", m.needs_references)) if f
        ]
        flag = f"[needs {', '.join(needs)}] " if needs else ""
        flag += "[trains its network on first use] " if m.learned else ""
        lines.append(f"{m.name:<{width}}  {flag}{m.description}")
    return "\n".join(lines)


@dataclass
class Separation:
    """What :func:`separate` returns."""

    sources: list[np.ndarray]  # (channels, samples) each, at ``rate``
    rate: int
    method: str
    labels: np.ndarray | None  # cluster of each latent frame (or NMF component)
    seconds: float  # wall-clock time of the separation

    @property
    def n_sources(self) -> int:
        return len(self.sources)


def separate(
    audio: np.ndarray,
    model: Autoencoder | None = None,
    method: str = "nmf+harmonic",
    n_sources: int | None = None,
    *,
    rate: int | None = None,
    seed: int = 0,
    ks: Sequence[int] = (2, 3, 4),
    criterion: str = "silhouette",
    references: list[np.ndarray] | None = None,
    separator=None,
    name: str = "audio",
) -> Separation:
    """Separate a mixture into sources with a registered method.

    Args:
        audio: ``(channels, samples)`` float audio at ``rate``; resampled and mixed to the
            model's format when a model is given.
        model: the trained autoencoder, for methods with ``needs_model``.
        method: a name of :data:`METHODS` (``describe()`` lists them).
        n_sources: how many sources to return; None estimates it among ``ks`` by
            ``criterion`` ("silhouette" or "eigengap").
        rate: sample rate of ``audio`` in Hz (default: the model's).
        seed: makes every random choice (K-Means, NMF initialisation) repeatable.
        references: the true sources, ``(channels, samples)`` each in the same format as
            ``audio``, for the oracles (``needs_references``).
        separator: the trained network of a ``learned`` method
            (:func:`latentsep.pipeline.separator` trains or loads it).
        name: names the input in error messages (e.g. its file name).

    Returns:
        A :class:`Separation`: the sources ``(channels, samples)`` at ``Separation.rate``
        (the model's rate when a model is given), labels, and the wall-clock seconds.
    """
    spec = get_method(method)
    if n_sources is not None and n_sources < 1:
        raise ValueError(f"n_sources must be >= 1 or None, got {n_sources}")
    if model is None and spec.needs_model:
        raise ValueError(f"method {method!r} needs a trained autoencoder (model=...)")
    if spec.needs_references and not references:
        raise ValueError(f"method {method!r} is an oracle: it needs the true sources")
    if spec.learned and separator is None:
        raise ValueError(f"method {method!r} needs its trained separator (separator=...)")
    if model is None and rate is None:
        raise ValueError("give the audio's sample rate (rate=...)")
    rate = rate or model.cfg.sample_rate
    model_rate = model.cfg.sample_rate if model is not None else rate
    hop = model.hop_length if model is not None else spectral.HOP
    x = check_audio(audio, name, min_samples=int(np.ceil(MIN_FRAMES * hop * rate / model_rate)))
    start = time.perf_counter()
    if model is not None:
        x = prepare([x], rate, model.cfg)[0]
        if references is not None:
            references = prepare(references, rate, model.cfg)
        rate = model.cfg.sample_rate
    if not np.any(np.abs(x) > 1e-6):  # e.g. stereo with L = -R, mixed down to mono
        raise AudioError(f"{name}: is silent (nothing to separate)")
    if spec.needs_references:
        n_sources = len(references)
    sources, labels = spec.run(
        x,
        n_sources,
        rate=rate,
        model=model,
        seed=seed,
        references=references,
        separator=separator,
        ks=tuple(ks),
        criterion=criterion,
    )
    return Separation(sources, rate, method, labels, time.perf_counter() - start)


def resample_sources(sep: Separation, rate: int) -> list[np.ndarray]:
    """The sources at another sample rate."""
    return [resample(s, sep.rate, rate) for s in sep.sources]
