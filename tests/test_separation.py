"""Latents, clustering, masks, separation metrics, ``separate`` and its CLI."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from latentsep import cli, device, separation, spectral
from latentsep.audio import AudioError
from latentsep.evaluation import latent_space, metrics
from latentsep.models.autoencoder import Autoencoder
from latentsep.models.training import History, save_checkpoint
from latentsep.presets import get_preset
from latentsep.separation import clustering, latents, masks, nmf

RATE = 16000
P = get_preset("smoke")


def tone(freq: float, seconds: float = 2.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t))[None].astype(np.float32)


@pytest.fixture(scope="module")
def model() -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(P.model).eval()


# --- metrics on known signals -------------------------------------------------------------


def test_si_sdr_perfect_scaled_and_snr():
    s = tone(440)
    assert metrics.si_sdr(s, s) > 80
    assert metrics.si_sdr(s, 0.5 * s) > 80  # scale-invariant
    assert metrics.snr(s, 0.5 * s) == pytest.approx(20 * np.log10(2), abs=1e-6)


def test_swapped_pair_is_matched():
    a, b = tone(440), tone(1250)
    assert metrics.match_sources([a, b], [b, a]) == [1, 0]
    rows = metrics.separation_scores({"a": a, "b": b}, [b, a], a + b, RATE)
    assert all(r["SI-SDR (dB)"] > 80 for r in rows)
    assert all(r["SI-SDRi (dB)"] > 70 for r in rows)
    assert all(r["SDR (dB)"] > 40 and r["SDRi (dB)"] > 30 for r in rows)


def test_missing_estimate_is_scored_as_silence():
    a, b = tone(440), tone(1250)
    assert metrics.match_sources([a, b], [b]) == [None, 0]
    # a silent estimate (SI-SDR -inf against everything) is still matched
    assert metrics.match_sources([a, b], [np.zeros_like(a), np.zeros_like(b)]) in ([0, 1], [1, 0])
    rows = metrics.separation_scores({"a": a, "b": b}, [b], a + b, RATE, bss=False)
    assert rows[1]["SI-SDR (dB)"] > 80 and rows[0]["SI-SDR (dB)"] == -np.inf


def test_entropy_and_hoyer_on_constructed_spectra():
    peak = np.zeros(8)
    peak[3] = 5.0
    assert metrics.entropy(peak) == pytest.approx(0.0)
    assert metrics.entropy(np.ones(8)) == pytest.approx(3.0)
    assert metrics.hoyer_sparsity(peak) == pytest.approx(1.0)
    assert metrics.hoyer_sparsity(np.ones(8)) == pytest.approx(0.0, abs=1e-9)
    assert 0 < metrics.hoyer_sparsity(np.array([1.0, 2.0, 0.0, 0.0])) < 1
    with pytest.raises(ValueError, match="non-negative"):
        metrics.entropy(np.array([1.0, -1.0]))


def test_cluster_statistics_of_a_split_in_time():
    x = tone(440)
    first, second = x.copy(), x.copy()
    first[:, x.shape[1] // 2 :] = 0
    second[:, : x.shape[1] // 2] = 0
    stats = metrics.cluster_statistics(x, [first, second])
    assert stats["reconstruction MSE"] == pytest.approx(0.0, abs=1e-12)
    assert stats["sum of shares (%)"] == pytest.approx(100.0, rel=1e-6)
    assert stats["largest share (%)"] == pytest.approx(50.0, rel=0.02)
    assert stats["Hoyer sparsity"] > 0.5  # a pure tone's spectrum is peaked


# --- masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_fft", "hop", "dtype"),
    [(2048, 512, np.float32), (4096, 512, np.float32), (64, 32, np.float64)],
)
def test_the_inverse_stft_is_scipys_bit_for_bit(n_fft: int, hop: int, dtype):
    from scipy.signal import istft

    from latentsep import spectral

    rng = np.random.default_rng(0)
    z = spectral.stft(rng.standard_normal((2, 3 * n_fft + 17)).astype(dtype), n_fft, hop)
    z = (z * rng.random(z.shape)).astype(z.dtype)  # a masked spectrogram: not a signal's
    _, ref = istft(z, nperseg=n_fft, noverlap=n_fft - hop, time_axis=-1, freq_axis=-2)
    got = spectral.istft(z, ref.shape[-1], n_fft, hop)
    assert np.array_equal(got, ref.astype(np.float32))


def test_masks_share_the_mixture_exactly():
    a, b = tone(440), tone(3000)
    mix = a + b
    for outputs in (masks.ideal_ratio_mask(mix, [a, b]), masks.wiener(mix, [0.1 * a, 2 * b])):
        assert np.allclose(np.sum(outputs, axis=0), mix, atol=1e-4)
    irm = masks.ideal_ratio_mask(mix, [a, b])
    assert metrics.si_sdr(a, irm[0]) > 20 and metrics.si_sdr(b, irm[1]) > 20


# --- latents and clustering -----------------------------------------------------------------


def test_frame_labels_follow_the_loudest_part():
    hop, frames = 128, 20
    a = np.zeros((1, hop * frames), np.float32)
    b = np.zeros_like(a)
    a[:, : hop * 8] = 1.0
    b[:, hop * 8 : hop * 16] = 0.5
    labels, shares = latent_space.frame_labels({"a": a, "b": b}, hop, frames)
    assert list(labels[:8]) == ["a"] * 8 and list(labels[8:16]) == ["b"] * 8
    assert list(labels[16:]) == [latent_space.SILENCE] * 4
    assert np.allclose(shares[:, :16].sum(axis=0), 1.0)


def test_encode_decode_shapes(model: Autoencoder):
    x = tone(440, 1.0)
    z = latents.encode(model, x, chunk_seconds=0.3)
    assert z.shape == (P.model.dimension, -(-x.shape[1] // model.hop_length))
    assert latents.decode(model, z, x.shape[1], chunk_seconds=0.3).shape == x.shape
    whole = latents.encode(model, x)
    assert whole.shape == z.shape


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1, 2], 60)
    centres = rng.normal(size=(3, 6)) * 10
    return centres[truth] + rng.normal(size=(truth.size, 6)), truth


@pytest.mark.parametrize("method", clustering.METHODS)
def test_clustering_is_deterministic_and_finds_blobs(method: str):
    from sklearn.metrics import adjusted_rand_score

    x, truth = blobs()
    a = clustering.cluster(x, method, 3, seed=1)
    assert np.array_equal(a, clustering.cluster(x, method, 3, seed=1))
    assert adjusted_rand_score(truth, a) > 0.95


@pytest.mark.parametrize("criterion", ["silhouette", "eigengap"])
def test_choose_k_counts_blobs(criterion: str):
    x, _ = blobs()
    assert clustering.choose_k(x, (2, 3, 4), criterion) == 3


def test_bad_method_names():
    with pytest.raises(ValueError, match="unknown clustering method"):
        clustering.cluster(np.zeros((5, 2)), "kmedoids", 2)
    with pytest.raises(ValueError, match="unknown separation method"):
        separation.separate(tone(440), None, "magic", rate=RATE)


# --- separate -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["kmeans", "spectral+wiener"])
def test_separate_returns_sources_like_the_input(model: Autoencoder, method: str):
    x = tone(440) + tone(2000)
    sep = separation.separate(x, model, method, n_sources=3)
    assert sep.n_sources == 3 and sep.rate == RATE
    assert all(s.shape == x.shape and np.isfinite(s).all() for s in sep.sources)
    assert sep.labels.shape == (-(-x.shape[1] // model.hop_length),)
    again = separation.separate(x, model, method, n_sources=3)
    assert all(np.array_equal(a, b) for a, b in zip(sep.sources, again.sources, strict=True))
    if method.endswith("+wiener"):
        assert np.allclose(np.sum(sep.sources, axis=0), x, atol=1e-4)


def test_separate_estimates_the_count_and_resamples(model: Autoencoder):
    x = np.repeat(tone(440, rate=22050) + tone(2000, rate=22050), 2, axis=0)  # stereo 22 kHz
    sep = separation.separate(x, model, "kmeans", rate=22050)
    # the count is the silhouette's choice on these very latents, one source per cluster
    from latentsep.audio import prepare

    z = latents.encode(model, prepare([x], 22050, model.cfg)[0])
    chosen = clustering.choose_k(clustering.features(z), (2, 3, 4), "silhouette", 0)
    assert sep.n_sources == chosen == len(np.unique(sep.labels)) and sep.rate == RATE
    assert sep.sources[0].shape == (1, 2 * RATE)


def test_nmf_separates_two_timbres():
    # a tone, then band-limited noise, overlapping in the middle second, equally loud
    from scipy.signal import butter, sosfilt

    a = tone(330)
    a[:, int(1.2 * RATE) :] = 0
    noise = np.random.default_rng(0).normal(size=a.shape[1])
    b = sosfilt(butter(4, [3000, 5000], btype="band", fs=RATE, output="sos"), noise)[None]
    b[:, : int(0.8 * RATE)] = 0
    b = (b * np.sqrt(np.mean(a**2) / np.mean(b**2))).astype(np.float32)
    sources, labels = nmf.separate(a + b, 2, n_components=8)
    rows = metrics.separation_scores({"a": a, "b": b}, sources, a + b, RATE, bss=False)
    assert all(r["SI-SDRi (dB)"] > 6 for r in rows), rows
    assert set(labels) == {0, 1}


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros((1, RATE), np.float32), "silent"),
        (np.full((1, RATE), np.nan, np.float32), "NaN"),
        (tone(440, 0.01), "too short"),
        (np.zeros((RATE, 1), np.float32) + 0.1, "transpose"),
    ],
)
def test_separate_rejects_bad_audio(model: Autoencoder, audio: np.ndarray, message: str):
    with pytest.raises(AudioError, match=message):
        separation.separate(audio, model, "kmeans", name="clip.wav")


def test_separate_needs_a_model_or_a_rate():
    with pytest.raises(ValueError, match="needs a trained autoencoder"):
        separation.separate(tone(440), None, "kmeans")
    with pytest.raises(ValueError, match="sample rate"):
        separation.separate(tone(440), None, "nmf")


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(model: Autoencoder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    return save_checkpoint(path, model, None, 0, History(), P)


def test_cli_separates_a_file(checkpoint: Path, tmp_path: Path, capsys, monkeypatch):
    kept = []
    monkeypatch.setattr(device, "keep_freed_memory", lambda: kept.append(True) or True)
    song = tmp_path / "song.wav"
    sf.write(song, (tone(440) + tone(2000))[0], RATE)
    out = tmp_path / "sources"
    code = cli.main(
        [
            "separate",
            str(song),
            "--out",
            str(out),
            "--model",
            str(checkpoint),
            "--method",
            "kmeans+wiener",
            "--n-sources",
            "2",
        ]
    )
    assert code == 0
    files = sorted(out.glob("source_*.wav"))
    assert [f.name for f in files] == ["source_1.wav", "source_2.wav"]
    audio = [sf.read(f) for f in files]
    assert all(rate == RATE and len(x) == 2 * RATE for x, rate in audio)
    assert "2 sources" in capsys.readouterr().out
    assert kept == [True]  # the allocator asked to reuse memory, once, before separating


def test_freed_memory_is_kept_where_glibc_allocates():
    assert device.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_cli_reports_bad_files(checkpoint: Path, tmp_path: Path, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(RATE, np.float32), RATE)
    args = ["--out", str(tmp_path / "o"), "--model", str(checkpoint)]
    assert cli.main(["separate", str(silent), *args]) == 2
    assert "silent.wav" in capsys.readouterr().err
    assert cli.main(["separate", str(tmp_path / "nope.wav"), *args]) == 2
    assert "no such file" in capsys.readouterr().err


def test_nmf_latent_groups_components_and_keeps_the_mixture(model: Autoencoder):
    x = tone(440) + tone(2000)
    sep = separation.separate(x, model, "nmf+latent", n_sources=2)
    assert sep.n_sources == 2 and len(sep.labels) == nmf.N_COMPONENTS
    assert np.allclose(np.sum(sep.sources, axis=0), x, atol=1e-4)


def test_components_one_at_a_time_are_one_group_each_and_add_up_to_the_mixture():
    x = np.concatenate([tone(440) + tone(2000), 0.5 * tone(660)])  # stereo
    w, h = nmf.decompose(x, 6, seed=0)
    each = list(nmf.iter_component_sources(x, w, h))
    one_each = nmf.grouped_sources(x, w, h, np.arange(w.shape[1]), w.shape[1])
    for a, b in zip(one_each, each, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.sum(each, axis=0), x, atol=1e-4)


def test_a_component_alike_to_two_groups_is_hedged_between_them():
    """`nmf+streams`' hedge (nmf.hedged): a component as alike to another group as to its
    own is shared between them, a clear member stays where it is, one alike to nothing
    keeps its label, and every row of weights sums to one."""
    a = np.full((6, 6), 0.01)
    a[:2, :2] = a[2:4, 2:4] = 1.0
    a[4, :4] = a[:4, 4] = 0.5  # alike to both groups, labelled with the first
    a[5, :] = a[:, 5] = 0.0  # alike to nothing
    np.fill_diagonal(a, 1.0)
    labels = np.array([0, 0, 1, 1, 0, 1])
    weights = nmf.hedged(a, labels, share=0.5, power=4)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert weights[0, 0] > 0.95 and weights[2, 1] > 0.95
    np.testing.assert_allclose(weights[4], [0.75, 0.25])  # as alike to both: the share split
    np.testing.assert_allclose(weights[5], [0.0, 1.0])
    np.testing.assert_allclose(nmf.hedged(a, labels, share=0.0), np.eye(2)[labels])

    x = np.concatenate([tone(440) + tone(2000), 0.5 * tone(660)])  # stereo
    w, h = nmf.decompose(x, 6, seed=0)
    hard = nmf.grouped_sources(x, w, h, labels, 2)
    for a_, b in zip(nmf.grouped_sources(x, w, h, np.eye(2)[labels], 2), hard, strict=True):
        np.testing.assert_allclose(a_, b, atol=1e-6)  # one-hot weights are the labels
    np.testing.assert_allclose(np.sum(nmf.grouped_sources(x, w, h, weights, 2), 0), x, atol=1e-4)


def test_a_decomposition_starts_from_nndsvd_or_a_seeded_random_start_and_fits_as_long_as_asked():
    """`nmf.decompose`'s ``start`` (a random start's seed; None: NNDSVD) and ``fit`` (its
    update budget): a seed repeats itself and differs from another start, and more updates
    do not fit worse (KL divergence of the model to the magnitudes)."""
    from scipy.special import kl_div

    x = tone(330) + 0.5 * tone(523) + 0.3 * tone(880)
    v = nmf.magnitudes(x, 2048)

    def divergence(wh):
        return float(kl_div(v, wh[0] @ wh[1] + 1e-12).sum())

    nndsvd, seeded = nmf.decompose(x, 4, n_fft=2048), nmf.decompose(x, 4, n_fft=2048, start=3)
    np.testing.assert_array_equal(seeded[0], nmf.decompose(x, 4, n_fft=2048, start=3)[0])
    assert not np.allclose(seeded[0], nndsvd[0]) and not np.allclose(
        seeded[0], nmf.decompose(x, 4, n_fft=2048, start=4)[0]
    )
    short = nmf.decompose(x, 4, n_fft=2048, start=3, fit={"max_iter": 20, "tol": 0.0})
    assert divergence(seeded) < divergence(short)
    # a member's third entry is its random start
    found, _ = nmf.groupings(
        x,
        2,
        members=((2048, 4), (2048, 4, 3)),
        hedge=0.5,
        affinity=(lambda mixture, w, h, n_fft: nmf.stream_affinity(w, h, RATE, n_fft=n_fft)),
    )
    np.testing.assert_array_equal(found[0].w, nndsvd[0])
    np.testing.assert_array_equal(found[1].w, seeded[0])


def test_the_kl_updates_are_scikit_learns_fit_to_the_bit():
    """`nmf.kl_nmf` and `nmf.activations` make scikit-learn's KL multiplicative updates
    faster, not different: the same templates and activations, to the bit, from a random or
    an NNDSVDA start, stopping early or running out of updates, on a strided view (a long
    input's evenly spaced frames) and on its transpose (the activations' orientation)."""
    import warnings

    from sklearn.decomposition import NMF, non_negative_factorization
    from sklearn.exceptions import ConvergenceWarning

    from latentsep.separation.nmf import core

    noise = np.random.default_rng(1).standard_normal((1, 2 * RATE)).astype(np.float32)
    x = tone(330) + 0.5 * tone(523) + 0.3 * tone(880) + 0.01 * noise
    v = nmf.magnitudes(x, 2048)[:, ::2]
    assert not v.flags.contiguous
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for init, seed, updates, tol in (("random", 3, 300, 1e-4), ("nndsvda", 0, 25, 1e-4)):
            model = NMF(
                6,
                init=init,
                random_state=seed,
                beta_loss="kullback-leibler",
                solver="mu",
                max_iter=updates,
                tol=tol,
            )
            w = model.fit_transform(v)
            ours = core.kl_nmf(v, 6, seed, init=init, max_iter=updates, tol=tol)
            np.testing.assert_array_equal(ours[0], w)
            np.testing.assert_array_equal(ours[1], model.components_)
        h, _, _ = non_negative_factorization(
            v.T,
            H=w.T,
            n_components=6,
            init="custom",
            update_H=False,
            beta_loss="kullback-leibler",
            solver="mu",
            max_iter=200,
            tol=1e-3,
        )
    np.testing.assert_array_equal(core.activations(v, w), h.T)


def test_an_ensemble_of_decompositions_agrees_on_count_and_order_and_averages():
    """`nmf+streams`' ensemble (TUNING.streams.members): every decomposition is grouped into
    the first one's count, its sources are put in the first one's order, the output is their average
    (still adding up to the mixture), and a fit for long inputs keeps that order."""
    from scipy.signal import butter, sosfilt

    from latentsep.separation.blocks import similarity

    a = tone(330)
    a[:, int(1.2 * RATE) :] = 0
    noise = np.random.default_rng(0).normal(size=a.shape[1])
    b = sosfilt(butter(4, [3000, 5000], btype="band", fs=RATE, output="sos"), noise)[None]
    b[:, : int(0.8 * RATE)] = 0
    x = a + (b * np.sqrt(np.mean(a**2) / np.mean(b**2))).astype(np.float32)

    def affinity(mixture, w, h, n_fft):
        return nmf.stream_affinity(w, h, RATE, n_fft=n_fft)

    options = dict(members=((2048, 8), (4096, 8), (1024, 6)), affinity=affinity, hedge=0.5)
    found, heard = nmf.groupings(x, None, ks=(2,), **options)
    assert [g.n_fft for g in found] == [2048, 4096, 1024] and found[1].w.shape == (2049, 8)
    assert all(len(s) == 2 and g.labels.shape[1] == 2 for g, s in zip(found, heard, strict=True))
    for sources in heard[1:]:
        sim = similarity(heard[0], sources)
        assert np.trace(sim) >= sim[0, 1] + sim[1, 0]  # in the first member's order
        np.testing.assert_allclose(np.sum(sources, axis=0), x, atol=1e-4)
    mean, labels = nmf.separate(x, 2, **options)
    np.testing.assert_allclose(mean, np.mean(heard, axis=0), atol=1e-6)
    np.testing.assert_allclose(np.sum(mean, axis=0), x, atol=1e-4)
    assert labels.shape == (8,) and set(labels) == {0, 1}
    blocks = nmf.fit(x, 2, **options)(x)
    assert np.trace(similarity(mean, blocks)) > 1.5  # activations refitted, same order
    np.testing.assert_allclose(np.sum(blocks, axis=0), x, atol=1e-5)  # the last: the rest

    # a reordered grouping gives the same sources in the new order, labels or weights
    w, h = nmf.decompose(x, 6, seed=0)
    labels = np.array([0, 1, 2, 0, 1, 2])
    for weights in (labels, np.eye(3)[labels] * 0.6 + 0.4 / 3):
        grouping = nmf.Grouping(w, weights)
        before = grouping.sources(x, h)
        after = grouping.reordered(np.array([2, 0, 1])).sources(x, h)
        for i, j in enumerate([2, 0, 1]):
            np.testing.assert_allclose(after[i], before[j], atol=1e-6)

    # masks of a power: kept by the reordering, given by groupings to every member
    sharp = nmf.Grouping(w, labels, power=2.0)
    assert sharp.reordered(np.array([2, 0, 1])).power == 2.0
    parts = [w[:, labels == g] @ h[labels == g] for g in range(3)]
    expected = masks.apply_masks(x, masks.ratio_masks(parts, power=2.0))
    np.testing.assert_allclose(sharp.sources(x, h), expected, atol=1e-6)
    assert not np.allclose(sharp.sources(x, h), nmf.Grouping(w, labels).sources(x, h), atol=1e-3)
    found, heard = nmf.groupings(x, 2, power=1.5, **options)
    assert all(g.power == 1.5 for g in found)
    assert not np.allclose(heard[0], nmf.groupings(x, 2, **options)[1][0], atol=1e-3)
    sharper = nmf.separate(x, 2, power=1.5, **options)[0]
    np.testing.assert_allclose(np.sum(sharper, axis=0), x, atol=1e-4)


def test_members_in_threads_give_what_they_give_in_turn(monkeypatch):
    """nmf+streams' members run at once on the cores (parallel.thread_map) and a long input's
    blocks sum their masks per STFT before one inverse transform: the same sources, in the
    same order, as one member after another and the mean of their sources."""
    from latentsep import parallel

    rng = np.random.default_rng(1)
    x = (tone(220, 3.0) + tone(587, 3.0) * (rng.random(3 * RATE) > 0.5)).astype(np.float32)

    def affinity(mixture, w, h, n_fft):
        return nmf.stream_affinity(w, h, RATE, n_fft=n_fft)

    options = dict(members=((2048, 6, 1), (2048, 6, 2), (1024, 6, 1)), affinity=affinity, hedge=0.5)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    at_once, _ = nmf.groupings(x, 2, **options)
    blocks = nmf.fit(x, 2, **options)(x)
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    in_turn, heard = nmf.groupings(x, 2, **options)
    for a, b in zip(at_once, in_turn, strict=True):
        np.testing.assert_allclose(a.w, b.w, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(a.labels, b.labels, atol=1e-6)
    one_by_one = np.mean([[g.sources(x) for g in in_turn]], axis=(0, 1))
    np.testing.assert_allclose(blocks, one_by_one, atol=1e-5)
    assert [*parallel.thread_map(lambda i: i * i, range(5))] == [0, 1, 4, 9, 16]


def test_separations_take_denormal_floats_as_zero(monkeypatch):
    """NMF's templates of empty bands shrink through denormal floats, tens of times slower
    to compute: a separation runs with them flushed to zero, in its threads too."""
    import torch

    from latentsep import parallel

    tiny = np.array([1e-39], np.float32)  # below float32's smallest normal
    product = lambda _=None: float((tiny * np.float32(1.5))[0])  # noqa: E731
    assert product() != 0.0
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode")
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    with parallel.flushing_denormals():
        assert product() == 0.0
        assert parallel.thread_map(product, range(3)) == [0.0, 0.0, 0.0]
    assert product() != 0.0 and parallel.thread_map(product, range(2)) != [0.0, 0.0]
    seen = []

    def run(x, n, **_):
        seen.append(product())
        return [x], None

    import dataclasses

    monkeypatch.setitem(
        separation.METHODS, "nmf", dataclasses.replace(separation.METHODS["nmf"], run=run)
    )
    separation.separate(tone(440), None, "nmf", None, rate=RATE)
    assert seen == [0.0] and product() != 0.0


def test_a_kept_transform_is_computed_once_and_cannot_be_changed():
    x = tone(440)
    with spectral.reusing_transforms():
        first = spectral.stft(x, 1024, 256)
        assert spectral.stft(x, 1024, 256) is first and spectral.stft(x, 512, 128) is not first
        assert spectral.stft(x.copy(), 1024, 256) is not first  # other memory: its own
        with pytest.raises(ValueError):
            first *= 2
    outside = spectral.stft(x, 1024, 256)
    assert outside is not first and outside.flags.writeable
    np.testing.assert_array_equal(outside, first)


def test_loudest_seconds_keeps_order_and_length():
    rate = 100
    x = np.zeros((1, 10 * rate), np.float32)
    for second, level in [(2, 1.0), (7, 3.0), (5, 2.0)]:
        x[:, second * rate : (second + 1) * rate] = level
    out = nmf.loudest_seconds(x, rate, seconds=2)
    assert out.shape == (1, 2 * rate)
    assert np.all(out[:, :rate] == 2.0) and np.all(out[:, rate:] == 3.0)  # in time order
    assert nmf.loudest_seconds(x[:, : 2 * rate], rate, seconds=4).shape == (1, 2 * rate)


def test_audio_player_of_silence_is_playable():
    import warnings

    from latentsep.book import plots

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero on a silent clip
        html = plots.audio_player(np.zeros((1, RATE), np.float32), RATE, "rest").data
    assert "<audio" in html and "rest" in html


def test_stream_constraints_link_a_melody_and_part_what_sounds_together():
    """`nmf+streams`' soft links: notes that follow each other closely in pitch are linked
    (succession), components that always sound together are kept apart (overlap)."""
    t = 40
    h = np.zeros((3, t))
    h[0, :10] = 1.0  # a note ...
    h[1, 10:20] = 1.0  # ... followed by the next one, a tone higher
    h[2, :20] = 1.0  # a drone under both
    f0 = np.log2([220.0, 247.0, 110.0])
    o = nmf.overlap(h)
    assert np.allclose(np.diag(o), 1.0) and o[0, 1] == pytest.approx(0.0)
    assert o[0, 2] == pytest.approx(1.0)  # the first note sounds only within the drone
    s = nmf.succession(h, f0)
    assert s[0, 1] == pytest.approx(1.0) and s[1, 0] == pytest.approx(1.0)
    assert s[0, 2] == 0.0 and s[1, 2] == 0.0  # an octave and more away: no link
    far = nmf.succession(h, np.log2([220.0, 880.0, 110.0]))
    assert far[0, 1] == 0.0  # two octaves apart: not one line


def test_a_player_keeps_its_place_in_the_chords_whatever_the_register():
    """Two voices that cross nothing but share a register: the upper voice's notes are the
    top of every chord they sound in (place 1), the lower's the bottom (0), though the
    upper voice's lowest note is below the lower voice's highest; a note heard alone is in
    no chord (0.5), and notes less than a semitone apart are not a chord."""
    t = 60
    h = np.zeros((5, t))
    h[0, :30], h[1, :30] = 1.0, 1.0  # upper voice at 300 Hz over lower at 250 Hz
    h[2, 30:50], h[3, 30:50] = 1.0, 1.0  # then upper at 240 Hz over lower at 200 Hz
    h[4, 50:] = 1.0  # one note alone
    w = np.ones((4, 5))
    f0 = np.log2([300.0, 250.0, 240.0, 200.0, 260.0])
    assert np.allclose(nmf.chord_ranks(w, h, f0), [1.0, 0.0, 1.0, 0.0, 0.5])
    active, chord = nmf.chords(h, 12 * f0)
    assert chord[:50].all() and not chord[50:].any() and active[4, 50:].all()
    unison = np.log2([300.0, 305.0, 240.0, 200.0, 260.0])  # a third of a semitone apart
    assert not nmf.chords(h, 12 * unison)[1][:30].any()


def test_stereo_positions_are_read_from_the_channels_and_mean_nothing_in_mono():
    """`nmf+streams`' pan cue: each component's angle follows the constant-power pan law
    of the tone it holds; in mono every component sits in the middle and the affinity is 1."""
    pans = {330.0: -0.5, 1250.0: 0.4}
    x = np.zeros((2, 2 * RATE), np.float32)
    spans = [slice(0, 24000), slice(8000, None)]  # overlapping for half the time
    for (freq, pan), sounding in zip(pans.items(), spans, strict=True):
        theta = (pan + 1) * np.pi / 4
        part = tone(freq) * np.array([[np.cos(theta)], [np.sin(theta)]], np.float32)
        x[:, sounding] += part[:, sounding]
    w, h = nmf.decompose(x, 2)
    found = nmf.channel_angles(x, w, h)
    peaks = spectral.frequencies(spectral.N_FFT, RATE)[np.argmax(w, axis=0)]
    for freq, pan in pans.items():
        angle = found[np.argmin(np.abs(peaks - freq))]
        assert angle == pytest.approx((pan + 1) * np.pi / 4, abs=0.02)
    assert nmf.pan_affinity(found)[0, 1] < 0.1  # 0.7 rad apart: not one instrument
    mono = x.mean(axis=0, keepdims=True)
    w, h = nmf.decompose(mono, 2)
    assert np.allclose(nmf.channel_angles(mono, w, h), np.pi / 4)
    assert np.allclose(nmf.channel_angles(np.repeat(mono, 2, axis=0), w, h), np.pi / 4)
    assert np.all(nmf.pan_affinity(nmf.channel_angles(mono, w, h)) == 1.0)


def test_timbre_is_heard_only_between_notes_close_in_pitch():
    """`nmf+streams`' pitch-local timbre: near notes keep their timbre affinity, far ones get
    the median one whatever their timbres (far notes of one instrument differ as much)."""
    timbre = np.array(
        [
            [1.0, 0.9, 0.1, 0.9],
            [0.9, 1.0, 0.1, 0.1],
            [0.1, 0.1, 1.0, 0.5],
            [0.9, 0.1, 0.5, 1.0],
        ]
    )
    f0 = np.log2([110.0, 110.0, 1760.0, 1760.0])  # two notes, two more four octaves up
    found = nmf.pitch_local(timbre, f0, span=6.0)
    median = np.exp(np.median(np.log(timbre)))
    assert found[0, 1] == pytest.approx(0.9) and found[2, 3] == pytest.approx(0.5)
    assert found[0, 2] == pytest.approx(median) and found[0, 3] == pytest.approx(median)
    assert found[1, 3] == pytest.approx(found[0, 3])  # unlike or alike: far says nothing
    assert np.allclose(found, found.T)


def test_fits_are_reused_inside_the_block_with_identical_results(monkeypatch):
    from latentsep.separation import nmf

    made = []
    real = nmf.core.kl_nmf

    def counted(*args, **kwargs):
        made.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(nmf.core, "kl_nmf", counted)
    x = np.abs(np.random.default_rng(0).standard_normal((1, 8000))).astype(np.float32)
    alone = nmf.decompose(x, 6, n_fft=512)
    with nmf.reusing_fits():
        first = nmf.decompose(x, 6, n_fft=512)
        first[0][:] = 0  # a caller's change in place does not reach the kept fit
        again = nmf.decompose(x, n_components=6, n_fft=512)  # the same call, spelled otherwise
        other = nmf.decompose(x, 6, seed=1, n_fft=512)
        louder = nmf.decompose(2 * x, 6, n_fft=512)
    after = nmf.decompose(x, 6, n_fft=512)
    assert len(made) == 5  # alone, first, other, louder, after: `again` was reused
    for a, b in zip(alone, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(other[0], alone[0]) and not np.array_equal(louder[1], alone[1])
    np.testing.assert_array_equal(after[1], alone[1])
