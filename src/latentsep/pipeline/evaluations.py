"""Evaluation tables: the methods scored on the embedded test set (one table per method,
cached and shipped), counts and speed measured on it, and scores of real multitrack sets
(resumable, per excerpt)."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from latentsep.data import synth
from latentsep.evaluation import scoring
from latentsep.models.autoencoder import Autoencoder
from latentsep.paths import atomic_write, code_digest, data_dir
from latentsep.pipeline.artifacts import MADE_HERE, Artifact, origin
from latentsep.pipeline.autoencoders import (
    autoencoder_artifact,
    autoencoders,
    model_ready,
    trained_model,
)
from latentsep.pipeline.datasets import rendered_tracks
from latentsep.pipeline.networks import method_limit, missing, network, network_artifact, ready
from latentsep.presets import Preset
from latentsep.separation import METHODS, get_method


def method_versions(names) -> dict[str, int]:
    """The version of each method among ``names`` whose code has changed what it gives
    (:attr:`Method.version` above 1): part of the key of every table of its scores, so that
    a table of an earlier version is made again (and a method never changed keeps its key)."""
    return {n: METHODS[n].version for n in sorted(names) if n in METHODS and METHODS[n].version > 1}


@dataclass
class TestSet:
    cases: list[scoring.Case]
    model: Autoencoder
    model_dir: Path
    scores: pd.DataFrame
    runs: pd.DataFrame
    order: list[str]  # methods, references first
    separators: dict[str, object]  # what :func:`network` loads for each learned method
    separator_keys: dict[str, str] = dataclasses.field(default_factory=dict)  # their artifacts
    soundfont: str = synth.DEFAULT_SOUNDFONT  # what played the test split
    origin: str = "made on this machine"  # the scores' (:func:`origin`)


@dataclass(frozen=True)
class ScoresKey:
    """What a table of scores on a test set is keyed by. Its :meth:`params` are the
    artifact's parameters, in the list layout the shipped tables were keyed by."""

    model: str  # the autoencoder's key
    tracks: list[str]
    methods: list[str]
    seed: int
    networks: dict[str, str] | None = None  # learned method -> its network's key
    versions: dict[str, int] | None = None  # :func:`method_versions`
    soundfont: str = synth.DEFAULT_SOUNDFONT  # what played the tracks
    version: int = scoring.EVALUATION_VERSION

    def params(self) -> list:
        params = [self.version, self.model, self.tracks, self.methods, self.seed]
        if self.networks:
            params.append(self.networks)
        if self.versions:
            params.append({"method versions": self.versions})
        if self.soundfont != synth.DEFAULT_SOUNDFONT:  # the same track names, other audio
            params.append({"soundfont": self.soundfont})
        return params

    @classmethod
    def parse(cls, params: list) -> ScoresKey:
        version, model, tracks_, methods, seed, *extra = params
        found: dict = {}
        for p in extra:
            if "method versions" in p:
                found["versions"] = p["method versions"]
            elif "soundfont" in p:
                found["soundfont"] = p["soundfont"]
            else:
                found["networks"] = p
        return cls(model, tracks_, methods, seed, **found, version=version)


@dataclass(frozen=True)
class TableKey:
    """What a table measured on a test set (``counts``, ``speed``) is keyed by; its
    :meth:`params` as :class:`ScoresKey`'s."""

    model: str
    tracks: list[str]
    networks: dict[str, str]  # those the table uses
    settings: dict  # the measurement's own: methods, seed, "separators", "method versions"
    soundfont: str = synth.DEFAULT_SOUNDFONT
    version: int = scoring.EVALUATION_VERSION

    def params(self) -> list:
        params = [self.version, self.model, self.tracks, self.networks, self.settings]
        return params + ([self.soundfont] if self.soundfont != synth.DEFAULT_SOUNDFONT else [])

    @classmethod
    def parse(cls, params: list) -> TableKey:
        version, model, tracks_, networks, settings, *soundfont = params
        return cls(model, tracks_, networks, settings, *soundfont, version=version)


def evaluation_artifact(
    model_key: str,
    tracks_: list[str],
    methods: list[str],
    seed: int,
    separator_keys: dict[str, str] | None = None,
    soundfont: str = synth.DEFAULT_SOUNDFONT,
) -> Artifact:
    """The scores and runs tables of ``methods`` on the test tracks ``tracks_``, with the
    autoencoder ``model_key`` and the learned methods' trained networks (method name ->
    their artifact's key: a retrained network is a new evaluation)."""
    key = ScoresKey(
        model_key,
        tracks_,
        methods,
        seed,
        separator_keys or None,
        method_versions(methods) or None,
        soundfont,
    )
    return Artifact("evaluation", "evaluations", key.params())


def evaluate_test_set(
    base: Preset,
    methods,
    model_variant: dict | None = None,
    n_tracks: int = 0,
    nmf_ceiling: bool = False,
    seed: int = 0,
    progress: bool = True,
    soundfont: str = synth.DEFAULT_SOUNDFONT,
) -> TestSet:
    """The chapters' evaluation: ``methods`` and the references on the embedded test set
    with the autoencoder of ``base`` + ``model_variant``, cached (so the results chapter
    reuses what chapters 04 and 06 computed, and vice versa). ``soundfont`` scores the same
    test pieces played by another soundfont (:data:`UNSEEN_SOUNDFONT`: unseen timbres).

    Args:
        base: the preset.
        methods: registered method names, evaluated after the references.
        model_variant: preset overrides for the autoencoder (e.g. ``{"model.latent": "vae"}``).
        n_tracks: the first ``n_tracks`` test tracks (0: all).
        nmf_ceiling: add NMF with oracle grouping to the references.
        seed: for every method's random choices.
        soundfont: the soundfont that plays the test split.

    Returns:
        A :class:`TestSet`: the cases, the model, its folder, the ``scores`` table (one row
        per track × method × true source, SI-SDR/SDR... in dB) and the ``runs`` table (one
        row per track × method).
    """
    test_tracks = rendered_tracks(base.data, soundfont, "test", n_tracks or None, progress)
    model, _, model_dir = autoencoders(base, {"model": model_variant or {}}, progress=progress)[
        "model"
    ]
    test_cases = scoring.cases(test_tracks, model.cfg)
    names = [*scoring.REFERENCES, *([scoring.NMF_CEILING] if nmf_ceiling else []), *methods]
    trained = [n for n in names if get_method(n).learned]
    separators = {n: network(base, n, progress)[0] for n in trained}
    separator_keys = {n: network_artifact(base, n).key for n in trained}
    methods_ = scoring.methods_for(names, model, seed=seed, separators=separators)
    tracks_ = [c.track for c in test_cases]
    scores, runs, origins = [], [], []
    for name in names:  # one table per method: a new or changed method scores only itself
        keys = {name: separator_keys[name]} if name in separator_keys else None
        art = evaluation_artifact(model_dir.name, tracks_, [name], seed, keys, soundfont)
        t0 = time.perf_counter()
        fresh = not (art.path / "runs.csv").is_file() and not art.restore()
        s, r = scoring.evaluate(
            test_cases, {name: methods_[name]}, art.path, progress=progress and fresh
        )
        if fresh:
            art.made(time.perf_counter() - t0)
        scores.append(s)
        runs.append(r)
        origins.append(origin(art, minutes=False))
    return TestSet(
        test_cases,
        model,
        model_dir,
        _case_major(scores, tracks_),
        _case_major(runs, tracks_),
        names,
        separators,
        separator_keys,
        soundfont,
        _origins(origins),
    )


def _case_major(tables: list[pd.DataFrame], tracks_: list[str]) -> pd.DataFrame:
    """Per-method tables as one, in :func:`scoring.evaluate`'s order: by case, then method."""
    table = pd.concat(tables, ignore_index=True)
    case = table["track"].map({t: i for i, t in enumerate(tracks_)})
    method = np.repeat(np.arange(len(tables)), [len(t) for t in tables])
    order = np.lexsort((np.arange(len(table)), method, case.to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _origins(origins: list[str]) -> str:
    """Where a set of per-method tables came from, in words (:func:`origin`)."""
    if len(set(origins)) == 1:
        return origins[0]
    shipped = [o for o in origins if o != MADE_HERE]
    parts = []
    if shipped:
        other = " (some in other builds)" if len(set(shipped)) > 1 else ""
        parts.append(f"{len(shipped)} of {len(origins)} methods' scores {shipped[0]}{other}")
    if len(shipped) < len(origins):
        parts.append(f"{len(origins) - len(shipped)} {MADE_HERE}")
    return "; ".join(parts)


def real_scores_dir(folder: str | os.PathLike) -> Path:
    """Where the scores of a real set's folder are kept (its parts reused by every run)."""
    return data_dir() / "evaluations" / f"real-{Path(folder).resolve().name}"


def evaluation_problem(preset: Preset, method: str) -> str | None:
    """Why ``method`` cannot be scored now without training anything (None: it can)."""
    spec = get_method(method)
    if spec.needs_model and not model_ready(preset):
        return (
            f"{spec.id} needs the autoencoder, which is not trained for preset {preset.name}: "
            f"run `latentsep train --preset {preset.name}` first"
        )
    if spec.learned:
        if reason := missing(preset, spec.name):
            return reason
        if not ready(preset, spec.name):
            return (
                f"{spec.id} needs its trained network, not made or shipped for preset "
                f"{preset.name}: run `latentsep train-stem-models --preset {preset.name}` first"
            )
    return None


def multitrack_methods(
    preset: Preset, names: list[str], counting: list[str], seed: int = 0
) -> tuple[dict, dict]:
    """``names`` as methods on cases with the true count, and ``counting`` with the count
    estimated, with the preset's autoencoder and networks (made or shipped: checked first
    by :func:`evaluation_problem`). Called once in each worker of an evaluation."""
    specs = [get_method(n) for n in {*names, *counting}]
    model = trained_model(preset, False) if any(s.needs_model for s in specs) else None
    nets = {s.name: network(preset, s.name, False)[0] for s in specs if s.learned}
    return (
        scoring.methods_for(names, model, seed=seed, separators=nets),
        scoring.methods_for(counting, model, oracle_count=False, seed=seed, separators=nets),
    )


def evaluate_real(
    preset: Preset,
    excerpts,
    names: list[str],
    out: Path,
    count: bool = True,
    seed: int = 0,
    jobs: int = 1,
    log=None,
) -> dict[str, pd.DataFrame]:
    """Score ``names`` (registered methods, references included; each one
    :func:`evaluation_problem` passes) on excerpts of a real set, resumably: the parts and
    the tables (``scores``, ``runs``, ``counts``, ``skipped``, ``summary``) go to ``out``,
    written after every excerpt; a rerun reuses every part it shares with an earlier one."""
    from latentsep.evaluation import multitrack, runner

    specs = [get_method(n) for n in names]
    counting = (
        [s.name for s in specs if not s.needs_references and "reference" not in s.tags]
        if count
        else []
    )
    context = {
        "seed": seed,
        "format": [preset.model.sample_rate, preset.model.channels],
        "code": code_digest(),
        "autoencoder": autoencoder_artifact(preset).key
        if any(s.needs_model for s in specs)
        else None,
        "networks": {s.name: network_artifact(preset, s.name).key for s in specs if s.learned},
    }

    def write(tables: dict[str, pd.DataFrame]) -> None:
        summary = multitrack.table(tables["scores"], tables["counts"], names, tables["runs"])
        for name, frame in (*tables.items(), ("summary", summary.reset_index())):
            atomic_write(out / f"{name}.csv", lambda tmp, f=frame: f.to_csv(tmp, index=False))

    extra = {"log": log} if log else {}
    result = runner.run(
        excerpts,
        preset.model,
        [s.name for s in specs],
        counting,
        Path(out),
        multitrack_methods,
        (preset, [s.name for s in specs], counting, seed),
        context,
        {s.name: method_limit(preset, s.name) for s in specs},
        jobs,
        write,
        **extra,
    )
    result["summary"] = multitrack.table(result["scores"], result["counts"], names, result["runs"])
    return result


def _measured(
    test_set: TestSet, name: str, params: dict, compute, separator_keys: dict | None = None
) -> pd.DataFrame:
    """A table measured on ``test_set``'s cases, cached in ``data/evaluations/<key>/`` and
    keyed by the cases, the autoencoder, the separators (``separator_keys``: those it uses;
    default all of the test set's) and ``params``: computed once and shared by the chapters
    and the benchmarks."""
    key = TableKey(
        test_set.model_dir.name,
        [c.track for c in test_set.cases],
        test_set.separator_keys if separator_keys is None else separator_keys,
        params,
        test_set.soundfont,
    )
    art = Artifact(name, "evaluations", key.params())
    path = art.path / f"{name}.csv"
    if path.is_file() or art.restore():
        return pd.read_csv(path)
    t0 = time.perf_counter()
    table = compute()
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    art.made(time.perf_counter() - t0)
    return table


def source_counts(test_set: TestSet, names, seed: int = 0) -> pd.DataFrame:
    """:func:`scoring.count_sources` on the test set, with the networks of the learned
    methods among ``names`` (cached)."""

    def counted(nets: dict) -> pd.DataFrame:  # one table per method, as the scores
        versions = method_versions(nets)
        return _measured(
            test_set,
            "counts",
            {"separators": sorted(nets), "seed": seed}
            | ({"method versions": versions} if versions else {}),
            lambda: scoring.count_sources(
                test_set.cases, test_set.model, seed=seed, separators=nets, rules=not nets
            ),
            {n: test_set.separator_keys[n] for n in nets},
        )

    tables = [counted({})]
    tables += [counted({n: net}) for n, net in test_set.separators.items() if n in names]
    return pd.concat([tables[0], *(t.drop(columns=["track", "true"]) for t in tables[1:])], axis=1)


def method_speed(test_set: TestSet, names, seconds: float, seed: int = 0) -> pd.DataFrame:
    """:func:`scoring.speed` of ``names`` on ``seconds`` of the test set, indexed by method:
    measured once per version of the package's code (any change times them again)."""
    table = _measured(
        test_set,
        "speed",
        {"methods": list(names), "seconds": seconds, "seed": seed, "code": code_digest()},
        lambda: scoring.speed(
            test_set.cases, names, test_set.model, seconds, seed, test_set.separators
        ).reset_index(),
    )
    return table.set_index("method")
