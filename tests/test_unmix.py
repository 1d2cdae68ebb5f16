"""Stage 1: Open-Unmix trained here, and the pretrained path through a local hub cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from openunmix import model as umx_model
from openunmix import utils

from latentsep import pipeline
from latentsep.evaluation import scoring
from latentsep.evaluation.metrics import si_sdr, snr
from latentsep.models import openunmix as unmix
from latentsep.presets import get_preset

P = get_preset("smoke")


@pytest.fixture(scope="module")
def tracks(data_root: Path):
    return pipeline.tracks(P.data, "train"), pipeline.tracks(P.data, "test")


def test_training_is_deterministic_and_finite(tracks):
    train, _ = tracks
    cfg = get_preset("smoke", {"unmix.epochs": 2}).unmix
    m1, h1 = unmix.train_other(train, cfg, P.data.sample_rate, progress=False)
    m2, h2 = unmix.train_other(train, cfg, P.data.sample_rate, progress=False)
    assert len(h1) == 2 and all(np.isfinite(h1)) and h1 == h2
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_separator_keeps_shape_and_caches(tracks, tmp_path: Path, monkeypatch):
    train, test = tracks
    rate = P.data.sample_rate
    first = pipeline.stage1(P.unmix, train, rate, "k", progress=False)
    assert first.origin == "trained on the embedded train split (made on this machine)"
    assert len(first.history) == P.unmix.epochs
    monkeypatch.setattr(unmix, "train_other", lambda *a, **k: pytest.fail("retrained"))
    again = pipeline.stage1(P.unmix, train, rate, "k", progress=False)
    assert again.key == first.key and again.history == first.history
    est = unmix.separate_other(again.separator, test[0].mixture, rate)
    assert est.shape == test[0].mixture.shape and np.all(np.isfinite(est))
    out = unmix.write_estimates(
        again.separator, test[:1], rate, again.estimates_dir, progress=False
    )
    assert out == again.folder / "estimates" and again.folder.name == again.key
    assert (out / "test" / test[0].name / "other.wav").is_file()


def test_evaluation_table(tracks, tmp_path: Path):
    train, test = tracks
    stage1 = pipeline.stage1(P.unmix, train, P.data.sample_rate, "k", progress=False)
    table, est = scoring.stage1_scores(stage1.separator, test, P.data.sample_rate, progress=False)
    assert set(table.method) == {"Open-Unmix", "mixture (no separation)"}
    assert len(table) == 2 * len(test) and np.isfinite(table.SDR).all()
    assert set(est) == {t.name for t in test}


def test_pretrained_weights_missing_means_none(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert not unmix.pretrained_cached("umxhq")
    assert unmix.load_pretrained("umxhq") is None


def test_pretrained_path_loads_from_local_hub_cache(monkeypatch, tmp_path: Path):
    """openunmix's own umxhq loader, fed a locally written checkpoint of its architecture."""
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    try:
        torch.manual_seed(0)
        max_bin = int(utils.bandwidth_to_max_bin(44100.0, 4096, 16000))
        net = umx_model.OpenUnmix(nb_bins=2049, nb_channels=2, hidden_size=512, max_bin=max_bin)
        name = unmix.PRETRAINED_OTHER["umxhq"].rsplit("/", 1)[1]
        torch.save(net.state_dict(), hub / "checkpoints" / name)
        assert unmix.pretrained_cached("umxhq")
        stage1 = pipeline.stage1(get_preset("smoke").unmix, [], 16000, "k")
        assert stage1.origin.startswith("pretrained umxhq")
        assert int(stage1.separator.sample_rate) == 44100
        x = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.1
        est = unmix.separate_other(stage1.separator, x, 16000)  # resampled both ways
        assert est.shape == x.shape
    finally:
        torch.hub.set_dir(previous)


def test_snr_and_si_sdr_known_values():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((2, 8000))
    assert snr(s, s) > 90 and si_sdr(s, s) > 90
    assert np.isclose(snr(s, 0.5 * s), 20 * np.log10(2), atol=1e-6)  # error = s/2
    assert si_sdr(s, 0.5 * s) > 90  # scale does not matter
    noise = rng.standard_normal((2, 8000))
    assert np.isclose(si_sdr(s, s + noise), 0.0, atol=0.3)
