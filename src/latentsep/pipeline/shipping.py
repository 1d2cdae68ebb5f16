"""What is shipped: the artifacts trained once and committed under ``shipped/`` with their
checksums and the command that made them, the evaluation tables made with those, and
what the current code no longer uses (pruned)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from latentsep.device import machine
from latentsep.evaluation import scoring
from latentsep.models import mixit
from latentsep.paths import atomic_write, data_dir, file_sha256, param_key
from latentsep.pipeline import artifacts
from latentsep.pipeline.artifacts import META, SHIPPED, Artifact
from latentsep.pipeline.autoencoders import (
    AUTOENCODER_VARIANTS,
    autoencoder_artifact,
    stage1_artifact,
)
from latentsep.pipeline.datasets import PLAN_FILE, dataset_artifact, plan_artifact, stemnet_data
from latentsep.pipeline.evaluations import ScoresKey, TableKey, method_versions
from latentsep.pipeline.networks import (
    COUNT_FILE,
    count_model_artifact,
    dictionaries_artifact,
    mask_network_artifact,
    network_artifact,
    note_dictionaries_artifact,
    pair_network_artifact,
    refined_from,
    stemnet_artifact,
)
from latentsep.presets import PRESETS, Preset, get_preset, with_overrides
from latentsep.separation import METHODS


def ship(art: Artifact, files: list[str], command: str) -> Path:
    """Commit-ready copy of a made artifact under ``shipped/``: ``files`` (and its
    ``artifact.json``), their checksums and the machine, time and ``command`` that made
    them in the manifest (:func:`prune` removes what is no longer current)."""
    manifest = artifacts.shipped_manifest()
    target = artifacts.shipped_dir() / art.shipped_name
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
    return atomic_write(artifacts.shipped_dir() / SHIPPED, lambda tmp: tmp.write_text(text))


def prune(keep: set[str]) -> list[str]:
    """Remove every shipped artifact not named in ``keep`` (``folder/key``): older versions
    that no current code computes. Returns what was removed."""
    manifest = artifacts.shipped_manifest()
    gone = sorted(set(manifest) - keep)
    for name in gone:
        shutil.rmtree(artifacts.shipped_dir() / name, ignore_errors=True)
        del manifest[name]
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    atomic_write(artifacts.shipped_dir() / SHIPPED, lambda tmp: tmp.write_text(text))
    return gone


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
        out.append((mask_network_artifact(preset, mode), ["separator.pt"], book))
    train = f"latentsep train-stem-models --preset {name}"
    for p in (preset, refined_from(preset)):  # and what it went on from: other refine
        if p is not None:  # settings start there
            out.append((stemnet_artifact(p), ["stemnet.pt", "history.json"], train))
    out.append((dictionaries_artifact(preset), ["dictionaries.npz"], train))
    out.append((note_dictionaries_artifact(preset), ["dictionaries.npz"], train))
    out.append((count_model_artifact(preset), [COUNT_FILE], train))
    out.append((pair_network_artifact(preset), ["pairnet.pt", "history.json"], train))
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
        if not evaluation_is_current(made["name"], made["params"], preset):
            continue
        art = Artifact(made["name"], "evaluations", made["params"])
        files = sorted(p.name for p in meta.parent.glob("*.csv"))
        out.append((art, files, f"latentsep book --preset {preset.name} --retrain"))
    return out


def evaluation_is_current(name: str, params: list, preset: Preset) -> bool:
    """Whether an evaluation table (``name``: :data:`SHIPPED_TABLES`) of these parameters
    is one this code computes with ``preset``'s shipped models: its version, an
    autoencoder that :func:`shippable` declares, one method's table (tables of many were an
    earlier layout), and for each method the network :func:`network_artifact` gives it (a
    shipped network a refined one started from runs no method)."""
    if name == "evaluation":
        scores = ScoresKey.parse(params)
        version, model, networks = scores.version, scores.model, scores.networks or {}
        named, versions = {*scores.methods, *networks}, scores.versions or {}
        one = len(scores.methods) <= 1
    else:
        table = TableKey.parse(params)
        version, model, networks = table.version, table.model, table.networks
        named = {*networks, *table.settings.get("separators", [])}
        versions, one = table.settings.get("method versions", {}), len(networks) <= 1
    return (
        version == scoring.EVALUATION_VERSION
        and model in {art.key for art, _, _ in shippable(preset)}
        and one
        and all(key == network_artifact(preset, m).key for m, key in networks.items())
        and versions == method_versions({n for n in named if n in METHODS})
    )


def current_shipped() -> set[str]:
    """The shipped artifacts (``folder/key``) that the current code would use: a model that
    :func:`shippable` declares for some preset, or an evaluation of such models
    (:func:`evaluation_is_current`). Anything else in the manifest is stale."""
    presets_ = [get_preset(name) for name in PRESETS]
    models = {art.shipped_name for p in presets_ for art, _, _ in shippable(p)}
    current = set()
    for name in artifacts.shipped_manifest():
        if name in models:
            current.add(name)
        elif name.startswith("evaluations/"):
            meta = json.loads((artifacts.shipped_dir() / name / META).read_text())
            if param_key(meta["params"]) == name.split("/")[1] and any(
                evaluation_is_current(meta["name"], meta["params"], p) for p in presets_
            ):
                current.add(name)
    return current
