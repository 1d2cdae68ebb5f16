"""The interface every separation method shares, and the registry that names them.

A method is a function ``run(mixture, n_sources, *, rate, model, seed, references, ks,
criterion) -> (sources, labels)`` registered with :func:`register` under a name, a one-line
description and flags (``needs_model``, ``needs_references``, ``learned``) — in the spirit of
nussl's ``SeparationBase`` and EnCodec's name → builder table. :func:`separate`, the CLI's
``--method`` choices, the evaluation, the chapters and the benchmarks all read
:data:`METHODS`; the oracles are methods too, flagged as needing the true sources.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from latentsep import parallel, spectral
from latentsep.audio import AudioError, check_audio, prepare, resample
from latentsep.models.autoencoder import Autoencoder
from latentsep.separation import blocks

#: Too short to separate: fewer latent (or STFT) frames than this.
MIN_FRAMES = 16
#: The most sources any method is asked for: more than the instruments of any "other" stem
#: of the datasets (at most 4); beyond it the methods return fragments, not instruments.
MAX_SOURCES = 8
#: Input whose mono mix-down is this far below the input's own level (dB) has channels
#: that cancel (e.g. left = −right): nothing is left to separate.
CANCELLED_DB = -60.0

#: ``(sources, labels)``: sources ``(channels, samples)`` each, at the mixture's rate; labels
#: (e.g. the cluster of each latent frame or NMF component) or None.
Estimates = tuple[list[np.ndarray], "np.ndarray | None"]
Run = Callable[..., Estimates]
#: ``fit(sample, n_sources, **options) -> block_run``: a method fitted once, on a sample of a
#: long input (:func:`blocks.fit_sample`); ``block_run(block)`` gives any block's sources in
#: one fixed order, so every output holds the same instrument from start to end.
BlockRun = Callable[[np.ndarray], list[np.ndarray]]
Fit = Callable[..., BlockRun]


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
    max_sources: int = MAX_SOURCES  # the most sources it can give
    # a learned method's network, as the pipeline names it ("mixit", "pit", "stemnet", ...):
    # methods that share one trained network share its name
    network: str | None = None
    fit: Fit | None = None  # long inputs: fitted once (:func:`fits`), else block by block
    # raised when a change to the method changes what it gives: its cached and shipped scores
    # are then made again, and no other method's
    version: int = 1

    @property
    def id(self) -> str:
        """The name as a command-line identifier: lower case, no spaces or commas
        (``"NMF, oracle grouping"`` -> ``"nmf-oracle-grouping"``)."""
        return method_id(self.name)

    def limit(self, outputs: int | None = None) -> int:
        """The most sources this method gives (a learned one: its network's ``outputs``)."""
        return min(self.max_sources, outputs) if self.learned and outputs else self.max_sources


METHODS: dict[str, Method] = {}


def method_id(name: str) -> str:
    """A method name as an identifier usable in a comma-separated list (:attr:`Method.id`)."""
    return re.sub(r"[^a-z0-9+]+", "-", name.lower()).strip("-")


def register(
    name: str,
    description: str,
    *,
    needs_model: bool = False,
    needs_references: bool = False,
    learned: bool = False,
    tags: Sequence[str] = (),
    max_sources: int = MAX_SOURCES,
    network: str | None = None,
    version: int = 1,
) -> Callable[[Run], Run]:
    """Decorator: register ``run`` as the separation method ``name`` (a ``learned`` one runs
    the trained ``network``, by default a network of its own named like it; ``version``:
    see :class:`Method`)."""

    def add(run: Run) -> Run:
        if name in METHODS or method_id(name) in {m.id for m in METHODS.values()}:
            raise ValueError(f"separation method {name!r} is registered twice")
        METHODS[name] = Method(
            name,
            run,
            description,
            needs_model,
            needs_references,
            learned,
            frozenset(tags),
            max_sources,
            (network or name) if learned else None,
            version=version,
        )
        return run

    return add


def fits(name: str) -> Callable[[Fit], Fit]:
    """Decorator: ``fit`` separates long inputs for the registered method ``name`` with one
    fit on a sample of the whole input (see :data:`Fit`)."""

    def add(fit: Fit) -> Fit:
        METHODS[name] = dataclasses.replace(get_method(name), fit=fit)
        return fit

    return add


def method_options(
    rate: int,
    model: Autoencoder | None = None,
    seed: int = 0,
    references: list[np.ndarray] | None = None,
    separator=None,
    ks: Sequence[int] = (2, 3, 4),
    criterion: str = "silhouette",
) -> dict:
    """The keyword arguments every method's ``run`` (and ``fit``) receives."""
    return dict(
        rate=rate,
        model=model,
        seed=seed,
        references=references,
        separator=separator,
        ks=tuple(ks),
        criterion=criterion,
    )


def block_runner(
    spec: Method,
    read: Callable[[int, int], np.ndarray],
    length: int,
    rate: int,
    n_sources: int | None,
    options: dict,
) -> tuple[blocks.RunBlock, bool]:
    """How a long input's blocks are separated, and whether their sources come in one fixed
    order: by one fit on a sample of the whole input when the method can be fitted, else
    each block on its own."""
    if spec.fit is None:
        return (lambda b, n: spec.run(b, n, **options)[0]), False
    run = spec.fit(blocks.fit_sample(read, length, rate), n_sources, **options)
    return (lambda b, n: run(b)), True


def get_method(name: str) -> Method:
    """The registered method ``name`` (or its :attr:`Method.id`); a clear error listing the
    choices otherwise."""
    if name in METHODS:
        return METHODS[name]
    for m in METHODS.values():
        if m.id == name:
            return m
    raise ValueError(f"unknown separation method {name!r}; choose one of {tuple(METHODS)}")


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
    """One line per method: its identifier, what it needs, description, and the name tables
    show it by where that differs (``latentsep separate --list-methods``)."""
    width = max(len(m.id) for m in METHODS.values())
    lines = []
    for m in METHODS.values():
        needs = [
            n for n, f in (("model", m.needs_model), ("true sources", m.needs_references)) if f
        ]
        flag = f"[needs {', '.join(needs)}] " if needs else ""
        flag += "[its trained network: shipped, or trained on first use] " if m.learned else ""
        shown = f' (tables: "{m.name}")' if m.name != m.id else ""
        lines.append(f"{m.id:<{width}}  {flag}{m.description}{shown}")
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


#: The API's default: the best method on real recordings that needs neither a trained
#: model nor a network, so a call with no arguments works anywhere.
MODEL_FREE_METHOD = "nmf+streams"


def separate(
    audio: np.ndarray,
    model: Autoencoder | None = None,
    method: str = MODEL_FREE_METHOD,
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
            (:func:`latentsep.pipeline.mask_network` trains or loads it).
        name: names the input in error messages (e.g. its file name).

    Returns:
        A :class:`Separation`: the sources ``(channels, samples)`` at ``Separation.rate``
        (the model's rate when a model is given), labels, and the wall-clock seconds.
    """
    spec = get_method(method)
    check_request(spec, n_sources, network_outputs(separator), ks)
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
    check_not_cancelled(blocks.rms(x), blocks.rms(x.mean(axis=0)), name)
    start = time.perf_counter()
    with parallel.flushing_denormals():  # see latentsep.parallel: ~5× faster NMF
        if model is not None:
            x = prepare([x], rate, model.cfg)[0]
            if references is not None:
                references = prepare(references, rate, model.cfg)
            rate = model.cfg.sample_rate
        if spec.needs_references:
            n_sources = len(references)
        options = method_options(rate, model, seed, references, separator, ks, criterion)
        block_seconds = blocks.block_seconds(rate, x.shape[0])
        if spec.needs_references or x.shape[1] <= block_seconds * rate:
            sources, labels = spec.run(x, n_sources, **options)
        else:  # long input: bounded memory, one block at a time (labels are per block: none)
            read = lambda s, n: x[:, s : s + n]  # noqa: E731
            run, ordered = block_runner(spec, read, x.shape[1], rate, n_sources, options)
            pieces = blocks.separate_in_blocks(
                read,
                x.shape[1],
                rate,
                run,
                n_sources,
                blocks.rms(x),
                block_seconds=block_seconds,
                overlap_seconds=blocks.OVERLAP_SECONDS,
                ordered=ordered,
            )
            sources = [np.concatenate(parts, axis=-1) for parts in zip(*pieces, strict=True)]
            labels = None
    return Separation(sources, rate, method, labels, time.perf_counter() - start)


def check_request(
    spec: Method, n_sources: int | None, outputs: int | None = None, ks: Sequence[int] = (2, 3, 4)
) -> None:
    """A clear error, before any work, for a number of sources the method cannot give
    (``outputs``: a learned method's network outputs)."""
    limit = spec.limit(outputs)
    for n in [n_sources] if n_sources is not None else ks:
        if n < 1:
            raise ValueError(f"the number of sources must be >= 1, got {n}")
        if n > limit and not spec.needs_references:
            raise ValueError(
                f"{spec.name} gives at most {limit} sources; {n} were asked for "
                f"(--n-sources {limit} or fewer)"
            )


def network_outputs(separator) -> int | None:
    """A learned method's number of network outputs (None without a separator)."""
    return getattr(getattr(separator, "cfg", None), "outputs", None)


def check_not_cancelled(level: float, mono_level: float, name: str = "audio") -> None:
    """An :class:`AudioError` when the input's mono mix-down (RMS ``mono_level``) is silence
    relative to the input itself (RMS ``level``): channels that cancel (left = −right),
    where the methods would separate only rounding noise."""
    if level > 0 and mono_level <= level * 10 ** (CANCELLED_DB / 20):
        raise AudioError(
            f"{name}: its channels cancel when mixed to mono (left = −right?): the mono mix is "
            f"more than {-CANCELLED_DB:.0f} dB below the input; nothing to separate"
        )


def resample_sources(sep: Separation, rate: int) -> list[np.ndarray]:
    """The sources at another sample rate."""
    return [resample(s, sep.rate, rate) for s in sep.sources]
