"""``latentsep status``: every artifact of a preset's chain and every other cached one —
made or not, shipped or not, its key, size and how long it took."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from latentsep.paths import data_dir
from latentsep.pipeline import artifacts
from latentsep.pipeline.artifacts import META
from latentsep.pipeline.autoencoders import (
    AUTOENCODER_VARIANTS,
    autoencoder_artifact,
    stage1_artifact,
)
from latentsep.pipeline.datasets import UNSEEN_SOUNDFONT, dataset_artifact, rendering_artifact
from latentsep.pipeline.networks import stemnet_artifact
from latentsep.pipeline.shipping import shippable
from latentsep.presets import Preset, with_overrides


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
        rows.append(row(label + " (this preset)", art.folder, art.key))
    listed = {(a.folder, a.key) for a in chain}
    for folder in ("plans", "embedded", "openunmix", "models", "separators", "evaluations"):
        root = data_dir() / folder
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path.is_dir() and (folder, path.name) not in listed and "." not in path.name:
                rows.append(row(folder, folder, path.name))
    return pd.DataFrame(rows)


def row(name: str, folder: str, key: str) -> dict[str, Any]:
    path = data_dir() / folder / key
    meta = path / META
    seconds = json.loads(meta.read_text()).get("seconds") if meta.is_file() else None
    return {
        "artifact": name,
        "key": key,
        "cached": artifacts.is_cached(folder, key),
        "shipped": f"{folder}/{key}" in artifacts.shipped_manifest(),
        "size (MB)": round(artifacts.size_mb(path), 1),
        "seconds to make": seconds,
        "folder": str(path.relative_to(data_dir())),
    }
