"""Shipped artifacts (issues 23 and 25): every shipped file matches its checksum and a key
the current code computes; every trained model of the pipeline is restored from shipped/
instead of trained, a corrupted copy is refused and LATENTSEP_RETRAIN ignores them."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from latentsep import cli, pipeline
from latentsep.book import build
from latentsep.data import render
from latentsep.evaluation import scoring
from latentsep.models import mixit, openunmix, stemnet_training, training
from latentsep.paths import file_sha256
from latentsep.pipeline import artifacts, evaluations
from latentsep.presets import get_preset
from latentsep.separation import METHODS

SMOKE = get_preset("smoke")


def test_every_shipped_file_matches_its_checksum_and_the_code_computes_its_key():
    manifest = pipeline.shipped_manifest()
    current = pipeline.current_shipped()
    for name, entry in manifest.items():
        assert name in current, f"shipped/{name} is stale: no artifact of this code has that key"
        for file, info in entry["files"].items():
            path = pipeline.shipped_dir() / name / file
            assert file_sha256(path) == info["sha256"], path
        meta = json.loads((pipeline.shipped_dir() / name / pipeline.META).read_text())
        assert meta["key"] == name.split("/")[1]


def test_the_default_preset_ships_every_trained_model():
    """A reader's `make book` trains nothing (issue 25): every trained artifact of the cpu
    preset is in the manifest."""
    shipped = pipeline.shipped_manifest()
    missing = [
        f"{art.name} ({art.shipped_name})"
        for art, _, _ in pipeline.shippable(get_preset("cpu"))
        if art.shipped_name not in shipped
    ]
    assert not missing, f"not shipped (latentsep ship --preset cpu): {missing}"


@pytest.mark.parametrize("notebook", ["02_autoencoder_training", "03_latent_analysis"])
def test_the_chapters_compare_the_shipped_autoencoders(notebook: str):
    """The chapters' `variants` parameter (a literal, for papermill) names the shipped ones."""
    nb = build.read_notebook(build._checkout() / "notebooks" / f"{notebook}.md")
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    tree = ast.parse(cell.source)
    (value,) = [
        n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "variants"
    ]
    variants = ast.literal_eval(value)
    assert variants.items() <= pipeline.AUTOENCODER_VARIANTS.items()


def _no_training(*args, **kwargs):
    raise AssertionError("trained although a shipped copy matches")


def _autoencoder(preset):
    return pipeline.autoencoders(preset, {"x": {}}, progress=False)["x"][2]


def _stage1(preset):
    train = pipeline.tracks(preset.data, "train")
    key = pipeline.dataset_artifact(preset.data).key
    cfg = preset.unmix
    return pipeline.stage1(cfg, train, train[0].rate, key, progress=False).folder


def _pit(preset):
    return pipeline.mask_network(preset, "pit", progress=False)[2]


def _stemnet(preset):
    return pipeline.stemnet_model(preset, progress=False)[2]


def _plan(preset):
    pipeline.track_plan(preset.data)
    return pipeline.plan_artifact(preset.data).path


# the pipeline's function, the artifact's index in shippable(), the trainer it must not call
MADE = {
    "autoencoder": (_autoencoder, 0, (training, "fit")),
    "stage 1": (_stage1, len(pipeline.AUTOENCODER_VARIANTS), (openunmix, "train_other")),
    "separator (pit)": (_pit, len(pipeline.AUTOENCODER_VARIANTS) + 2, (mixit, "train")),
    "stem-trained network": (
        _stemnet,
        len(pipeline.AUTOENCODER_VARIANTS) + 3,
        (stemnet_training, "train"),
    ),
    "track plan": (_plan, -1, (render, "plan")),  # smoke: one plan; parsing, not training
}


@pytest.mark.parametrize("name", list(MADE))
def test_a_shipped_artifact_is_used_instead_of_training(
    name, data_root, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Each smoke model shipped to a temporary shipped/ folder is restored into an empty
    cache without training; a corrupted copy is refused; LATENTSEP_RETRAIN ignores it."""
    make, index, (module, trainer) = MADE[name]
    art, files, command = pipeline.shippable(SMOKE)[index]
    assert art.name.startswith(name.split(" (")[0])
    monkeypatch.setattr(artifacts, "shipped_dir", lambda: tmp_path / "shipped")
    assert make(SMOKE) == art.path  # trained (smoke: seconds) into the cache
    assert pipeline.origin(art) == "made on this machine"
    pipeline.ship(art, files, command)
    pipeline.forget(art)

    monkeypatch.setattr(module, trainer, _no_training)
    assert make(SMOKE) == art.path
    assert all((art.path / f).is_file() for f in files)
    assert pipeline.origin(art).startswith("shipped: made on ") and command in pipeline.origin(art)

    pipeline.forget(art)
    monkeypatch.setenv("LATENTSEP_RETRAIN", "1")
    with pytest.raises(AssertionError, match="trained although"):
        make(SMOKE)
    monkeypatch.delenv("LATENTSEP_RETRAIN")

    pipeline.forget(art)
    (tmp_path / "shipped" / art.shipped_name / files[0]).write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="does not match its checksum"):
        make(SMOKE)


def test_evaluate_leaves_out_learned_methods_that_would_train(
    data_root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`latentsep evaluate`'s default list trains nothing unasked: a learned method is in it
    only once its network is made or shipped."""
    monkeypatch.setattr(artifacts, "shipped_dir", lambda: tmp_path / "shipped")
    fresh = get_preset("smoke", {"separator.steps": 3})  # a key no other test has made
    assert "pit" not in cli.default_evaluation_methods(fresh)
    assert "nmf+harmonic" in cli.default_evaluation_methods(fresh)
    pipeline.mask_network(fresh, "pit", progress=False)
    assert "pit" in cli.default_evaluation_methods(fresh)


def test_a_shipped_evaluation_is_used_instead_of_scoring(
    data_root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An evaluation table made with shipped models is shipped and restored: nothing is
    scored again; one made with a model that is not declared is not shippable."""
    monkeypatch.setattr(artifacts, "shipped_dir", lambda: tmp_path / "shipped")
    first = pipeline.evaluate_test_set(SMOKE, ["nmf"], n_tracks=1, progress=False)
    tables = pipeline.shippable_evaluations(SMOKE)
    tracks = [c.track for c in first.cases]
    art = pipeline.evaluation_artifact(first.model_dir.name, tracks, ["nmf"], 0)  # its own
    assert art.key in {a.key for a, _, _ in tables}
    assert pipeline.evaluation_is_current("evaluation", art.params, SMOKE)
    other_model = [art.params[0], "0000000000", *art.params[2:]]
    assert not pipeline.evaluation_is_current("evaluation", other_model, SMOKE)
    for a, files, command in tables:
        pipeline.ship(a, files, command)
    assert art.shipped_name in pipeline.current_shipped()
    pipeline.forget(art)

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored although a shipped table matches")

    monkeypatch.setattr(scoring.metrics, "separation_scores", no_scoring)
    again = pipeline.evaluate_test_set(SMOKE, ["nmf"], n_tracks=1, progress=False)
    pd.testing.assert_frame_equal(again.scores, first.scores)
    assert pipeline.origin(art).startswith("shipped")


def test_an_evaluation_of_the_network_a_refined_one_started_from_is_stale():
    """With ``stemnet.refine`` both networks are shipped, but only the refined one runs the
    methods: tables scored with the one it started from are no longer current."""
    refined = get_preset("smoke", {"stemnet.refine": 2})
    parent = pipeline.stemnet_artifact(get_preset("smoke")).key
    shipped = {art.key for art, _, _ in pipeline.shippable(refined)}
    assert parent in shipped and pipeline.stemnet_artifact(refined).key in shipped
    ae = pipeline.autoencoder_artifact(refined).key

    def current(net: str) -> list[bool]:
        scores = pipeline.evaluation_artifact(ae, ["t"], ["classmask"], 0, {"classmask": net})
        counts = pipeline.TableKey(ae, ["t"], {"classmask": net}, {"separators": ["classmask"]})
        return [
            pipeline.evaluation_is_current("evaluation", scores.params, refined),
            pipeline.evaluation_is_current("counts", counts.params(), refined),
        ]

    assert current(pipeline.stemnet_artifact(refined).key) == [True, True]
    assert current(parent) == [False, False]


def test_a_test_sets_origin_says_which_methods_scores_were_shipped():
    shipped = "shipped: made on 2026-12-01 by `latentsep book`"
    assert evaluations._origins([shipped, shipped]) == shipped
    mixed = evaluations._origins([shipped, pipeline.MADE_HERE, shipped])
    assert mixed == f"2 of 3 methods' scores {shipped}; 1 {pipeline.MADE_HERE}"
    assert "(some in other builds)" in evaluations._origins([shipped, shipped + " (earlier)"])


def test_a_changed_method_is_scored_again_and_no_other(monkeypatch: pytest.MonkeyPatch):
    """Raising a method's version gives its tables new keys, and its old tables are stale
    (not reused, not shipped); another method's keys do not move."""
    ae = pipeline.autoencoder_artifact(SMOKE).key
    nets = {"notenmf": pipeline.network_artifact(SMOKE, "notenmf").key}
    before = pipeline.evaluation_artifact(ae, ["t"], ["notenmf"], 0, nets)
    other = pipeline.evaluation_artifact(ae, ["t"], ["nmf"], 0).key
    assert pipeline.evaluation_is_current("evaluation", before.params, SMOKE)
    spec = METHODS["notenmf"]
    monkeypatch.setitem(METHODS, "notenmf", dataclasses.replace(spec, version=spec.version + 1))
    after = pipeline.evaluation_artifact(ae, ["t"], ["notenmf"], 0, nets)
    assert after.key != before.key
    assert pipeline.evaluation_is_current("evaluation", after.params, SMOKE)
    assert not pipeline.evaluation_is_current("evaluation", before.params, SMOKE)
    assert pipeline.evaluation_artifact(ae, ["t"], ["nmf"], 0).key == other


def test_a_method_of_three_models_is_keyed_by_all_and_ready_when_all_are(
    monkeypatch: pytest.MonkeyPatch,
):
    """``notenmf+classmask`` runs the note dictionaries, the stem network and the counting
    model fitted on their outputs: its tables are current only with all three keys (a
    retrained stem network scores it again, and is counted by a model fitted again), and
    it is ready only when all three are made or shipped."""
    method = "notenmf+classmask"
    refined = get_preset("smoke", {"stemnet.refine": 2})
    both = pipeline.network_artifact(SMOKE, method)
    notes, net = pipeline.note_dictionaries_artifact(SMOKE), pipeline.stemnet_artifact(SMOKE)
    counter = pipeline.count_model_artifact(SMOKE)
    assert [a.key for a in both.inputs] == [notes.key, net.key, counter.key]
    assert {notes.key, net.key} <= {a.key for a in counter.inputs}
    assert pipeline.network_artifact(refined, method).key != both.key
    assert pipeline.count_model_artifact(refined).key != counter.key
    ae = pipeline.autoencoder_artifact(SMOKE).key
    table = pipeline.evaluation_artifact(ae, ["t"], [method], 0, {method: both.key})
    assert pipeline.evaluation_is_current("evaluation", table.params, SMOKE)
    stale = pipeline.evaluation_artifact(ae, ["t"], [method], 0, {method: notes.key})
    assert not pipeline.evaluation_is_current("evaluation", stale.params, SMOKE)
    monkeypatch.setattr(artifacts, "shipped_manifest", lambda: {notes.shipped_name: {}})
    made = {notes.key}
    monkeypatch.setattr(artifacts, "is_cached", lambda folder, key: key in made)
    assert pipeline.ready(SMOKE, "notenmf") and not pipeline.ready(SMOKE, method)
    made.add(net.key)
    assert not pipeline.ready(SMOKE, method)
    made.add(counter.key)
    assert pipeline.ready(SMOKE, method)


def test_evaluation_keys_read_back_by_name_and_keep_their_layout():
    """A table's key is typed (no position-based reading) and its parameters keep the list
    layout the shipped tables were keyed by, so no shipped key moves."""
    nets = {"notenmf": "abc"}
    key = pipeline.ScoresKey("ae", ["t"], ["notenmf"], 0, nets, {"notenmf": 2}, "FluidR3_GM")
    assert pipeline.ScoresKey.parse(key.params()) == key
    assert key.params() == [
        scoring.EVALUATION_VERSION,
        "ae",
        ["t"],
        ["notenmf"],
        0,
        nets,
        {"method versions": {"notenmf": 2}},
        {"soundfont": "FluidR3_GM"},
    ]
    plain = pipeline.ScoresKey("ae", ["t"], ["nmf"], 0)
    assert plain.params() == [scoring.EVALUATION_VERSION, "ae", ["t"], ["nmf"], 0]
    assert pipeline.ScoresKey.parse(plain.params()) == plain
    table = pipeline.TableKey("ae", ["t"], nets, {"seed": 0}, "FluidR3_GM")
    assert pipeline.TableKey.parse(table.params()) == table


def test_every_learned_method_names_a_network_of_the_one_table():
    learned = {m.network for m in METHODS.values() if m.learned}
    assert learned <= set(pipeline.NETWORKS)
    assert all(m.network is None for m in METHODS.values() if not m.learned)
