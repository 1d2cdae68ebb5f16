"""The autoencoder and its stage 1 (Open-Unmix): declared, trained or restored, reused."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from latentsep.audio import load_audio, prepare
from latentsep.data import musdb
from latentsep.device import pick_device
from latentsep.models import openunmix, training
from latentsep.models.autoencoder import Autoencoder
from latentsep.pipeline.artifacts import Artifact, origin
from latentsep.pipeline.datasets import dataset, dataset_artifact
from latentsep.presets import Preset, UnmixConfig, with_overrides


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


def model_ready(preset: Preset) -> bool:
    """Whether the preset's autoencoder is trained here or shipped: using it trains nothing."""
    art = autoencoder_artifact(preset)
    return _finished(preset, art.path) or (art.usable_shipped())


#: The autoencoders the chapters train and compare (name -> preset fields): chapters 02 and 03
#: list the same in their parameters; every one is shipped for the default preset.
AUTOENCODER_VARIANTS: dict[str, dict[str, Any]] = {
    "deterministic": {},
    "vae": {"model.latent": "vae"},
    "deterministic, study weights": {"train.time_weight": 1.0},
    "deterministic, no latent penalty": {"train.kl_weight": 0.0},
}
