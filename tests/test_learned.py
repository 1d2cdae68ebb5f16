"""Learned separation without stems (MixIT), its supervised twin (PIT), the grouping of
their outputs without references, and the pitch-invariant timbre of NMF components."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from latentsep import separation
from latentsep.evaluation import metrics
from latentsep.models import mixit
from latentsep.models.masknet import MaskNetwork
from latentsep.presets import SeparatorConfig, get_preset
from latentsep.separation import learned, nmf
from latentsep.tuning import TUNING

TAU = 1e-3


def test_mixit_loss_is_at_its_floor_for_the_exact_parts_and_finds_the_split():
    torch.manual_seed(0)
    parts = torch.randn(3, 4, 800)  # outputs: two parts of mixture 0, two of mixture 1
    order = [2, 0, 3, 1]
    outputs = parts[:, order]
    mixtures = torch.stack([parts[:, 0] + parts[:, 1], parts[:, 2] + parts[:, 3]], dim=1)
    loss, best = mixit.mixit_loss(outputs, mixtures, TAU)
    assert loss.item() == pytest.approx(2 * 10 * math.log10(TAU), abs=1e-3)
    # outputs 1 and 3 (parts 0, 1) make mixture 0; outputs 0 and 2 make mixture 1
    assert best[0].tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]
    wrong = torch.stack([outputs[:, 0] + outputs[:, 1], outputs[:, 2] + outputs[:, 3]], dim=1)
    assert mixit.mixit_loss(wrong[:, [0, 0, 1, 1]] / 2, mixtures, TAU)[0] > loss + 10


def test_assignments_cover_every_split_once():
    a = mixit.assignments(3)
    assert a.shape == (8, 2, 3)
    assert torch.all(a.sum(dim=1) == 1)  # each output goes to exactly one mixture
    assert len({tuple(x.flatten().tolist()) for x in a}) == 8


def test_pit_loss_ignores_the_order_of_outputs():
    torch.manual_seed(1)
    refs = torch.randn(2, 4, 500)
    refs[:, 3] = 0  # a stem of three instruments
    mix = refs.sum(1)
    est = refs + 0.1 * torch.randn_like(refs)
    a = mixit.pit_loss(est, refs, mix, TAU)
    b = mixit.pit_loss(est[:, [3, 1, 0, 2]], refs, mix, TAU)
    assert torch.isclose(a, b) and a < -10


def test_the_outputs_add_up_to_the_input():
    model = MaskNetwork(get_preset("smoke").separator).eval()
    x = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 4, 16000)
    assert torch.allclose(y.sum(1), x, atol=1e-5)


def test_grouping_counts_sounding_outputs_and_keeps_the_sum():
    rng = np.random.default_rng(0)
    outs = rng.standard_normal((4, 1, 8000)).astype(np.float32)
    outs[3] *= 1e-3  # silent: 60 dB down
    sources, labels = learned.group(outs, None, TUNING.floors.silent, ks=(2, 3, 4))
    assert len(sources) == 3  # counted: three sounding outputs
    assert np.allclose(sum(sources), outs.sum(0), atol=1e-5)
    two, labels = learned.group(outs, 2, TUNING.floors.silent)
    assert len(two) == 2 and set(labels) == {0, 1}
    assert np.allclose(sum(two), outs.sum(0), atol=1e-5)


def test_a_leak_joins_its_instrument_and_is_not_counted():
    """Three instruments' sounds in four class outputs: the fourth is a quieter share of the
    first's notes (a leak: alike in time and frequency). Grouped by co-activity the leak joins
    its instrument, however unlike its level; counted, it is no instrument of its own."""
    rng = np.random.default_rng(1)
    notes = rng.random((3, 64, 40)) * (rng.random((3, 64, 40)) > 0.9)  # sparse, unalike
    models = [notes[0], notes[1], notes[2], 0.3 * notes[0] + 0.01 * notes[1]]
    alike = learned.coactivity(models)
    assert alike[0, 3] > 0.9 and max(alike[0, 1], alike[1, 2], alike[0, 2]) < 0.2
    assert np.allclose(np.diag(alike), 1.0)
    outs = rng.standard_normal((4, 1, 4000)).astype(np.float32)
    outs *= np.array([1.0, 0.9, 0.8, 0.5], np.float32)[:, None, None]
    sources, labels = learned.group(outs, 3, TUNING.floors.note_class, alike=alike)
    assert labels[3] == labels[0] and len(set(labels[:3])) == 3
    np.testing.assert_allclose(sum(sources), outs.sum(axis=0), atol=1e-5)
    energy = np.sum(outs.astype(np.float64) ** 2, axis=(1, 2))
    assert learned.count_unlike(energy, alike, TUNING.floors.note_class, (2, 3, 4, 5)) == 3
    assert learned.count_unlike(energy, np.eye(4), TUNING.floors.note_class, (2, 3, 4, 5)) == 4
    counted = learned.group(outs, None, TUNING.floors.note_class, alike=alike)[1]
    assert len(set(counted)) == 3 and counted[3] == counted[0]


def test_the_count_has_its_own_floor():
    """An unlike output 12 dB below the loudest: grouped as sounding at the grouping floor
    (−15 dB), not counted within a counting floor of −10 dB — and with the count given, the
    counting floor changes nothing."""
    rng = np.random.default_rng(2)
    outs = rng.standard_normal((3, 1, 4000)).astype(np.float32)
    outs /= np.sqrt(np.mean(outs**2, axis=(1, 2), keepdims=True))
    outs *= np.sqrt([1.0, 0.9, 10**-1.2]).astype(np.float32)[:, None, None]
    alike = np.eye(3)
    assert len(learned.group(outs, None, -15.0, alike=alike)[0]) == 3
    assert len(learned.group(outs, None, -15.0, alike=alike, count_floor_db=-10.0)[0]) == 2
    given = [learned.group(outs, 2, -15.0, alike=alike, count_floor_db=c)[1] for c in (None, -10.0)]
    assert np.array_equal(*given)


def test_output_features_describe_level_share_and_leaks():
    energy = np.array([4.0, 2.0, 1.0, 1.0])
    alike = np.eye(4)
    alike[2, 0] = alike[0, 2] = 0.8  # output 2 sounds where output 0 does: a leak of it
    f = learned.output_features(energy, alike)
    np.testing.assert_allclose(f[:, 0], 10 * np.log10(energy / 4.0))
    np.testing.assert_allclose(np.sum(10 ** (f[:, 1] / 10)), 1.0)
    np.testing.assert_allclose(f[:, 2], [0.0, 0.0, 0.8, 0.0])  # alike to a louder one
    np.testing.assert_allclose(f[:, 3], [0.8, 0.0, 0.8, 0.0])  # alike to any other
    assert learned.output_features(np.array([1.0, 0.0]), np.eye(2))[1, 0] == -40.0


def test_the_likeliest_count_reads_level_and_leaks_and_each_class_prior():
    """A loud output counts, a quiet or leaking one does not, a class whose outputs are
    often leaks needs more level, and the count stays within ``ks``."""
    weights = {"level": 0.5, "share": 0.0, "louder alike": -10.0, "most alike": 0.0}
    model = learned.CountModel(weights, {"": 4.0, "leaky": 0.5})
    energy = 10 ** (np.array([0.0, -2.0, -4.0, -30.0]) / 10)
    count = lambda e, a, cl=("a", "b", "c", "d"), ks=(1, 2, 3, 4): model.count(e, a, cl, ks)  # noqa: E731
    assert count(energy, np.eye(4)) == 3  # −30 dB: 4 − 15 < 0
    leak = np.eye(4)
    leak[2, 0] = leak[0, 2] = 0.9
    assert count(energy, leak) == 2
    assert count(energy, np.eye(4), ("a", "b", "leaky", "d")) == 2  # −4 dB: 0.5 − 2 < 0
    assert count(energy, np.eye(4), ("a", "leaky", "leaky", "d")) == 1  # −2 dB: 0.5 − 1 < 0
    assert count(energy, np.eye(4), ks=(2,)) == 2


def test_a_counting_model_is_fitted_on_outputs_and_read_back_as_it_was_saved(tmp_path):
    """Fitted on pieces where loud unlike outputs play and quiet leaking ones do not, the
    model counts the loud ones; saved and loaded it is the same model; a file that is not
    one, or pieces that teach nothing, give a one-line error."""
    rng = np.random.default_rng(0)
    classes = ("a", "b", "c", "d", "e")
    pieces = []
    for _ in range(40):
        k = int(rng.integers(1, 4))
        energy = np.r_[rng.uniform(0.3, 1.0, k), rng.uniform(1e-4, 1e-3, 5 - k)]
        alike = np.eye(5)
        alike[k:, 0] = alike[0, k:] = rng.uniform(0.5, 0.9, 5 - k)  # the quiet ones leak
        order = rng.permutation(5)
        pieces.append((energy[order], alike[np.ix_(order, order)], order < k))
    model = learned.fit_count_model(pieces, classes)
    assert model.weights["level"] > 0 and model.weights["louder alike"] < 0
    right = [model.count(e, a, classes, (1, 2, 3, 4)) == p.sum() for e, a, p in pieces]
    assert np.mean(right) >= 0.9
    assert learned.CountModel.load(model.save(tmp_path / "count.json")) == model
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bad.json: not a counting model"):
        learned.CountModel.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="outputs that play and outputs that do not"):
        learned.fit_count_model([(e, a, np.ones(5, bool)) for e, a, _ in pieces], classes)


def test_learned_methods_need_their_network():
    spec = separation.get_method("mixit")
    assert spec.learned and "beyond" in spec.tags
    assert separation.get_method("pit").learned
    x = np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32)
    with pytest.raises(ValueError, match="needs its trained separator"):
        separation.separate(x, None, "mixit", 2, rate=16000)


def test_training_checks_its_input(tmp_path: Path):
    cfg = get_preset("smoke").separator
    stem = [np.zeros((1, 16000), np.float32)]
    with pytest.raises(ValueError, match="at least two stems"):
        mixit.train(cfg, stem, tmp_path, "mixit", progress=False)
    with pytest.raises(ValueError, match="instrument parts"):
        mixit.train(cfg, stem * 2, tmp_path, "pit", progress=False)
    with pytest.raises(ValueError, match="unknown separator training"):
        mixit.train(cfg, stem * 2, tmp_path, "gan", progress=False)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    torch.save({"x": 1}, tmp_path / "other.pt")
    for name in ("bad.pt", "other.pt"):
        with pytest.raises(ValueError, match=f"{name}: not a latentsep checkpoint"):
            mixit.load(tmp_path / name)


def _tone_stem(rng: np.random.Generator, rate: int, n: int, low: bool) -> np.ndarray:
    """Notes of one timbre: a low harmonic tone or a high one, starting and stopping at
    random — two "instruments" that vary independently across stems."""
    t = np.arange(n) / rate
    x = np.zeros(n)
    for start in range(0, n, rate // 4):
        if rng.random() < 0.5:
            continue
        f0 = rng.uniform(100, 200) if low else rng.uniform(1000, 1600)
        seg = slice(start, min(n, start + rate // 4))
        x[seg] += sum(np.sin(2 * np.pi * f0 * k * t[seg]) / k for k in (1, 2, 3))
    return (0.1 * x)[None].astype(np.float32)


def test_a_tiny_mixit_separator_beats_the_mixture(tmp_path: Path):
    """Trained only on mixtures of mixtures whose parts vary independently, it splits a
    new mixture of a low and a high tone better than leaving it alone."""
    rate, n = 8000, 16000
    rng = np.random.default_rng(0)
    stems = [_tone_stem(rng, rate, 2 * n, low=bool(i % 2)) for i in range(16)]
    cfg = SeparatorConfig(
        sample_rate=rate,
        n_fft=256,
        hop=64,
        hidden=32,
        layers=1,
        outputs=2,
        segment_seconds=1.0,
        batch_size=8,
        steps=150,
        lr=3e-3,
    )
    model, history = mixit.train(cfg, stems, tmp_path, "mixit", progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    test = np.random.default_rng(99)
    low, high = _tone_stem(test, rate, n, True), _tone_stem(test, rate, n, False)
    sep = separation.separate(low + high, None, "mixit", 2, rate=rate, separator=model)
    rows = metrics.separation_scores(
        {"low": low, "high": high}, sep.sources, low + high, rate, bss=False
    )
    assert min(r["SI-SDRi (dB)"] for r in rows) > 3.0


def test_harmonic_timbre_is_pitch_invariant():
    rate, n_fft = 22050, 2048
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)

    def template(f0: float, amps: list[float]) -> np.ndarray:
        w = np.zeros_like(freqs)
        for k, a in enumerate(amps, start=1):
            w += a * np.exp(-0.5 * ((freqs - k * f0) / 4.0) ** 2)
        return w + 1e-6

    bright = [1 / k for k in range(1, 17)]
    hollow = [1 / k if k % 2 else 0.02 / k for k in range(1, 17)]
    basis = np.stack([template(220, bright), template(330, bright), template(220, hollow)], axis=1)
    t = nmf.harmonic_timbre(basis, rate, n_fft)
    same = np.linalg.norm(t[0] - t[1])
    different = np.linalg.norm(t[0] - t[2])
    assert same < 0.25 * different
    # the fundamentals it read the harmonics at, to the 1/48-octave grid's step
    f0 = nmf.fundamentals(basis, rate, n_fft)
    assert np.allclose(np.log2(f0 / [220, 330, 220]), 0, atol=1 / 96)


def test_long_inputs_fit_templates_on_a_sample_of_frames():
    """Past MAX_FIT_FRAMES the activations of every frame come from fixed templates: the
    factorisation still explains the whole spectrogram, at a fraction of the cost."""
    rate = 22050
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * 40)) / rate  # 40 s: more frames than MAX_FIT_FRAMES
    notes = np.repeat(rng.choice([220.0, 330.0, 440.0], size=80), t.size // 80 + 1)[: t.size]
    x = (0.1 * np.sin(2 * np.pi * notes * t))[None].astype(np.float32)
    w, h = nmf.decompose(x, n_components=6)
    v = nmf.magnitudes(x)
    assert v.shape[1] > nmf.MAX_FIT_FRAMES and h.shape == (6, v.shape[1])
    error = np.linalg.norm(v - w @ h) / np.linalg.norm(v)
    assert error < 0.1  # a full fit of this signal: 0.033


def test_a_retrained_separator_is_a_new_evaluation():
    """The cached evaluation of a learned method is keyed by its separator: new training
    settings must not reuse the old separator's scores."""
    from latentsep import pipeline

    def key(preset):
        seps = {"mixit": pipeline.mask_network_artifact(preset, "mixit").key}
        return pipeline.evaluation_artifact("m", ["t"], ["mixit"], 0, seps).key

    smoke = get_preset("smoke")
    assert key(smoke) == key(get_preset("smoke"))
    assert key(smoke) != key(get_preset("smoke", {"separator.steps": 5}))


def test_counts_and_speed_are_measured_once(data_root: Path, monkeypatch):
    """Chapter 06 and the benchmarks share one measurement of the counting rules and of
    the speed: the second call reads the cached table, equal to the first."""
    from latentsep import pipeline
    from latentsep.evaluation import scoring

    test_set = pipeline.evaluate_test_set(get_preset("smoke"), ["mixit"], progress=False)
    speed = pipeline.method_speed(test_set, ["nmf", "mixit"], 2.0)
    counts = pipeline.source_counts(test_set, ["mixit"])
    assert list(speed.index) == ["nmf", "mixit"] and (speed["seconds"] > 0).all()
    assert "mixit sounding outputs" in counts and len(counts) == len(test_set.cases)
    for name in ("speed", "count_sources"):
        monkeypatch.setattr(scoring, name, lambda *a, **k: pytest.fail("measured again"))
    assert pipeline.method_speed(test_set, ["nmf", "mixit"], 2.0).equals(speed)
    assert pipeline.source_counts(test_set, ["mixit"]).equals(counts)


def test_a_method_added_to_a_test_set_is_the_only_one_scored(data_root: Path, monkeypatch):
    """Each method's scores and counts are their own cached table: a list that gains a
    method computes that method alone, and the tables read back as one, by case then
    method, as a single evaluation gives them."""
    from latentsep import pipeline
    from latentsep.evaluation import scoring

    smoke, seed = get_preset("smoke"), 3  # a seed no other test scores with
    first = pipeline.evaluate_test_set(smoke, ["nmf", "mixit"], seed=seed, progress=False)
    pipeline.source_counts(first, ["mixit"], seed=seed)
    scored, counted = [], []
    evaluate, count = scoring.evaluate, scoring.count_sources

    def spy_evaluate(cases, methods, cache=None, **kw):
        if not (Path(cache) / "runs.csv").is_file():
            scored.extend(methods)
        return evaluate(cases, methods, cache, **kw)

    def spy_count(*a, separators=None, rules=True, **kw):
        counted.append((sorted(separators or {}), rules))
        return count(*a, separators=separators, rules=rules, **kw)

    monkeypatch.setattr(scoring, "evaluate", spy_evaluate)
    monkeypatch.setattr(scoring, "count_sources", spy_count)
    both = pipeline.evaluate_test_set(smoke, ["nmf", "mixit", "pit"], seed=seed, progress=False)
    counts = pipeline.source_counts(both, ["mixit", "pit"], seed=seed)
    assert scored == ["pit"] and counted == [(["pit"], False)]
    old = both.scores[both.scores.method != "pit"].reset_index(drop=True)
    assert old.drop(columns=["seconds"], errors="ignore").equals(first.scores)
    cases = {c.track: i for i, c in enumerate(both.cases)}
    runs = zip(both.runs.track, both.runs.method, strict=True)
    order = [(cases[t], both.order.index(m)) for t, m in runs]
    assert order == sorted(order) and len(order) == len(cases) * len(both.order)
    assert list(counts.columns[-2:]) == ["mixit sounding outputs", "pit sounding outputs"]
