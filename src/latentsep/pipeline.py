"""Every cached artifact of the book, declared once: its parameters, its inputs, its code
version and its folder (showyourwork's rules are the model).

An artifact's key is a hash of everything that shapes it: its parameters, the code version
that makes it, and its inputs' keys — so a changed dataset retrains the models built on it,
and changed training code retrains them too. The chain::

    dataset ──► stage-1 model (Open-Unmix) ──► stage-1 estimates
       │                                            │ (train.target = "openunmix")
       ├──────────────► autoencoder ◄───────────────┘
       ├──► separators (MixIT, PIT)      │
       └───────────────┴─────────────────┴──► evaluation tables (per methods, tracks, seed),
                                                  counts and speed (shared by book and bench)

Each artifact lives in ``data/<folder>/<key>/``; when the pipeline makes one it writes
``artifact.json`` beside it (parameters, inputs, seconds taken), which ``latentsep status``
reads.

Expensive artifacts are also *shipped*: trained once and committed under
``shipped/<folder>/<key>/`` with a checksum of every file and the machine and time that made
them (``shipped/manifest.json``, written by :func:`ship`). An artifact that is not cached
is copied from there when its key matches — the key holds the code version, the inputs and
the parameters, so a shipped file is only ever used for exactly what made it — and made
here otherwise; ``LATENTSEP_RETRAIN=1`` (``make book RETRAIN=1``) ignores them all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from latentsep.audio import load_audio, prepare
from latentsep.data import musdb, render, synth
from latentsep.device import machine, pick_device
from latentsep.evaluation import scoring
from latentsep.models import mixit, openunmix, stemnet, training
from latentsep.models.autoencoder import Autoencoder
from latentsep.models.separator import MaskSeparator
from latentsep.paths import (
    atomic_write,
    code_digest,
    data_dir,
    file_sha256,
    param_key,
    repo_root,
)
from latentsep.presets import (
    OTHER_CLASSES,
    PRESETS,
    DataConfig,
    Preset,
    UnmixConfig,
    get_preset,
    with_overrides,
)
from latentsep.separation import METHODS, get_method, learned, nmf

META = "artifact.json"


@dataclass(frozen=True)
class Artifact:
    """A cached artifact: ``data/<folder>/<key>/``, the key a hash of ``params`` (which
    hold the code version and the inputs' keys)."""

    name: str  # what it is, for people: "dataset", "autoencoder", ...
    folder: str
    params: Any
    inputs: tuple[Artifact, ...] = ()

    @property
    def key(self) -> str:
        return param_key(self.params)

    @property
    def path(self) -> Path:
        return data_dir() / self.folder / self.key

    def made(self, seconds: float) -> None:
        """Note that the artifact was made, and how long it took (for ``status``)."""
        meta = {
            "name": self.name,
            "key": self.key,
            "params": self.params,
            "inputs": {a.name: a.key for a in self.inputs},
            "seconds": round(seconds, 1),
        }
        atomic_write(self.path / META, lambda p: p.write_text(json.dumps(meta, indent=1)))

    def seconds(self) -> float | None:
        """How long making it took, if the pipeline made it."""
        meta = self.path / META
        return json.loads(meta.read_text()).get("seconds") if meta.is_file() else None

    @property
    def shipped_name(self) -> str:
        return f"{self.folder}/{self.key}"

    def restore(self) -> bool:
        """Copy the shipped artifact of this key into the cache (checksums verified first);
        False when none is shipped or retraining is asked for."""
        entry = shipped_manifest().get(self.shipped_name)
        if entry is None or retraining():
            return False
        source = shipped_dir() / self.shipped_name
        for file, info in entry["files"].items():
            if file_sha256(source / file) != info["sha256"]:
                raise ValueError(
                    f"{source / file}: does not match its checksum in shipped/{SHIPPED}; "
                    "restore it (git checkout shipped/) or retrain (LATENTSEP_RETRAIN=1)"
                )
        tmp = self.path.with_name(f"{self.key}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        (tmp / RESTORED).write_text(json.dumps(entry, indent=1))  # for origin()
        if self.path.exists():  # an incomplete earlier attempt (a killed training run)
            forget(self)
        os.replace(tmp, self.path)
        return True


#: The shipped artifacts' manifest, in ``shipped/``; a restored copy keeps its entry.
SHIPPED = "manifest.json"
RESTORED = "shipped.json"


MADE_HERE = "made on this machine"


def origin(art: Artifact, minutes: bool = True) -> str:
    """Where a cached artifact came from, in words for a chapter: made here, or restored
    from ``shipped/`` (the machine, date, time taken unless not ``minutes``, and the command
    that made it there)."""
    restored = art.path / RESTORED
    if not restored.is_file():
        return MADE_HERE
    made = json.loads(restored.read_text())["made"]
    m = made.get("machine", {})
    took = f", {made['seconds'] / 60:.1f} min" if made.get("seconds") and minutes else ""
    return (
        f"shipped: made on {made.get('date', '?')} on {m.get('CPU', '?')} "
        f"({m.get('CPU cores', '?')} cores, GPU {m.get('GPU', 'none')}){took} by "
        f"`{made.get('command', '?')}`; `make book RETRAIN=1` makes it here instead"
    )


def shipped_dir() -> Path:
    """``shipped/`` of the source checkout (the package's own folder when installed)."""
    root = repo_root()
    return (root if root is not None else Path(__file__).parent) / "shipped"


def shipped_manifest() -> dict[str, dict]:
    """Every shipped artifact: ``folder/key`` -> name, files with checksums, how it was made."""
    path = shipped_dir() / SHIPPED
    return json.loads(path.read_text()) if path.is_file() else {}


def retraining() -> bool:
    """Whether shipped artifacts are to be ignored (``LATENTSEP_RETRAIN=1``)."""
    return os.environ.get("LATENTSEP_RETRAIN", "") not in ("", "0")


def ship(art: Artifact, files: list[str], command: str) -> Path:
    """Commit-ready copy of a made artifact under ``shipped/``: ``files`` (and its
    ``artifact.json``), their checksums and the machine, time and ``command`` that made
    them in the manifest (:func:`prune` removes what is no longer current)."""
    manifest = shipped_manifest()
    target = shipped_dir() / art.shipped_name
    files = [*files, META] if (art.path / META).is_file() else files
    for file in files:
        atomic_write(target / file, lambda tmp, f=file: shutil.copyfile(art.path / f, tmp))
    checksums = {
        f: {"sha256": file_sha256(target / f), "bytes": (target / f).stat().st_size} for f in files
    }
    before = manifest.get(art.shipped_name, {})
    made = {
        "command": command,
        "seconds": art.seconds(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if before.get("files") == checksums:  # shipped again unchanged: where it was made stays
        made = before["made"]
    manifest[art.shipped_name] = {"name": art.name, "files": checksums, "made": made}
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    return atomic_write(shipped_dir() / SHIPPED, lambda tmp: tmp.write_text(text))


def prune(keep: set[str]) -> list[str]:
    """Remove every shipped artifact not named in ``keep`` (``folder/key``): older versions
    that no current code computes. Returns what was removed."""
    manifest = shipped_manifest()
    gone = sorted(set(manifest) - keep)
    for name in gone:
        shutil.rmtree(shipped_dir() / name, ignore_errors=True)
        del manifest[name]
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    atomic_write(shipped_dir() / SHIPPED, lambda tmp: tmp.write_text(text))
    return gone


def forget(art: Artifact) -> None:
    """Remove a cached artifact (a retrain from nothing makes it again)."""
    if art.path.exists():
        old = art.path.with_name(f"{art.key}.old-{time.monotonic_ns()}")
        art.path.rename(old)  # a reader never sees half a folder
        shutil.rmtree(old, ignore_errors=True)


def _size_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


# --- the dataset ------------------------------------------------------------------------------


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


# --- stage 1: Open-Unmix ----------------------------------------------------------------------


def stage1_artifact(
    cfg: UnmixConfig, dataset_key: str, rate: int, pretrained: bool | None = None
) -> Artifact:
    """Stage 1: the pretrained weights (``pretrained``; default: when they are cached
    locally), else a model trained on the dataset ``dataset_key`` at ``rate``."""
    if pretrained is None:
        pretrained = bool(cfg.pretrained) and openunmix.pretrained_cached(cfg.pretrained)
    if pretrained:
        return Artifact(
            "stage 1", "openunmix", {"pretrained": cfg.pretrained, "dataset": dataset_key}
        )
    params = {
        "unmix": dataclasses.asdict(cfg),
        "dataset": dataset_key,
        "rate": rate,
        "version": openunmix.TRAINING_VERSION,
    }
    return Artifact("stage 1", "openunmix", params)


def stage1(
    cfg: UnmixConfig,
    train_tracks: list[musdb.Track],
    rate: int,
    dataset_key: str,
    *,
    allow_download: bool = False,
    progress: bool = True,
) -> openunmix.Stage1:
    """The stage-1 separator: pretrained if available, else trained here on
    ``train_tracks`` of the dataset ``dataset_key`` (cached)."""
    if cfg.pretrained:
        sep = openunmix.load_pretrained(cfg.pretrained, allow_download=allow_download)
        if sep is not None:
            art = stage1_artifact(cfg, dataset_key, rate, pretrained=True)
            where = f"pretrained {cfg.pretrained} (MUSDB18-HQ)"
            return openunmix.Stage1(sep, where, art.key, art.path)
    art = stage1_artifact(cfg, dataset_key, rate, pretrained=False)
    path = art.path / "other.pth"
    if path.is_file() or art.restore():
        model, _, _, history = openunmix.load(path)
    else:
        t0 = time.perf_counter()
        model, history = openunmix.train_other(train_tracks, cfg, rate, progress=progress)
        openunmix.save(model, cfg, rate, history, path)
        art.made(time.perf_counter() - t0)
    return openunmix.Stage1(
        openunmix.separator_for(model, cfg, rate),
        f"trained on the embedded train split ({origin(art)})",
        art.key,
        art.path,
        history,
    )


def stage1_estimates(
    stage: openunmix.Stage1, tracks_: list[musdb.Track], rate: int, progress: bool = True
) -> Path:
    """Stage 1's "other" estimate of every track, written once beside its model."""
    return openunmix.write_estimates(
        stage.separator, tracks_, rate, stage.estimates_dir, progress=progress
    )


# --- the autoencoder --------------------------------------------------------------------------


def _stage1_key(preset: Preset) -> str | None:
    if preset.train.target != "openunmix":
        return None
    return stage1_artifact(
        preset.unmix, dataset_artifact(preset.data).key, preset.data.sample_rate
    ).key


def autoencoder_artifact(preset: Preset) -> Artifact:
    """The autoencoder of ``preset``: its model and training parameters, the training
    code's version, the dataset and (``train.target = "openunmix"``) stage 1."""
    ds = dataset_artifact(preset.data)
    params = {
        "model": dataclasses.asdict(preset.model),
        "train": dataclasses.asdict(preset.train),
        "dataset": ds.key,
        "stage 1": _stage1_key(preset),
        "version": training.TRAINING_VERSION,
    }
    return Artifact("autoencoder", "models", params, (ds,))


def targets(tracks_, preset: Preset, estimates_root: Path | None = None) -> list[np.ndarray]:
    """What the autoencoder learns to reconstruct: the ground-truth "other" stems, or the
    Open-Unmix estimates written by stage 1 (``train.target``)."""
    if preset.train.target == "truth":
        signals = [t.stems["other"] for t in tracks_]
    else:
        if estimates_root is None:
            raise ValueError("train.target='openunmix' needs the stage-1 estimates folder")
        signals = [
            load_audio(Path(estimates_root) / t.subset / t.name / "other.wav")[0] for t in tracks_
        ]
    return prepare(signals, tracks_[0].rate, preset.model)


def _finished(preset: Preset, out: Path) -> bool:
    """Whether ``out`` holds a completed training run of ``preset``."""
    history_file = out / "history.json"
    if not (history_file.is_file() and (out / "best.pt").is_file()):
        return False
    history = training.History(json.loads(history_file.read_text()))
    return len(history.epochs) >= preset.train.epochs or history.stopped(preset.train.patience)


def train_or_load(
    preset: Preset,
    tracks_,
    out: Path | None = None,
    *,
    estimates_root: Path | Callable[[], Path] | None = None,
    progress: bool = True,
) -> tuple[Autoencoder, training.History, Path]:
    """The model trained into ``out`` for these parameters: reused when complete, else
    trained (resuming an interrupted run). ``tracks_`` are the train split; a share is held
    out to validate. Without ``out``: the preset's artifact, restored from ``shipped/`` when
    a copy of its key is shipped. ``estimates_root`` may be a function, called only when
    training is needed (stage 1's estimates are not computed for a shipped model)."""
    if out is None:
        art = autoencoder_artifact(preset)
        out = art.path
        if not _finished(preset, out):
            art.restore()
    if not _finished(preset, out):
        if callable(estimates_root):
            estimates_root = estimates_root()
        signals = targets(tracks_, preset, estimates_root)
        n_valid = max(1, int(round(preset.train.valid_fraction * len(signals))))
        if len(signals) - n_valid < 1:
            raise ValueError(f"need at least 2 train tracks to hold one out, got {len(signals)}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "preset.json").write_text(json.dumps(preset.to_dict(), indent=1))
        training.fit(preset, signals[n_valid:], signals[:n_valid], out, progress=progress)
    model, _ = training.load_model(out / "best.pt", pick_device())  # the GPU when there is one
    return model, training.History(json.loads((out / "history.json").read_text())), out


def autoencoder(
    preset: Preset, progress: bool = True
) -> tuple[Autoencoder, training.History, Path]:
    """The preset's trained autoencoder, its history and folder: trained the first time
    (after stage 1, with ``train.target = "openunmix"``), reused afterwards."""
    return autoencoders(preset, None, progress)["default"]


def autoencoders(
    base: Preset, variants: dict[str, dict] | None = None, progress: bool = True
) -> dict[str, tuple[Autoencoder, training.History, Path]]:
    """Each variant of ``base`` (name -> preset overrides) trained on the embedded dataset,
    or reused: the models that the chapters share. With ``train.target=openunmix`` the
    stage-1 estimates are computed (or reused) first."""
    root = dataset(base.data, progress=progress)
    train_tracks = musdb.load_tracks(root, "train")
    out = {}
    for name, fields in (variants or {"default": {}}).items():
        preset = with_overrides(base, fields)

        def estimates(preset: Preset = preset) -> Path:
            # the study's setting (train.target = "openunmix"): learn Open-Unmix's estimates
            rate = train_tracks[0].rate
            key = dataset_artifact(preset.data).key
            stage = stage1(preset.unmix, train_tracks, rate, key, progress=progress)
            return stage1_estimates(stage, train_tracks, rate, progress)

        art = autoencoder_artifact(preset)
        model, history, folder = train_or_load(
            preset,
            train_tracks,
            estimates_root=estimates if preset.train.target == "openunmix" else None,
            progress=progress,
        )
        if art.seconds() is None:
            art.made(sum(e["seconds"] for e in history.epochs))
        out[name] = (model, history, folder)
    return out


def trained_model(preset: Preset, progress: bool = True) -> Autoencoder:
    """The preset's autoencoder, trained the first time and reused afterwards."""
    return autoencoder(preset, progress)[0]


# --- learned separators ----------------------------------------------------------------------


def separator_artifact(preset: Preset, mode: str) -> Artifact:
    """A mask separator trained by ``mode`` ("mixit": on mixtures of the train split's
    "other" stems; "pit": on their instruments) on the preset's dataset."""
    ds = dataset_artifact(preset.data)
    params = {
        "separator": dataclasses.asdict(preset.separator),
        "mode": mode,
        "dataset": ds.key,
        "version": mixit.TRAINING_VERSION,
    }
    return Artifact(f"separator ({mode})", "separators", params, (ds,))


def separator(
    preset: Preset, mode: str = "mixit", progress: bool = True
) -> tuple[MaskSeparator, list[dict], Path]:
    """The trained separator, its history (loss every 50 steps) and folder: trained on
    the embedded train split the first time, reused afterwards."""
    art = separator_artifact(preset, mode)
    path = art.path / "separator.pt"
    if not path.is_file() and not art.restore():
        cfg = preset.separator
        fmt = dataclasses.replace(preset.model, sample_rate=cfg.sample_rate, channels=1)
        train_tracks = tracks(preset.data, "train")
        rate = train_tracks[0].rate
        stems = prepare([t.stems["other"] for t in train_tracks], rate, fmt)
        parts = None
        if mode == "pit":
            parts = [prepare(list(t.other_parts.values()), rate, fmt) for t in train_tracks]
        t0 = time.perf_counter()
        mixit.train(cfg, stems, art.path, mode, parts, progress=progress)
        art.made(time.perf_counter() - t0)
    model, payload = mixit.load(path, pick_device())
    return model, payload["history"], art.path


def stemnet_artifact(preset: Preset) -> Artifact:
    """The network learned from rendered stems (``classmask`` and ``deepclustering``): its
    configuration, the instrument classes, the training code's version and every rendering
    of the train split it learns from."""
    renders = tuple(
        rendering_artifact(stemnet_data(preset), sf, "train") for sf in preset.stemnet.soundfonts
    )
    net = dataclasses.asdict(preset.stemnet)
    for added in ("train_pieces", "transpose", "refine"):  # fields added after networks
        if not net[added]:  # were shipped: at their defaults, those keep their keys
            del net[added]
    params = {
        "stemnet": net,
        "classes": list(OTHER_CLASSES),
        "renders": [a.key for a in renders],
        "version": stemnet.TRAINING_VERSION,
    }
    if (parent := refined_from(preset)) is None:
        del net["refine_lr"]
        return Artifact("stem-trained network", "separators", params, renders)
    start = stemnet_artifact(parent)
    params["from"] = start.key
    return Artifact("stem-trained network", "separators", params, (*renders, start))


def refined_from(preset: Preset) -> Preset | None:
    """With ``stemnet.refine``, the preset whose network (``stemnet.steps`` long) the
    refined one goes on from; else None."""
    if not preset.stemnet.refine:
        return None
    return dataclasses.replace(preset, stemnet=dataclasses.replace(preset.stemnet, refine=0))


def stemnet_data(preset: Preset) -> DataConfig:
    """The renders the stem network learns from: the embedded dataset, with
    ``stemnet.train_pieces`` train pieces when that is more (the same first pieces, the
    same test split: pieces are split by a hash of their work)."""
    n = max(preset.stemnet.train_pieces, preset.data.n_train)
    return dataclasses.replace(preset.data, n_train=n)


def stemnet_parts(
    preset: Preset, progress: bool = True, data: DataConfig | None = None
) -> list[stemnet.Part]:
    """Every sounding instrument part of the train split (``data``; default: the network's,
    :func:`stemnet_data`) but the held-out pieces, in each of the preset's soundfonts, mono
    at the network's rate."""
    cfg = preset.stemnet
    fmt = dataclasses.replace(preset.model, sample_rate=cfg.sample_rate, channels=1)
    data = data or stemnet_data(preset)
    parts, index = [], 0
    for soundfont in cfg.soundfonts:
        for t in rendered_tracks(data, soundfont, "train", progress=progress)[cfg.holdout :]:
            audio = prepare(list(t.other_parts.values()), t.rate, fmt)
            for name, x in zip(t.other_parts, audio, strict=True):
                if (
                    np.max(np.abs(x)) > 1e-4
                ):  # a part that rests through the excerpt teaches nothing
                    parts.append(stemnet.Part(OTHER_CLASSES.index(name), x, index))
            index += 1
    return parts


def stemnet_validation(preset: Preset):
    """The held-out train pieces (``stemnet.holdout``), as the first soundfont renders them,
    as a score of a network: the median SI-SDR improvement of each part by its class's
    output (what the network learned, on pieces it never trained on)."""
    from latentsep.evaluation.metrics import si_sdr

    cfg = preset.stemnet
    fmt = dataclasses.replace(preset.model, sample_rate=cfg.sample_rate, channels=1)
    held = []
    for t in rendered_tracks(preset.data, cfg.soundfonts[0], "train")[: cfg.holdout]:
        audio = prepare(list(t.other_parts.values()), t.rate, fmt)
        parts = {OTHER_CLASSES.index(n): x[0] for n, x in zip(t.other_parts, audio, strict=True)}
        mixture = np.sum(list(parts.values()), axis=0).astype(np.float32)
        held.append((mixture, {c: x for c, x in parts.items() if np.max(np.abs(x)) > 1e-4}))

    def score(net: stemnet.StemNet) -> float:
        dev = next(net.parameters()).device
        gains = []
        for mixture, parts in held:
            outs = net(torch.from_numpy(mixture[None]).to(dev))[0].float().cpu().numpy()
            gains += [si_sdr(x, outs[c]) - si_sdr(x, mixture) for c, x in parts.items()]
        return float(np.median(gains)) if gains else float("nan")

    return score


def stemnet_model(
    preset: Preset, progress: bool = True
) -> tuple[stemnet.StemNet, list[dict], Path]:
    """The network learned from the rendered stems, its history (losses every 50 steps) and
    folder: trained the first time (resuming an interrupted run), reused afterwards."""
    art = stemnet_artifact(preset)
    path = art.path / "stemnet.pt"
    if not path.is_file() and not art.restore():
        parent = refined_from(preset)  # the network it goes on from, made first if need be
        refine_from = stemnet_model(parent, progress)[:2] if parent else None
        t0 = time.perf_counter()
        stemnet.train(
            preset.stemnet,
            stemnet_parts(preset, progress),
            art.path,
            progress=progress,
            valid=stemnet_validation(preset),
            refine_from=refine_from,
        )
        art.made(time.perf_counter() - t0)
    net, payload = stemnet.load(path, pick_device())
    return net, payload["history"], art.path


#: Supervised NMF's templates per instrument class (``supervisednmf``).
DICTIONARY_ATOMS = 48
DICTIONARY_VERSION = 1


def dictionaries_artifact(preset: Preset) -> Artifact:
    """Supervised NMF's class dictionaries, learned from the parts of the dataset's own
    train split (not the network's ``stemnet.train_pieces``: on the 13 held-out pieces,
    dictionaries from 600 pieces gave ``supervisednmf`` +1.70 / +1.75 dB in the two training
    soundfonts against +2.00 / +2.55 from the 130)."""
    renders = tuple(
        rendering_artifact(preset.data, sf, "train") for sf in preset.stemnet.soundfonts
    )
    params = {
        "atoms": DICTIONARY_ATOMS,
        "stft": [nmf.DICT_RATE, nmf.DICT_N_FFT, nmf.DICT_HOP],
        "classes": list(OTHER_CLASSES),
        "renders": [a.key for a in renders],
        "holdout": preset.stemnet.holdout,  # the held-out train pieces are not learned from
        "version": DICTIONARY_VERSION,
    }
    return Artifact("class dictionaries", "separators", params, renders)


def dictionaries(
    preset: Preset, progress: bool = True
) -> tuple[nmf.ClassDictionaries, list[dict], Path]:
    """Supervised NMF's class dictionaries (learned the first time), no history, folder."""

    def learn() -> nmf.ClassDictionaries:
        fmt = dataclasses.replace(preset.model, sample_rate=nmf.DICT_RATE, channels=1)
        parts = [
            (p.cls, prepare([p.audio], preset.stemnet.sample_rate, fmt)[0])
            for p in stemnet_parts(preset, progress, data=preset.data)
        ]
        return nmf.learn_dictionaries(parts, OTHER_CLASSES, DICTIONARY_ATOMS, preset.stemnet.seed)

    return _class_dictionaries(dictionaries_artifact(preset), learn)


#: ``notenmf``'s notes: each rendered at this velocity, held this long (seconds), over each
#: class's range (:data:`~latentsep.data.synth.GM_CLASSES`) widened by this many semitones.
NOTE_VELOCITY, NOTE_SECONDS, NOTE_MARGIN = 80, 1.0, 6
#: 2: stored in half precision (:func:`_class_dictionaries`)
NOTE_DICTIONARY_VERSION = 2


def note_dictionaries_artifact(preset: Preset) -> Artifact:
    """``notenmf``'s note dictionaries: one template for every note of every GM program of
    each instrument class, as each of the training soundfonts (``stemnet.soundfonts``)
    plays it alone. Nothing is learned: the renderer's own notes are the atoms."""
    params = {
        "soundfonts": list(preset.stemnet.soundfonts),
        "classes": {c: synth.GM_CLASSES[c] for c in OTHER_CLASSES},
        "notes": [NOTE_VELOCITY, NOTE_SECONDS, NOTE_MARGIN],
        "stft": [nmf.DICT_RATE, nmf.NOTE_N_FFT, nmf.NOTE_HOP, nmf.NOTE_FLOOR_DB],
        "version": NOTE_DICTIONARY_VERSION,
    }
    return Artifact("note dictionaries", "separators", params)


def note_dictionaries(
    preset: Preset, progress: bool = True
) -> tuple[nmf.ClassDictionaries, list[dict], Path]:
    """``notenmf``'s note dictionaries (rendered the first time: ~10 s), no history, folder."""

    def render_notes() -> nmf.ClassDictionaries:
        templates, owner = [], []
        for sf in preset.stemnet.soundfonts:
            for c, name in enumerate(OTHER_CLASSES):
                programs, (low, high) = synth.GM_CLASSES[name]
                for program in programs:
                    for key in range(low - NOTE_MARGIN, high + NOTE_MARGIN + 1):
                        events = [
                            synth.Event(0.0, key, NOTE_VELOCITY),
                            synth.Event(NOTE_SECONDS, key, 0),
                        ]
                        n = int((NOTE_SECONDS + 0.3) * nmf.DICT_RATE)  # and its release
                        x = synth.render(events, n, nmf.DICT_RATE, program, soundfont=sf)
                        if np.any(x):  # a soundfont without this note: no atom
                            templates.append(nmf.note_template(x))
                            owner.append(c)
        w = np.stack(templates, axis=1).astype(np.float32)
        return nmf.ClassDictionaries(w, np.array(owner), OTHER_CLASSES)

    return _class_dictionaries(note_dictionaries_artifact(preset), render_notes, half=True)


def _class_dictionaries(
    art: Artifact, make: Callable[[], nmf.ClassDictionaries], half: bool = False
) -> tuple[nmf.ClassDictionaries, list[dict], Path]:
    """Dictionaries of ``art``: cached, restored from ``shipped/`` or made (and saved) now;
    with no history, and their folder. ``half``: the templates are stored in half precision,
    each scaled to its peak (4,096-point notes: 17 MB shipped, not 36; each template moves
    by at most 2·10⁻⁴ of its sum), and summed to one again when read — made or restored,
    every machine separates with the same numbers."""
    path = art.path / "dictionaries.npz"
    if not path.is_file() and not art.restore():
        t0 = time.perf_counter()
        d = make()
        w = (d.templates / d.templates.max(axis=0)).astype(np.float16) if half else d.templates
        arrays = {"templates": w, "owner": d.owner, "classes": np.array(d.classes)}
        atomic_write(path, lambda tmp: np.savez_compressed(open(tmp, "wb"), **arrays))
        art.made(time.perf_counter() - t0)
    with np.load(path) as z:
        w, owner, classes = z["templates"], z["owner"], tuple(str(c) for c in z["classes"])
    if w.dtype == np.float16:
        w = w.astype(np.float32)
        w /= w.sum(axis=0)
    return nmf.ClassDictionaries(w, owner, classes), [], art.path


#: The autoencoders the chapters train and compare (name -> preset fields): chapters 02 and 03
#: list the same in their parameters; every one is shipped for the default preset.
AUTOENCODER_VARIANTS: dict[str, dict[str, Any]] = {
    "deterministic": {},
    "vae": {"model.latent": "vae"},
    "deterministic, study weights": {"train.time_weight": 1.0},
    "deterministic, no latent penalty": {"train.kl_weight": 0.0},
}


def shippable(preset: Preset) -> list[tuple[Artifact, list[str], str]]:
    """The artifacts of ``preset`` that are trained once and shipped (``latentsep ship``):
    each with the files a user needs and the command that makes it."""
    name = preset.name
    out = []
    for fields in AUTOENCODER_VARIANTS.values():
        sets = "".join(f" --set {k}={v}" for k, v in fields.items())
        out.append(
            (
                autoencoder_artifact(with_overrides(preset, fields)),
                ["best.pt", "history.json", "preset.json"],
                f"latentsep train --preset {name}{sets}",
            )
        )
    book = f"latentsep book --preset {name} --retrain"  # the chapters that make them
    ds = dataset_artifact(preset.data).key  # stage 1 as trained here (pretrained: not shipped)
    out.append(
        (stage1_artifact(preset.unmix, ds, preset.data.sample_rate, False), ["other.pth"], book)
    )
    for mode in mixit.MODES:
        out.append((separator_artifact(preset, mode), ["separator.pt"], book))
    train = f"latentsep train-separator --preset {name}"
    for p in (preset, refined_from(preset)):  # and what it went on from: other refine
        if p is not None:  # settings start there
            out.append((stemnet_artifact(p), ["stemnet.pt", "history.json"], train))
    out.append((dictionaries_artifact(preset), ["dictionaries.npz"], train))
    out.append((note_dictionaries_artifact(preset), ["dictionaries.npz"], train))
    out.append((plan_artifact(preset.data), [PLAN_FILE], f"latentsep data --preset {name}"))
    if stemnet_data(preset) != preset.data:  # the network's further train pieces
        out.append((plan_artifact(stemnet_data(preset)), [PLAN_FILE], train))
    return out


#: Evaluation tables that are shipped: scores and counts. Speed tables are not: they are
#: this machine's measurements, keyed by the code's digest.
SHIPPED_TABLES = ("evaluation", "counts")


def shippable_evaluations(preset: Preset) -> list[tuple[Artifact, list[str], str]]:
    """The cached evaluation tables (:data:`SHIPPED_TABLES`) of this code version made with
    ``preset``'s shipped models only: shipped too, so a reader's build does not compute
    again the scores the project's machine did. Each with its files and the command that
    remakes it."""
    root = data_dir() / "evaluations"
    out = []
    for meta in sorted(root.glob(f"*/{META}")) if root.is_dir() else []:
        made = json.loads(meta.read_text())
        if made["name"] not in SHIPPED_TABLES or param_key(made["params"]) != meta.parent.name:
            continue
        if not evaluation_is_current(made["params"], preset):
            continue
        art = Artifact(made["name"], "evaluations", made["params"])
        files = sorted(p.name for p in meta.parent.glob("*.csv"))
        out.append((art, files, f"latentsep book --preset {preset.name} --retrain"))
    return out


def evaluation_is_current(params: list, preset: Preset) -> bool:
    """Whether an evaluation's parameters are ones this code computes with ``preset``'s
    shipped models: its version, an autoencoder that :func:`shippable` declares, one
    method's table (tables of many were an earlier layout), and for each method the
    network :func:`network_artifact` gives it (the networks: the one mapping of method
    names to artifact keys; a shipped network a refined one started from runs no method)."""
    keys = {art.key for art, _, _ in shippable(preset)}
    nets = [p for p in params if isinstance(p, dict) and p and all(n in METHODS for n in p)]
    named, versions = set(), {}  # the methods a table is of, and the versions it was made at
    for p in params:
        if isinstance(p, list):
            named |= {n for n in p if isinstance(n, str) and n in METHODS}
        elif isinstance(p, dict):
            named |= {n for n in p if n in METHODS} | set(p.get("separators", []))
            versions |= p.get("method versions", {})
    return (
        params[0] == scoring.EVALUATION_VERSION
        and params[1] in keys
        and all(len(p) <= 1 for p in params[3:4])  # one method's (its list, or its network)
        and all(key == network_artifact(preset, m).key for d in nets for m, key in d.items())
        and versions == method_versions(named)
    )


def method_versions(names) -> dict[str, int]:
    """The version of each method among ``names`` whose code has changed what it gives
    (:attr:`Method.version` above 1): part of the key of every table of its scores, so that
    a table of an earlier version is made again (and a method never changed keeps its key)."""
    return {n: METHODS[n].version for n in sorted(names) if n in METHODS and METHODS[n].version > 1}


def current_shipped() -> set[str]:
    """The shipped artifacts (``folder/key``) that the current code would use: a model that
    :func:`shippable` declares for some preset, or an evaluation of such models
    (:func:`evaluation_is_current`). Anything else in the manifest is stale."""
    presets_ = [get_preset(name) for name in PRESETS]
    models = {art.shipped_name for p in presets_ for art, _, _ in shippable(p)}
    current = set()
    for name in shipped_manifest():
        if name in models:
            current.add(name)
        elif name.startswith("evaluations/"):
            meta = json.loads((shipped_dir() / name / META).read_text())
            if param_key(meta["params"]) == name.split("/")[1] and any(
                evaluation_is_current(meta["params"], p) for p in presets_
            ):
                current.add(name)
    return current


#: Networks made of two others: a method that runs both (``notenmf+classmask``).
COMBINED_NETWORKS = {"notedict+stemnet": ("notedict", "stemnet")}


def missing(preset: Preset, method: str) -> str | None:
    """Why ``method`` cannot run with ``preset``'s networks (None: it can)."""
    kind = get_method(method).network
    if kind in COMBINED_NETWORKS:
        reasons = (_missing(preset, method, k) for k in COMBINED_NETWORKS[kind])
        return next(filter(None, reasons), None)
    return _missing(preset, method, kind)


def _missing(preset: Preset, method: str, kind: str | None) -> str | None:
    if kind == "stemnet":
        return learned.missing_head(method, preset.stemnet)
    if kind == "notedict":  # rendered, unless made or shipped
        art = note_dictionaries_artifact(preset)
        absent = [sf for sf in preset.stemnet.soundfonts if not synth.soundfont_available(sf)]
        shipped = art.shipped_name in shipped_manifest() and not retraining()
        if absent and not shipped and not (art.path / "dictionaries.npz").is_file():
            return f"{method} renders its notes with {', '.join(absent)}, not installed here"
    return None


def blind_methods(preset: Preset) -> list[str]:
    """The methods that use no stems of the music they separate (``scoring.WITHOUT_STEMS``)
    that ``preset``'s networks can run."""
    return [m for m in scoring.WITHOUT_STEMS if not missing(preset, m)]


def ready(preset: Preset, method: str) -> bool:
    """Whether a learned method's network is made or shipped: using it trains nothing."""
    if missing(preset, method):
        return False
    art = network_artifact(preset, method)
    return all(
        (a.shipped_name in shipped_manifest() and not retraining())
        or _status_row(a.name, a.folder, a.key)["cached"]
        for a in (art.inputs if art.folder == COMBINED else (art,))
    )


#: The folder of a combined network's artifact: it has no files of its own, only a key made
#: of its parts' keys (its ``inputs``), which the tables of its methods' scores are keyed by.
COMBINED = "combined"


def network_artifact(preset: Preset, method: str) -> Artifact:
    """The trained network (or dictionaries) a learned method runs."""
    kind = get_method(method).network
    if kind in COMBINED_NETWORKS:
        parts = tuple(_network_artifact(preset, k) for k in COMBINED_NETWORKS[kind])
        return Artifact(kind, COMBINED, [a.key for a in parts], parts)
    return _network_artifact(preset, kind)


def _network_artifact(preset: Preset, kind: str | None) -> Artifact:
    if kind == "stemnet":
        return stemnet_artifact(preset)
    if kind == "nmfdict":
        return dictionaries_artifact(preset)
    if kind == "notedict":
        return note_dictionaries_artifact(preset)
    return separator_artifact(preset, kind)


def network(preset: Preset, method: str, progress: bool = True):
    """``(network, history, folder)`` of a learned method: trained the first time."""
    if reason := missing(preset, method):
        raise ValueError(reason)  # before minutes of training
    kind = get_method(method).network
    if kind == "notedict+stemnet":
        notes, _, folder = note_dictionaries(preset, progress)
        return learned.NotesAndMasks(notes, stemnet_model(preset, progress)[0]), [], folder
    if kind == "stemnet":
        return stemnet_model(preset, progress)
    if kind == "nmfdict":
        return dictionaries(preset, progress)
    if kind == "notedict":
        return note_dictionaries(preset, progress)
    return separator(preset, kind, progress)


# --- evaluation tables ------------------------------------------------------------------------


@dataclass
class TestSet:
    cases: list[scoring.Case]
    model: Autoencoder
    model_dir: Path
    scores: pd.DataFrame
    runs: pd.DataFrame
    order: list[str]  # methods, references first
    separators: dict[str, MaskSeparator]  # the learned methods' networks, by method name
    separator_keys: dict[str, str] = dataclasses.field(default_factory=dict)  # their artifacts
    soundfont: str = synth.DEFAULT_SOUNDFONT  # what played the test split
    origin: str = "made on this machine"  # the scores' (:func:`origin`)


def evaluation_artifact(
    model_key: str,
    tracks_: list[str],
    methods: list[str],
    seed: int,
    separator_keys: dict[str, str] | None = None,
    soundfont: str = synth.DEFAULT_SOUNDFONT,
) -> Artifact:
    """The scores and runs tables of ``methods`` on the test tracks ``tracks_``, with the
    autoencoder ``model_key`` and the learned methods' trained separators (method name ->
    their artifact's key: a retrained separator is a new evaluation)."""
    params = [scoring.EVALUATION_VERSION, model_key, tracks_, methods, seed]
    if separator_keys:
        params.append(separator_keys)
    if versions := method_versions(methods):
        params.append({"method versions": versions})
    if soundfont != synth.DEFAULT_SOUNDFONT:  # the same track names, other audio
        params.append({"soundfont": soundfont})
    return Artifact("evaluation", "evaluations", params)


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


def real_dev_set() -> Path:
    """Where ``scripts/real_devset.py`` lays out the real-recording development set (URMP
    excerpts; not committed): ``make bench`` and chapter 05 score it when it is there."""
    return data_dir() / "real" / "urmp-dev"


def real_scores_dir(folder: str | os.PathLike) -> Path:
    """Where the scores of a real set's folder are kept (its parts reused by every run)."""
    return data_dir() / "evaluations" / f"real-{Path(folder).resolve().name}"


def model_ready(preset: Preset) -> bool:
    """Whether the preset's autoencoder is trained here or shipped: using it trains nothing."""
    art = autoencoder_artifact(preset)
    return _finished(preset, art.path) or (
        art.shipped_name in shipped_manifest() and not retraining()
    )


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
                f"{preset.name}: run `latentsep train-separator --preset {preset.name}` first"
            )
    return None


def method_limit(preset: Preset, method: str) -> int:
    """The most sources ``method`` gives with the preset's networks."""
    spec = get_method(method)
    return spec.limit(preset.separator.outputs if spec.network in ("mixit", "pit") else None)


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
    art = Artifact(
        name,
        "evaluations",
        [
            scoring.EVALUATION_VERSION,
            test_set.model_dir.name,
            [c.track for c in test_set.cases],
            test_set.separator_keys if separator_keys is None else separator_keys,
            params,
            *([test_set.soundfont] if test_set.soundfont != synth.DEFAULT_SOUNDFONT else []),
        ],
    )
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


# --- status -----------------------------------------------------------------------------------


def status(preset: Preset) -> pd.DataFrame:
    """Every artifact of the preset's chain, and every other cached model and evaluation
    table: cached or not, shipped or not, key, size on disk, how long it took to make."""
    ds = dataset_artifact(preset.data)
    chain = [ds, rendering_artifact(preset.data, UNSEEN_SOUNDFONT, "test")]
    chain += [a for a in stemnet_artifact(preset).inputs if a.key != ds.key]
    trained = [art for art, _, _ in shippable(preset)]
    if preset.train.target == "openunmix":
        trained.append(stage1_artifact(preset.unmix, ds.key, preset.data.sample_rate))
    chain += list({a.key: a for a in trained}.values())
    variants = {
        autoencoder_artifact(with_overrides(preset, f)).key: n
        for n, f in AUTOENCODER_VARIANTS.items()
    }
    rows = []
    for art in chain:
        label = f"{art.name} ({variants[art.key]})" if art.key in variants else art.name
        rows.append(_status_row(label + " (this preset)", art.folder, art.key))
    listed = {(a.folder, a.key) for a in chain}
    for folder in ("plans", "embedded", "openunmix", "models", "separators", "evaluations"):
        root = data_dir() / folder
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path.is_dir() and (folder, path.name) not in listed and "." not in path.name:
                rows.append(_status_row(folder, folder, path.name))
    return pd.DataFrame(rows)


def _status_row(name: str, folder: str, key: str) -> dict[str, Any]:
    path = data_dir() / folder / key
    meta = path / META
    seconds = json.loads(meta.read_text()).get("seconds") if meta.is_file() else None
    done = {
        "plans": [PLAN_FILE],
        "embedded": ["manifest.json"],
        "openunmix": ["other.pth"],
        "models": ["best.pt"],
        "separators": ["separator.pt", "stemnet.pt", "dictionaries.npz"],
        "evaluations": ["runs.csv"],
    }[folder]
    return {
        "artifact": name,
        "key": key,
        "cached": any((path / f).is_file() for f in done),
        "shipped": f"{folder}/{key}" in shipped_manifest(),
        "size (MB)": round(_size_mb(path), 1),
        "seconds to make": seconds,
        "folder": str(path.relative_to(data_dir())),
    }
