"""The autoencoder, its loss and its training loop, on tiny CPU fixtures."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from latentsep import pipeline
from latentsep.audio import AudioError
from latentsep.evaluation import reconstruction
from latentsep.evaluation.metrics import reconstruction_metrics
from latentsep.models import losses, training
from latentsep.models.autoencoder import Autoencoder
from latentsep.presets import get_preset

SMOKE = get_preset("smoke")


@pytest.mark.parametrize("latent", ["deterministic", "vae"])
@pytest.mark.parametrize("length", [1000, 1001, 1537, 4096])
def test_shapes_round_trip_for_any_length(latent, length):
    model = Autoencoder(get_preset("smoke", {"model.latent": latent}).model).eval()
    x = torch.randn(2, 1, length)
    y, lat = model(x)
    assert y.shape == x.shape
    assert lat.z.shape == (2, SMOKE.model.dimension, math.ceil(length / model.hop_length))
    assert (lat.logvar is None) == (latent == "deterministic")


def test_stereo_paper_configuration_shapes():
    cfg = get_preset("paper", {"model.n_filters": 4, "model.dimension": 16, "model.lstm": 0}).model
    y, lat = Autoencoder(cfg).eval()(torch.randn(1, 2, 3000))
    assert y.shape == (1, 2, 3000) and lat.z.shape[1] == 16
    assert y.abs().max() <= 1.0  # the study's Tanh output


def test_gpu_preset_trains_at_smoke_scale(tmp_path: Path):
    """The Colab preset's networks, at their full width, take training steps here: its
    autoencoder one epoch on two short stereo 44.1 kHz signals, its separator two MixIT
    steps; only the batch, the crops and the run's length are cut to the smoke scale."""
    from latentsep.models import mixit

    gpu = get_preset("gpu")
    preset = get_preset(
        "gpu", {"train.epochs": 1, "train.batch_size": 2, "train.segment_seconds": 0.2}
    )
    assert preset.model == gpu.model  # the study's model, not a smaller one
    rng = np.random.default_rng(0)
    signals = [0.1 * rng.standard_normal((2, 44100)).astype(np.float32) for _ in range(3)]
    history = training.fit(preset, signals[1:], signals[:1], tmp_path / "ae", progress=False)
    assert len(history.epochs) == 1 and np.isfinite(history.epochs[0]["valid"])
    sep = dataclasses.replace(gpu.separator, steps=2, batch_size=2, segment_seconds=0.5)
    mono = [s[:1] for s in signals]
    model, hist = mixit.train(sep, mono, tmp_path / "sep", "mixit", progress=False)
    assert model.cfg.hidden == gpu.separator.hidden and np.isfinite(hist[-1]["loss"])
    x = torch.from_numpy(mono[0])
    assert torch.allclose(model(x).sum(1), x, atol=1e-4)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.randn(1, 2, 100), "takes 1 channel(s), got 2"),
        (torch.randn(1, 1, 1, 100), "expected audio shaped (batch, channels, samples)"),
        (torch.full((1, 1, 100), float("nan")), "NaN"),
        (torch.randn(1, 1, 1), "too short"),
        (np.zeros((1, 1, 100)), "expected a torch.Tensor"),
    ],
)
def test_bad_audio_gives_clear_errors(x, message):
    with pytest.raises(AudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Autoencoder(SMOKE.model)(x)


def test_gaussian_kl_matches_closed_form():
    mean, logvar = torch.randn(3, 8, 5), torch.randn(3, 8, 5)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).mean()
    assert torch.allclose(losses.gaussian_kl(mean, logvar), expected, atol=1e-6)
    assert losses.gaussian_kl(torch.zeros(4), torch.zeros(4)) == 0


def test_study_penalty_known_values():
    assert losses.study_kl(torch.ones(10)).abs() < 1e-6  # minimum at |z| = 1
    z = torch.tensor([2.0])
    assert torch.isclose(losses.study_kl(z), 0.5 * (4 - math.log(4) - 1) * torch.ones(1))


def test_log_spectral_mse_is_zero_for_identical_and_grows_with_error():
    x = torch.randn(2, 1, 4096)
    assert losses.log_spectral_mse(x, x) == 0
    assert losses.log_spectral_mse(x, 0.5 * x) > losses.log_spectral_mse(x, 0.9 * x)


def test_study_schedule_anneals_the_latent_weight():
    cfg = get_preset("cpu", {"train.study_schedule": True, "train.epochs": 10}).train
    w = [losses.weights(cfg, e)["kl"] for e in range(10)]
    assert w[0] == 0 and w[5] == cfg.kl_weight and w == sorted(w)


def _signals(n=6, length=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000
    return [
        (0.3 * np.sin(2 * np.pi * rng.uniform(100, 800) * t)[None]).astype(np.float32)
        for _ in range(n)
    ]


def test_loss_decreases_on_a_tiny_fixture(tmp_path: Path):
    preset = get_preset("smoke", {"train.epochs": 12, "train.batch_size": 5, "train.lr": 3e-3})
    signals = _signals()
    history = training.fit(preset, signals[1:], signals[:1], tmp_path, progress=False)
    loss = [e["loss"] for e in history.epochs]
    assert loss[-1] < 0.7 * loss[0], loss


def test_resume_continues_identically(tmp_path: Path):
    preset = get_preset("smoke", {"train.epochs": 3, "model.latent": "vae"})
    signals = _signals()
    full = training.fit(preset, signals[1:], signals[:1], tmp_path / "a", progress=False)
    training.fit(preset, signals[1:], signals[:1], tmp_path / "b", progress=False, max_epochs=1)
    resumed = training.fit(preset, signals[1:], signals[:1], tmp_path / "b", progress=False)

    def strip(h):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h.epochs]

    assert strip(full) == strip(resumed)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "b").glob(".*tmp*")), "no temporary files left behind"


def test_train_or_load_reuses_a_finished_model(tmp_path: Path, monkeypatch):
    from latentsep.data.musdb import Track

    preset = get_preset("smoke", {"train.epochs": 1})
    tracks = [Track(f"t{i}", "train", 16000, {"other": x}) for i, x in enumerate(_signals())]
    m1, h1, out1 = pipeline.train_or_load(preset, tracks, tmp_path / "k", progress=False)
    monkeypatch.setattr(training, "fit", lambda *a, **k: pytest.fail("retrained"))
    m2, h2, out2 = pipeline.train_or_load(preset, tracks, tmp_path / "k", progress=False)
    assert out1 == out2 and h1.epochs == h2.epochs
    x = _signals(1, 5000)[0]
    assert np.array_equal(reconstruction.reconstruct(m1, x), reconstruction.reconstruct(m2, x))


def test_early_stopping_rule():
    def history(valid):
        return training.History([{"valid": v} for v in valid])

    assert not history([3, 2, 2.5, 2.4]).stopped(3)  # only 2 epochs since the best
    assert history([3, 2, 2.5, 2.4, 2.0]).stopped(3)  # equal is not better
    assert not history([3, 2, 2.5, 2.4, 1.9]).stopped(3)
    assert not history([3, 2, 2.5, 2.4, 2.6, 2.7]).stopped(0)  # 0: never


def test_training_stops_when_validation_stops_improving(tmp_path: Path, monkeypatch):
    """A run whose validation loss only rises ends after ``patience`` epochs, keeps its best
    (first) epoch in best.pt, and counts as finished: reused, not resumed."""
    from latentsep.data.musdb import Track

    preset = get_preset("smoke", {"train.epochs": 10, "train.patience": 2})
    rising = iter(range(100))
    monkeypatch.setattr(training, "_validate", lambda *a, **k: float(next(rising)))
    tracks = [Track(f"t{i}", "train", 16000, {"other": x}) for i, x in enumerate(_signals())]
    _, history, out = pipeline.train_or_load(preset, tracks, tmp_path / "k", progress=False)
    assert [e["valid"] for e in history.epochs] == [0.0, 1.0, 2.0]
    assert torch.load(out / "best.pt", weights_only=False)["epoch"] == 0
    monkeypatch.setattr(training, "fit", lambda *a, **k: pytest.fail("resumed a stopped run"))
    pipeline.train_or_load(preset, tracks, tmp_path / "k", progress=False)


def test_chunked_reconstruction_matches_length():
    model = Autoencoder(SMOKE.model).eval()
    x = _signals(1, 12345)[0]
    y = reconstruction.reconstruct(model, x, chunk_seconds=0.3)
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_reconstruction_metrics_known_values():
    x = _signals(1)[0].astype(np.float64)
    perfect = reconstruction_metrics(x, x)
    assert perfect["MSE"] == 0 and perfect["cosine similarity"] == pytest.approx(1.0)
    assert perfect["spectral MSE"] == pytest.approx(0.0, abs=1e-9)
    half = reconstruction_metrics(x, 0.5 * x)
    assert half["SNR (dB)"] == pytest.approx(20 * math.log10(2), abs=1e-6)
    assert half["cosine similarity"] == pytest.approx(1.0)
    assert half["SI-SDR (dB)"] > 90
    assert half["level (dB)"] == pytest.approx(-20 * math.log10(2), abs=1e-6)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_gloo_ddp(tmp_path: Path):
    import json

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        str(Path(__file__).with_name("ddp_worker.py")),
        str(tmp_path),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(ranks[0]["valid"]) == 2
    assert ranks[0]["valid"] == ranks[1]["valid"]  # the same weights on both ranks
    assert ranks[0]["loss"] != ranks[1]["loss"]  # trained on different batches
    on_disk = json.loads((tmp_path / "history.json").read_text())
    assert [e["valid"] for e in on_disk] == ranks[0]["valid"]  # rank 0 wrote the files
    training.load_model(tmp_path / "best.pt")


def test_trains_on_openunmix_estimates(tmp_path: Path):
    """train.target='openunmix' reads stage-1 estimates, not the ground truth."""
    from latentsep.audio import save_audio
    from latentsep.data.musdb import Track

    preset = get_preset("smoke", {"train.epochs": 1, "train.target": "openunmix"})
    sigs = _signals()
    tracks = [
        Track(f"t{i}", "train", 16000, {"other": np.zeros_like(x)}) for i, x in enumerate(sigs)
    ]
    for t, x in zip(tracks, sigs, strict=True):
        save_audio(tmp_path / "est" / "train" / t.name / "other.wav", x, 16000)
    got = pipeline.targets(tracks, preset, tmp_path / "est")
    assert all(np.allclose(a, b) for a, b in zip(got, sigs, strict=True))
    with pytest.raises(ValueError, match="needs the stage-1 estimates"):
        pipeline.targets(tracks, preset, None)
    _, history, _ = pipeline.train_or_load(
        preset, tracks, tmp_path / "m" / "k", estimates_root=tmp_path / "est", progress=False
    )
    assert len(history.epochs) == 1


def test_cli_train_reuses_its_model(data_root: Path, capsys):
    from latentsep import cli

    assert cli.main(["train", "--preset", "smoke"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert (Path(first) / "best.pt").is_file()
    assert cli.main(["train", "--preset", "smoke"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == first


# --- crash safety and checkpoints ------------------------------------------------------

KILL_WORKER = """
import sys
from pathlib import Path
import numpy as np
import torch
from latentsep.models import training
from latentsep.presets import get_preset

torch.set_num_threads(int(sys.argv[2]))
preset = get_preset("smoke", {"train.epochs": 4, "train.batch_size": 2})
rng = np.random.default_rng(0)
signals = [rng.standard_normal((1, 16000)).astype(np.float32) * 0.1 for _ in range(13)]
training.fit(preset, signals[1:], signals[:1], Path(sys.argv[1]), progress=False)
"""


def test_sigkill_mid_training_resumes_to_the_same_weights(tmp_path: Path):
    """A training process killed with SIGKILL in the middle of an epoch leaves checkpoints
    that load, and resuming gives exactly the weights of an uninterrupted run."""
    import signal
    import time

    preset = get_preset("smoke", {"train.epochs": 4, "train.batch_size": 2})
    rng = np.random.default_rng(0)
    signals = [rng.standard_normal((1, 16000)).astype(np.float32) * 0.1 for _ in range(13)]
    threads = str(torch.get_num_threads())  # the same float reductions in both processes
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_WORKER, str(killed), threads])
    try:
        deadline = time.monotonic() + 120
        while not (killed / "last.pt").is_file():  # the first epoch is on disk...
            assert proc.poll() is None and time.monotonic() < deadline, "worker ended early"
            time.sleep(0.02)
        time.sleep(0.3)  # ...and the second one under way
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = torch.load(killed / "last.pt", weights_only=False)["epoch"] + 1
    assert 1 <= done < 4, "killed after training ended: the test proved nothing"
    assert training.load_model(killed / "best.pt")[0] is not None  # a loadable state
    training.read_checkpoint(killed / "last.pt", training.CHECKPOINT_FORMAT, 1)
    (killed / ".last.pt.tmp-999999").write_bytes(b"half")  # as if killed mid-write

    resumed = training.fit(preset, signals[1:], signals[:1], killed, progress=False)
    assert not list(killed.glob(".*tmp*")), "a killed run's temporary file was left behind"
    training.fit(preset, signals[1:], signals[:1], tmp_path / "whole", progress=False)
    assert len(resumed.epochs) == 4
    for name in ("last.pt", "best.pt"):
        a = torch.load(killed / name, weights_only=False)["model"]
        b = torch.load(tmp_path / "whole" / name, weights_only=False)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_bad_checkpoints_say_what_they_are(tmp_path: Path):
    from latentsep.models import mixit

    (tmp_path / "text.pt").write_bytes(b"invalid literal")
    torch.save({"x": 1}, tmp_path / "dict.pt")
    sep_cfg = get_preset("smoke").separator
    from latentsep.models.masknet import MaskNetwork

    mixit.save(MaskNetwork(sep_cfg), "mixit", [], tmp_path / "separator.pt")
    model = Autoencoder(SMOKE.model)
    training.save_checkpoint(tmp_path / "ok.pt", model, None, 0, training.History(), SMOKE)
    payload = torch.load(tmp_path / "ok.pt", weights_only=False)
    torch.save({**payload, "version": 0}, tmp_path / "old.pt")
    torch.save({**payload, "model": {"w": torch.zeros(1)}}, tmp_path / "damaged.pt")
    cases = {
        "text.pt": "not a latentsep checkpoint",
        "dict.pt": "not a latentsep checkpoint",
        "separator.pt": "a latentsep separator checkpoint, expected a latentsep autoencoder",
        "old.pt": "written by an incompatible version of latentsep",
        "damaged.pt": "a damaged latentsep autoencoder checkpoint",
        "missing.pt": "no such checkpoint",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=f"{name}: {message}"):
            training.load_model(tmp_path / name)
    assert training.load_model(tmp_path / "ok.pt")[0].cfg == SMOKE.model
    # written before checkpoints named their format: the same content, still read
    legacy = {k: v for k, v in payload.items() if k not in ("format", "version")}
    torch.save(legacy, tmp_path / "legacy.pt")
    assert training.load_model(tmp_path / "legacy.pt")[0].cfg == SMOKE.model


def test_cli_names_a_bad_model_checkpoint(tmp_path: Path, capsys):
    from latentsep import cli
    from latentsep.audio import save_audio

    save_audio(tmp_path / "in.wav", _signals(1, 16000)[0], 16000)
    (tmp_path / "bad.pt").write_bytes(b"junk")
    code = cli.main(
        [
            "separate",
            str(tmp_path / "in.wav"),
            "--out",
            str(tmp_path / "o"),
            "--method",
            "kmeans",
            "--model",
            str(tmp_path / "bad.pt"),
        ]
    )
    assert code == 2
    assert "bad.pt: not a latentsep checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_crash_between_checkpoint_writes_leaves_a_loadable_model(tmp_path: Path, monkeypatch):
    """The process dies right after the first checkpoint file of the first epoch is written:
    best.pt must already be there, and resuming must reach the uninterrupted weights."""
    preset = get_preset("smoke", {"train.epochs": 2})
    signals = _signals()
    real = training.save_checkpoint

    def crash_after_first(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(training, "save_checkpoint", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        training.fit(preset, signals[1:], signals[:1], tmp_path / "a", progress=False)
    monkeypatch.setattr(training, "save_checkpoint", real)
    training.load_model(tmp_path / "a" / "best.pt")  # loads: no FileNotFoundError
    training.fit(preset, signals[1:], signals[:1], tmp_path / "a", progress=False)
    training.fit(preset, signals[1:], signals[:1], tmp_path / "b", progress=False)
    a = torch.load(tmp_path / "a" / "best.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "best.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
