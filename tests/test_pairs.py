"""``nmf+pairs``: the cues of a pair of NMF components, the pair network that learns from
them, its file, and the method that groups by it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_stems import tone

from latentsep import pipeline, separation
from latentsep.evaluation import scoring
from latentsep.models import pairnet
from latentsep.presets import get_preset
from latentsep.separation import learned, nmf

RATE = 16000
SMOKE = get_preset("smoke")


def test_the_cues_of_a_pair_say_what_they_name():
    """Two components that always sound together are "together", two that take turns are
    not; a component has no pitch gap to itself, two octaves are 24 semitones; the lower and
    upper note of every chord are a whole chord's place apart, a note heard alone half a
    place from both; cues come as asked; every cue is the same for (a, b) as for (b, a)."""
    rate, n_fft = RATE, 1024
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    w = np.stack([np.exp(-0.5 * ((freqs - f) / 20) ** 2) for f in (220, 440, 880)], axis=1)
    t = np.arange(200)
    h = np.stack([(t % 50 < 25) * 1.0, (t % 50 < 25) * 0.5, (t % 50 >= 25) * 1.0]) + 1e-3
    f = learned.pair_features(w, h, rate, n_fft)
    names = list(learned.PAIR_FEATURES)
    assert f.shape == (3, 3, len(names))
    assert np.allclose(f, f.transpose(1, 0, 2))
    together = f[..., names.index("together")]
    assert together[0, 1] > 0.95 and together[0, 2] < 0.05
    gap = f[..., names.index("pitch gap")]
    assert np.allclose(np.diag(gap), 0) and abs(gap[0, 2] - 24) < 1.0  # two octaves
    assert np.all(f[..., names.index("low pitch")] <= f[..., names.index("high pitch")])
    every = learned.pair_features(w, h, rate, n_fft, learned.PAIR_CUES)
    assert np.array_equal(every[..., : len(names)], f)  # the shipped cues come first
    place = every[..., list(learned.PAIR_CUES).index("chord place gap")]
    assert place[0, 1] == pytest.approx(1.0) and place[0, 2] == pytest.approx(0.5)  # 220 under 440
    chosen = learned.pair_features(w, h, rate, n_fft, ("chord place gap", "pitch gap"))
    assert np.array_equal(chosen, np.stack([place, gap], axis=-1))  # in the order asked
    with pytest.raises(ValueError, match="unknown pair cues"):
        learned.pair_features(w, h, rate, n_fft, ("loudness",))


def test_the_pair_network_learns_a_rule_and_reads_back_as_it_was_saved(tmp_path):
    """Pairs are one instrument exactly when they never sound together: the network learns
    it, its affinity is symmetric with ones on the diagonal, and its file gives the same
    numbers back; another file is a one-line error."""
    rng = np.random.default_rng(0)
    features = learned.PAIR_FEATURES
    x = rng.uniform(0, 1, (2000, len(features))).astype(np.float32)
    same = (x[:, features.index("together")] < 0.5).astype(np.float32)
    net, history = pairnet.train(pairnet.PairNetConfig(steps=300), features, x, same, np.ones(2000))
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["step"] == 300
    with torch.no_grad():
        right = ((net(torch.from_numpy(x)) > 0).numpy() == (same > 0)).mean()
    assert right > 0.95
    cues = rng.uniform(0, 1, (5, 5, len(features))).astype(np.float32)
    cues = 0.5 * (cues + cues.transpose(1, 0, 2))
    a = net.affinity(cues)
    assert np.allclose(a, a.T) and np.allclose(np.diag(a), 1) and np.all((a >= 0) & (a <= 1))
    again, payload = pairnet.load(pairnet.save(net, history, tmp_path / "pairnet.pt"))
    assert np.array_equal(again.affinity(cues), a) and payload["features"] == list(features)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other.pt: a something else checkpoint"):
        pairnet.load(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="of one instrument and of two"):
        pairnet.train(pairnet.PairNetConfig(steps=1), features, x, np.ones(2000), np.ones(2000))


def test_nmf_pairs_shares_the_mixture_among_what_its_network_groups():
    """The method needs its network (a one-line error without), gives the count asked for,
    sources that add up to the mixture, and a count of its own within ``ks``; a long input
    is separated in blocks with one fit, the same sources twice."""
    x = tone(3.0, RATE, 220, True, 1) + tone(3.0, RATE, 330, False, 2)  # two players
    spec = separation.get_method("nmf+pairs")
    assert spec.learned and spec.network == "pairs"
    with pytest.raises(ValueError, match="needs its trained separator"):
        separation.separate(x, None, "nmf+pairs", 2, rate=RATE)
    with pytest.raises(ValueError, match="needs its pair network"):
        separation.separate(x, None, "nmf+pairs", 2, rate=RATE, separator=object())
    features = learned.PAIR_FEATURES
    rng = np.random.default_rng(0)
    cues = rng.uniform(0, 1, (500, len(features))).astype(np.float32)
    same = (cues[:, features.index("together")] < 0.5).astype(np.float32)
    net, _ = pairnet.train(pairnet.PairNetConfig(steps=50), features, cues, same, np.ones(500))
    two = separation.separate(x, None, "nmf+pairs", 2, rate=RATE, separator=net)
    assert len(two.sources) == 2 and np.allclose(sum(two.sources), x, atol=1e-4)
    counted = separation.separate(x, None, "nmf+pairs", None, rate=RATE, separator=net)
    assert 2 <= counted.n_sources <= 4
    run = spec.fit(x, 2, rate=RATE, separator=net)
    first, again = run(x), run(x)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_the_pair_network_is_learned_from_played_components_and_then_restored():
    """The smoke preset's pair network: learned from its train pieces' components (the
    parts played first, as a player and a room would), labelled by the part each component
    correlates with most; loaded again from its file, not learned twice."""
    case = scoring.cases(pipeline.tracks(SMOKE.data, "train")[:1], SMOKE.model)[0]
    played = pipeline.played_case(case, 0)
    assert played.references.keys() == case.references.keys()
    assert np.allclose(sum(played.references.values()), played.mixture, atol=1e-5)
    assert not np.allclose(played.mixture, case.mixture)
    net, history, folder = pipeline.network(SMOKE, "nmf+pairs", progress=False)
    assert folder == pipeline.pair_network_artifact(SMOKE).path and history
    assert net.features == learned.PAIR_FEATURES
    assert pipeline.pair_network_artifact(SMOKE).params["pieces"] == SMOKE.data.n_train
    again, _, _ = pipeline.network(SMOKE, "nmf+pairs", progress=False)
    assert all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True)
    )
    w, h = nmf.decompose(case.mixture, 4, 0)
    assert nmf.component_labels(case.mixture, w, h, list(case.references.values())).shape == (4,)


def test_the_pair_network_learns_from_every_training_soundfont(monkeypatch):
    """The cpu preset's pair network learns from its train pieces in both soundfonts the
    stem network learns from (its key names each rendering), each soundfont's pieces played
    with their own seeds; with a soundfont missing and nothing made or shipped, the method
    is left out with the reason rather than failing mid-render."""
    from latentsep.data import synth
    from latentsep.pipeline import artifacts, networks

    cpu = get_preset("cpu")
    art = pipeline.pair_network_artifact(cpu)
    renders = [pipeline.rendering_artifact(cpu.data, sf, "train") for sf in cpu.stemnet.soundfonts]
    assert len(renders) == 2 and art.params["renders"] == [r.key for r in renders]
    assert [a.key for a in art.inputs] == art.params["renders"]
    assert art.params["pieces"] == min(pipeline.PAIR_PIECES, cpu.data.n_train) == 130
    assert len(pipeline.pair_network_artifact(SMOKE).params["renders"]) == 1
    # more pieces than the dataset has come from the stem network's renders, keyed apart;
    # the shipped count keeps the shipped key
    assert pipeline.pair_network_artifact(cpu, pipeline.PAIR_PIECES).key == art.key
    more = pipeline.pair_network_artifact(cpu, 600)
    assert more.params["pieces"] == 600 and more.key != art.key
    stems = pipeline.stemnet_data(cpu)
    assert stems.n_train >= 600 and more.params["renders"] == [
        pipeline.rendering_artifact(stems, sf, "train").key for sf in cpu.stemnet.soundfonts
    ]
    monkeypatch.setattr(synth, "soundfont_available", lambda name: False)
    monkeypatch.setattr(artifacts, "shipped_manifest", dict)
    monkeypatch.setattr(networks, "PAIR_MEMBERS", ((512, 3, 1),))  # a key no test has made
    assert "MuseScore_General_Lite, not installed" in pipeline.missing(cpu, "nmf+pairs")
