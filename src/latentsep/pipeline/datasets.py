"""The data the networks learn from and are scored on: the embedded dataset, its plan, its
other renderings (another soundfont plays the same parts), the validation pieces, and
where the real-recording development set is laid out."""

from __future__ import annotations

import dataclasses
import time
from importlib.metadata import version
from pathlib import Path

from latentsep.data import musdb, render, synth
from latentsep.paths import atomic_write, data_dir, param_key
from latentsep.pipeline.artifacts import Artifact
from latentsep.presets import DataConfig, Preset


def dataset_artifact(cfg: DataConfig) -> Artifact:
    """The embedded dataset: its parameters, the renderer's version, music21's version (the
    corpus ships with it)."""
    params = {
        "data": dataclasses.asdict(cfg),
        "generator": render.GENERATOR_VERSION,
        "music21": version("music21"),
    }
    return Artifact("dataset", "embedded", params)


def plan_artifact(cfg: DataConfig) -> Artifact:
    """The dataset's plan: the corpus pieces it plays, parsed, and every track's settings
    (the same parameters as the dataset; 2 minutes of parsing scores, so it is shipped)."""
    return Artifact("track plan", "plans", {**dataset_artifact(cfg).params, "of": "plan"})


PLAN_FILE = "plan.json.gz"


def track_plan(cfg: DataConfig) -> render.Plan:
    """The plan of :func:`dataset` and its other renderings: made once, then read."""
    art = plan_artifact(cfg)
    path = art.path / PLAN_FILE
    if not path.is_file() and not art.restore():
        t0 = time.perf_counter()
        planned = render.plan(cfg)
        atomic_write(path, lambda tmp: render.save_plan(planned, tmp))
        art.made(time.perf_counter() - t0)
        return planned
    return render.load_plan(path)


def dataset(cfg: DataConfig, progress: bool = True) -> Path:
    """The embedded dataset's root, rendered the first time (atomically) and reused after."""
    art = dataset_artifact(cfg)
    t0 = time.perf_counter()
    fresh = not (art.path / "manifest.json").is_file()
    root = render.build(cfg, art.path, art.key, progress=progress, plan_of=track_plan)
    if fresh:
        art.made(time.perf_counter() - t0)
    return root


def tracks(cfg: DataConfig, subset: str, limit: int | None = None) -> list[musdb.Track]:
    """A split of the embedded dataset (rendered first if needed)."""
    return musdb.load_tracks(dataset(cfg, progress=False), subset, limit=limit)


#: The soundfont that plays the unseen-timbre test set: never used for training.
UNSEEN_SOUNDFONT = "FluidR3_GM"


def rendering_artifact(cfg: DataConfig, soundfont: str, subset: str) -> Artifact:
    """One split of the embedded dataset played by another soundfont: the same pieces,
    parts, programs and gains, other instrument samples."""
    if soundfont == synth.DEFAULT_SOUNDFONT:
        return dataset_artifact(cfg)
    params = {**dataset_artifact(cfg).params, "soundfont": soundfont, "subset": subset}
    return Artifact(f"{subset} split ({soundfont})", "embedded", params)


def rendered_tracks(
    cfg: DataConfig, soundfont: str, subset: str, limit: int | None = None, progress: bool = True
) -> list[musdb.Track]:
    """A split of the embedded dataset as ``soundfont`` plays it (rendered first if needed;
    a :class:`~latentsep.data.synth.SoundfontError` says how to install a missing one)."""
    if soundfont == synth.DEFAULT_SOUNDFONT:
        return tracks(cfg, subset, limit)
    art = rendering_artifact(cfg, soundfont, subset)
    t0 = time.perf_counter()
    fresh = not (art.path / "manifest.json").is_file()
    render.build(
        cfg,
        art.path,
        art.key,
        progress=progress,
        soundfont=soundfont,
        subsets=(subset,),
        plan_of=track_plan,
    )
    if fresh:
        art.made(time.perf_counter() - t0)
    return musdb.load_tracks(art.path, subset, limit=limit)


def unseen_tracks(cfg: DataConfig, limit: int | None = None) -> list[musdb.Track]:
    """The test split played by :data:`UNSEEN_SOUNDFONT`: timbres no model here trained on."""
    return rendered_tracks(cfg, UNSEEN_SOUNDFONT, "test", limit, progress=False)


def stemnet_data(preset: Preset) -> DataConfig:
    """The renders the stem network learns from: the embedded dataset, with
    ``stemnet.train_pieces`` train pieces when that is more (the same first pieces, the
    same test split: pieces are split by a hash of their work)."""
    n = max(preset.stemnet.train_pieces, preset.data.n_train)
    return dataclasses.replace(preset.data, n_train=n)


#: Train-split pieces after the network's own that are rendered to choose on (with the 13
#: held-out ones: 133 a soundfont): 13 alone could not tell a 0.5 dB change from noise.
VALIDATION_PIECES = 120


def validation_data(preset: Preset, pieces: int = VALIDATION_PIECES) -> DataConfig:
    """The dataset's settings whose plan holds the validation pieces: ``pieces`` more train
    pieces than the network's (the first ones are the same pieces: the plan's order is
    fixed by the seed)."""
    return dataclasses.replace(preset.data, n_train=stemnet_data(preset).n_train + pieces)


def validation_artifact(preset: Preset, soundfont: str, pieces: int = VALIDATION_PIECES):
    """The validation pieces past the held-out ones, as ``soundfont`` plays them."""
    data = validation_data(preset, pieces)
    params = {
        **dataset_artifact(data).params,
        "soundfont": soundfont,
        "subset": "train",
        "from": stemnet_data(preset).n_train,
    }
    return Artifact(f"validation pieces ({soundfont})", "embedded", params)


def validation_tracks(
    preset: Preset, soundfont: str, pieces: int = VALIDATION_PIECES, progress: bool = True
) -> list[musdb.Track]:
    """The train split's pieces that no network or dictionary here learned from, as
    ``soundfont`` plays them: the ``stemnet.holdout`` held-out ones, then ``pieces`` after
    the network's train pieces (rendered the first time; their plan parses the scores once,
    ~12 minutes). What networks, floors and groupings are chosen on; the test sets only
    report."""
    n_held = preset.stemnet.holdout  # (a limit of 0 would mean every track)
    held = rendered_tracks(preset.data, soundfont, "train", n_held, progress) if n_held else []
    if not pieces:
        return held
    art = validation_artifact(preset, soundfont, pieces)
    t0 = time.perf_counter()
    fresh = not (art.path / "manifest.json").is_file()

    def plan_of(cfg: DataConfig) -> render.Plan:  # the train pieces past the network's
        train = [(s, p) for s, p in track_plan(cfg) if s.subset == "train"]
        return train[stemnet_data(preset).n_train :]

    render.build(
        validation_data(preset, pieces),
        art.path,
        art.key,
        progress=progress,
        soundfont=soundfont,
        subsets=("train",),
        plan_of=plan_of,
    )
    if fresh:
        art.made(time.perf_counter() - t0)
    return held + musdb.load_tracks(art.path, "train")


def tracks_key(tracks_: list[musdb.Track]) -> str:
    """A key for tracks that are not the embedded dataset (e.g. MUSDB18): names and rate."""
    return param_key({"tracks": [(t.subset, t.name) for t in tracks_], "rate": tracks_[0].rate})


def real_dev_set() -> Path:
    """Where ``scripts/real_devset.py`` lays out the real-recording development set (URMP
    excerpts; not committed): ``make bench`` and chapter 05 score it when it is there."""
    return data_dir() / "real" / "urmp-dev"


def real_song() -> Path:
    """Where ``scripts/real_devset.py --song`` lays out its real song-length piece (URMP
    stems played over and over): ``make bench`` times the default on it when it is there."""
    return data_dir() / "real" / "urmp-song"
