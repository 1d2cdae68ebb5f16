"""Separation learned from rendered stems (issue 23): the two-headed network, its training
(the loss falls, a run resumes exactly), the three methods it gives, other soundfonts, and
the counting floors (shipped artifacts: ``test_shipped.py``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from latentsep import pipeline, separation
from latentsep.data import synth
from latentsep.models import stemnet, stemnet_training
from latentsep.pipeline import artifacts, networks
from latentsep.presets import OTHER_CLASSES, get_preset
from latentsep.separation import learned, nmf
from latentsep.tuning import TUNING

SMOKE = get_preset("smoke")


def tone(seconds: float, rate: int, base: float, odd: bool, seed: int) -> np.ndarray:
    """A harmonic instrument whose notes change every 0.25 s (odd harmonics: reed-like)."""
    rng = np.random.default_rng(seed)
    n, step = int(seconds * rate), rate // 4
    f = np.repeat(base * 2 ** (rng.integers(0, 12, size=n // step + 1) / 12), step)[:n]
    phase = 2 * np.pi * np.cumsum(f) / rate
    ks = range(1, 10, 2) if odd else range(1, 10)
    return (sum(0.05 / k * np.sin(k * phase) for k in ks))[None].astype(np.float32)


def parts(
    n_tracks: int = 4, seconds: float = 3.0, rate: int = 16000
) -> list[stemnet_training.Part]:
    """Two classes with different timbres, in every track."""
    return [
        stemnet_training.Part(cls, tone(seconds, rate, 110 * (1 + cls), cls == 0, 10 * t + cls), t)
        for t in range(n_tracks)
        for cls in (0, 1)
    ]


def test_the_class_outputs_add_up_to_the_input():
    net = stemnet.StemNet(SMOKE.stemnet).eval()
    x = torch.randn(2, 8000) * 0.1
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, len(OTHER_CLASSES), 8000)
    assert torch.allclose(y.sum(1), x, atol=1e-5)


def test_deep_clustering_loss_is_zero_for_one_hot_embeddings_of_the_truth():
    torch.manual_seed(0)
    mags = torch.rand(2, 3, 5, 7)
    spec = mags.sum(1).to(torch.complex64)
    labels = torch.nn.functional.one_hot(mags.argmax(1), 3).permute(0, 3, 1, 2).float()
    perfect = torch.cat([labels, torch.zeros(2, 1, 5, 7)], dim=1)  # a 4-d embedding
    assert stemnet_training.dc_loss(perfect, spec, mags).item() == pytest.approx(0.0, abs=1e-6)
    wrong = torch.nn.functional.normalize(torch.ones(2, 4, 5, 7), dim=1)  # all bins alike
    assert stemnet_training.dc_loss(wrong, spec, mags).item() > 0.1


def test_a_batch_adds_up_and_holds_only_the_classes_it_plays():
    cfg = SMOKE.stemnet
    mix, refs = stemnet_training.batch(
        parts(), 8000, cfg, np.random.default_rng(0), len(OTHER_CLASSES)
    )
    assert mix.shape == (cfg.batch_size, 8000) and refs.shape == (cfg.batch_size, 9, 8000)
    assert np.allclose(refs.sum(1), mix, atol=1e-6)
    assert not np.any(refs[:, 2:])  # only classes 0 and 1 exist in these parts


@pytest.mark.parametrize("semitones", [-3, 2])
def test_transposed_parts_sound_that_many_semitones_away(semitones: int):
    rate, n = 16000, 16000
    x = np.sin(2 * np.pi * 440 * np.arange(3 * rate) / rate)[None].astype(np.float32)
    y = stemnet_training._excerpt(x, n, semitones, np.random.default_rng(0))
    peak = np.fft.rfftfreq(n, 1 / rate)[np.argmax(np.abs(np.fft.rfft(y)))]
    assert y.shape == (n,) and abs(peak - 440 * 2 ** (semitones / 12)) < 4  # 1 Hz bins
    # 0 semitones: an ordinary crop, and no random draws beyond it (old runs keep their mixes)
    cfg = SMOKE.stemnet
    a = stemnet_training.batch(parts(), 8000, cfg, np.random.default_rng(1), len(OTHER_CLASSES))
    rng = np.random.default_rng(1)
    start = rng.integers(0, 3 * rate - n + 1)
    assert np.array_equal(
        stemnet_training._excerpt(x, n, 0, np.random.default_rng(1)), x[0, start : start + n]
    )
    shifted = dataclasses.replace(cfg, transpose=2)
    b = stemnet_training.batch(parts(), 8000, shifted, np.random.default_rng(1), len(OTHER_CLASSES))
    assert np.allclose(b[1].sum(1), b[0], atol=1e-6) and not np.allclose(a[0], b[0])


def test_a_played_part_wavers_around_its_pitch_and_keeps_its_length():
    """``play``: the same length and a comparable level, its pitch within the detuning and
    vibrato (±65 cents) but moving (the sample's one pitch is gone), repeatable for a seed;
    a batch with ``playing`` holds its parts' sum and differs from one without."""
    rate = 16000
    t = np.arange(2 * rate) / rate
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    y = stemnet_training.play(x, rate, np.random.default_rng(3))
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.array_equal(y, stemnet_training.play(x, rate, np.random.default_rng(3)))
    assert 0.25 < np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x**2)) < 4
    peaks = []
    for k in range(0, 2 * rate - 4000, 2000):  # 0.25-s frames, 4 Hz bins
        frame = y[k : k + 4000] * np.hanning(4000)
        peaks.append(np.fft.rfftfreq(4000, 1 / rate)[np.argmax(np.abs(np.fft.rfft(frame)))])
    assert all(abs(1200 * np.log2(p / 440)) < 65 + 16 for p in peaks)  # + a bin's width
    mean_cents = []  # each seed's detuning, from the zero crossings over the whole part
    for seed in range(12):
        z = stemnet_training.play(x, rate, np.random.default_rng(seed))
        crossings = np.count_nonzero(np.diff(np.signbit(z[rate // 10 :])))
        mean_cents.append(1200 * np.log2(crossings / 2 / (t[-1] - 0.1) / 440))
    assert max(mean_cents) > 8 and min(mean_cents) < -8  # sharp and flat, not only flat
    cfg = dataclasses.replace(SMOKE.stemnet, playing=1.0)
    a = stemnet_training.batch(parts(), 8000, SMOKE.stemnet, np.random.default_rng(1), 9)
    b = stemnet_training.batch(parts(), 8000, cfg, np.random.default_rng(1), 9)
    assert np.allclose(b[1].sum(1), b[0], atol=1e-6) and not np.allclose(a[0], b[0])


def test_training_lowers_the_loss():
    cfg = get_preset("smoke", {"stemnet.width": 32, "stemnet.batch_size": 4}).stemnet
    torch.manual_seed(0)
    net = stemnet.StemNet(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    mix, refs = (
        torch.from_numpy(a)
        for a in stemnet_training.batch(
            parts(), 16000, cfg, np.random.default_rng(0), len(OTHER_CLASSES)
        )
    )
    first = None
    for _ in range(40):
        loss = stemnet_training.losses(net, mix, refs)["loss"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first, (first, loss.item())


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(stemnet_training, "CHECKPOINT_EVERY", 2)
    cfg = SMOKE.stemnet
    whole, _ = stemnet_training.train(cfg, parts(), tmp_path / "whole", progress=False)
    stemnet_training.train(cfg, parts(), tmp_path / "cut", progress=False, max_steps=4)
    assert (tmp_path / "cut" / "last.pt").is_file() and not (
        tmp_path / "cut" / "stemnet.pt"
    ).exists()
    resumed, history = stemnet_training.train(cfg, parts(), tmp_path / "cut", progress=False)
    assert history[-1]["step"] == cfg.steps and not (tmp_path / "cut" / "last.pt").exists()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    loaded, payload = stemnet.load(tmp_path / "whole" / "stemnet.pt")
    assert payload["classes"] == list(OTHER_CLASSES)
    x = torch.randn(1, 8000) * 0.1
    with torch.no_grad():  # the shipped file is half precision: close, not identical
        assert torch.allclose(loaded(x), whole.eval()(x), atol=1e-3)


def test_a_refined_run_goes_on_from_the_trained_weights_with_the_rate_restarted(
    tmp_path, monkeypatch
):
    """``stemnet.refine``: the network of ``steps`` trained on (its history continued), the
    rate back at ``refine_lr`` and decayed again; resumable like any run; and the artifact
    keyed by the network it started from (while ``refine=0`` keeps the shipped keys)."""
    monkeypatch.setattr(stemnet_training, "CHECKPOINT_EVERY", 2)
    base = SMOKE.stemnet
    cfg = dataclasses.replace(base, refine=4, refine_lr=2e-4)
    first, history = stemnet_training.train(base, parts(), tmp_path / "first", progress=False)
    with pytest.raises(ValueError, match="refine"):
        stemnet_training.train(cfg, parts(), tmp_path / "none", progress=False)
    args = dict(progress=False, refine_from=(first, history))
    whole, longer = stemnet_training.train(cfg, parts(), tmp_path / "whole", **args)
    assert [h["step"] for h in longer] == [h["step"] for h in history] + [base.steps + 4]
    assert longer[: len(history)] == history and longer[-1]["seconds"] > history[-1]["seconds"]
    assert not all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), whole.state_dict().values(), strict=True)
    )
    rates = [stemnet_training.learning_rate(cfg, s) for s in range(cfg.steps + cfg.refine)]
    assert rates[0] == base.lr and rates[cfg.steps] == pytest.approx(2e-4)
    first_cycle, second = rates[: cfg.steps], rates[cfg.steps :]
    assert all(np.diff(first_cycle) < 0) and all(np.diff(second) < 0)
    assert second[0] > first_cycle[-1]  # restarted
    stemnet_training.train(cfg, parts(), tmp_path / "cut", max_steps=base.steps + 2, **args)
    resumed, _ = stemnet_training.train(cfg, parts(), tmp_path / "cut", **args)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    refined = dataclasses.replace(SMOKE, stemnet=cfg)
    art, parent = pipeline.stemnet_artifact(refined), pipeline.stemnet_artifact(SMOKE)
    assert art.params["from"] == parent.key and parent in art.inputs and art.key != parent.key
    assert "refine" not in parent.params["stemnet"]


def test_the_pipeline_makes_a_refined_network_after_the_one_it_starts_from(data_root):
    """From nothing, a refined preset's network is made in two artifacts: the one of
    ``stemnet.steps`` first, then the refined one, whose history goes on from it."""
    refined = get_preset("smoke", {"stemnet.refine": 2})
    parent = pipeline.refined_from(refined)
    assert parent is not None and pipeline.refined_from(SMOKE) is None
    _, history, folder = pipeline.stemnet_model(refined, progress=False)
    assert folder == pipeline.stemnet_artifact(refined).path
    _, first, _ = pipeline.stemnet_model(parent, progress=False)  # made already, loaded
    assert history[: len(first)] == first
    assert history[-1]["step"] == SMOKE.stemnet.steps + 2


#: A counting model for the tests' separators: a loud output that leaks from no louder one
#: plays.
COUNTER = learned.CountModel(
    {"level": 0.5, "share": 0.0, "louder alike": -5.0, "most alike": 0.0}, {"": 5.0}
)


@pytest.mark.parametrize(
    "method",
    [
        "classmask",
        "deepclustering",
        "supervisednmf",
        "notenmf",
        "notenmf+classmask",
        "nmf+classes",
        "nmf+classmask",
    ],
)
def test_the_stem_learned_methods_share_the_mixture(method: str):
    rate = 22050
    x = tone(2.0, rate, 220, True, 0) + tone(2.0, rate, 330, False, 1)
    x = np.concatenate([x, 0.5 * x])  # stereo
    if method in ("supervisednmf", "nmf+classes"):
        net = nmf.learn_dictionaries([(p.cls, p.audio) for p in parts()], OTHER_CLASSES, 4)
    elif method in ("notenmf", "notenmf+classmask"):  # each part a note, on the notes' grid
        w = np.stack([nmf.note_template(p.audio) for p in parts()], axis=1)
        notes = nmf.ClassDictionaries(w, np.array([p.cls for p in parts()]), OTHER_CLASSES)
        net = learned.NotesAndMasks(notes)
        if method == "notenmf+classmask":
            masks = stemnet.StemNet(SMOKE.stemnet).eval()
            with pytest.raises(ValueError, match="counts the instruments with its counting model"):
                separation.separate(
                    x, None, method, None, rate=rate, separator=learned.NotesAndMasks(notes, masks)
                )
            net = learned.NotesAndMasks(notes, masks, COUNTER)
        else:  # the dictionaries alone are not what the method runs: one clear error
            with pytest.raises(ValueError, match=r"separator=NotesAndMasks\(notes\)"):
                separation.separate(x, None, method, 2, rate=rate, separator=notes)
    else:
        net = stemnet.StemNet(SMOKE.stemnet).eval()
    spec = separation.get_method(method)
    assert spec.learned
    assert spec.network in ("stemnet", "nmfdict", "notedict", "notedict+stemnet")
    two = separation.separate(x, None, method, 2, rate=rate, separator=net)
    assert len(two.sources) == 2 and two.sources[0].shape == x.shape
    assert np.allclose(sum(two.sources), x, atol=1e-4)
    counted = separation.separate(x, None, method, None, rate=rate, separator=net)
    assert 2 <= counted.n_sources <= 4


def test_supervised_nmf_puts_each_instrument_in_its_class():
    """Dictionaries learned on two timbres: a mixture of new notes of both is shared by
    class, each class output far closer to its own instrument than the mixture is."""
    from latentsep.evaluation.metrics import si_sdr

    dicts = nmf.learn_dictionaries([(p.cls, p.audio) for p in parts(6)], OTHER_CLASSES, 8)
    a, b = tone(3.0, 16000, 110, True, 99), tone(3.0, 16000, 220, False, 98)
    out = nmf.class_parts(a + b, dicts)
    assert out.shape == (9, 1, a.shape[1])
    assert si_sdr(a, out[0]) > si_sdr(a, a + b) + 3 and si_sdr(b, out[1]) > si_sdr(b, a + b) + 3


def piano_and_reed() -> tuple[np.ndarray, np.ndarray]:
    """Four piano notes and four reed notes, 3 s mono at the dictionaries' rate (TimGM6mb),
    equally loud."""

    def played(cls: str, keys: list[int], start: float) -> np.ndarray:
        events = [synth.Event(start + 0.5 * i, k, 90) for i, k in enumerate(keys)]
        events += [synth.Event(start + 0.5 * i + 0.45, k, 0) for i, k in enumerate(keys)]
        program = synth.GM_CLASSES[cls][0][0]
        x = synth.render(events, 3 * nmf.DICT_RATE, nmf.DICT_RATE, program)[:1]
        return x / np.sqrt(np.mean(x**2)) * 0.05

    return played("piano", [48, 52, 55, 60], 0.0), played("reed", [67, 69, 71, 72], 0.2)


def test_note_dictionaries_hold_every_note_and_share_a_mixture_of_two_by_class(data_root):
    """The soundfont's own notes as atoms: one per note of every program of each class, each
    summing to one; a piano chord and a reed line played by that soundfont are shared by
    class, each class output far closer to its own instrument than the mixture is."""
    from latentsep.evaluation.metrics import si_sdr

    dicts, _, folder = pipeline.note_dictionaries(SMOKE, progress=False)
    notes = sum(
        len(programs) * (high - low + 1 + 2 * pipeline.NOTE_MARGIN)
        for programs, (low, high) in (synth.GM_CLASSES[c] for c in OTHER_CLASSES)
    )
    freqs, atoms = dicts.templates.shape  # the smoke preset: one soundfont
    assert freqs == nmf.NOTE_N_FFT // 2 + 1 and 0.99 * notes <= atoms <= notes  # few unplayed
    assert np.allclose(dicts.templates.sum(axis=0), 1.0, atol=1e-4)
    assert set(dicts.owner) == set(range(len(OTHER_CLASSES)))
    with np.load(folder / "dictionaries.npz") as stored:  # half the size, read as float32
        assert stored["templates"].dtype == np.float16 and dicts.templates.dtype == np.float32

    piano, reed = piano_and_reed()
    out = nmf.class_parts(piano + reed, dicts, notes=True)
    ip, ir = OTHER_CLASSES.index("piano"), OTHER_CLASSES.index("reed")
    assert np.allclose(out.sum(axis=0), piano + reed, atol=1e-4)
    for ref, est in ((piano, out[ip]), (reed, out[ir])):
        assert si_sdr(ref, est) > si_sdr(ref, piano + reed) + 6  # here +9 and +11 dB


@pytest.mark.parametrize("method", ["notenmf", "notenmf+classmask"])
def test_notenmf_fits_a_long_input_once_with_the_notes_its_sample_plays(
    data_root, monkeypatch, method: str
):
    """Fitted on a sample of a long input, ``notenmf`` separates every block with the few
    atoms that sample plays, the same classes in the same outputs: each block's sources are
    the same for the same audio, one per instrument (with the class masks of an untrained
    network too)."""
    from latentsep.evaluation.metrics import si_sdr

    dicts, _, _ = pipeline.note_dictionaries(SMOKE, progress=False)
    separator = learned.NotesAndMasks(dicts)
    if method == "notenmf+classmask":
        separator = learned.NotesAndMasks(dicts, stemnet.StemNet(SMOKE.stemnet).eval())
    piano, reed = piano_and_reed()
    x = piano + reed
    sizes = []
    models = nmf.class_models
    monkeypatch.setattr(
        nmf,
        "class_models",
        lambda m, d, notes=False: sizes.append(d.templates.shape[1]) or models(m, d, notes),
    )
    run = separation.get_method(method).fit(x, 2, rate=nmf.DICT_RATE, separator=separator)
    first, again = run(x), run(x)
    assert max(sizes) < dicts.templates.shape[1] / 5  # the blocks' dictionary: what plays
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    np.testing.assert_allclose(sum(first), x, atol=1e-4)
    gains = [max(si_sdr(ref, s) for s in first) - si_sdr(ref, x) for ref in (piano, reed)]
    assert min(gains) > 6, gains


def test_class_masks_weigh_notenmf_s_classes(data_root, monkeypatch):
    """``notenmf+classmask``: masks that favour no class leave ``notenmf``'s outputs as they
    are; masks that give every bin to the piano move the mixture towards its output (a
    weighting on the wrong grid, of the wrong class or not applied would fail one of them).
    Networks of other classes are refused."""
    dicts, _, _ = pipeline.note_dictionaries(SMOKE, progress=False)
    piano, reed = piano_and_reed()
    x, rate = piano + reed, nmf.DICT_RATE
    net = stemnet.StemNet(SMOKE.stemnet).eval()
    real = learned.class_masks
    ip = OTHER_CLASSES.index("piano")

    def masks_that(give):
        def masks(net_, y, rate_):
            m, mag = real(net_, y, rate_)
            return give(m), mag

        return masks

    alone, _ = learned.note_parts(learned.NotesAndMasks(dicts), x, rate)
    both = learned.NotesAndMasks(dicts, net)
    monkeypatch.setattr(learned.notes, "class_masks", masks_that(lambda m: np.full_like(m, 0.3)))
    np.testing.assert_allclose(learned.note_parts(both, x, rate)[0], alone, atol=1e-5)
    to_piano = masks_that(lambda m: np.eye(len(m), dtype=m.dtype)[ip][:, None, None] + 0 * m)
    monkeypatch.setattr(learned.notes, "class_masks", to_piano)
    weighed, _ = learned.note_parts(both, x, rate)
    share = lambda outs: np.sum(outs[ip] ** 2) / np.sum(outs**2)  # noqa: E731
    assert share(weighed) > share(alone) + 0.05, (share(weighed), share(alone))
    np.testing.assert_allclose(weighed.sum(axis=0), x, atol=1e-4)
    other = stemnet.StemNet(SMOKE.stemnet, classes=OTHER_CLASSES[::-1])
    with pytest.raises(ValueError, match="classes"):
        learned.NotesAndMasks(dicts, other)
    with pytest.raises(ValueError, match="needs the note dictionaries with the stem network"):
        separation.separate(x, None, "notenmf+classmask", 2, rate=rate, separator=dicts)


def test_class_masks_are_read_at_the_note_grid_s_frequencies_and_times():
    """A network on another STFT grid (the smoke preset's 512-point frames): each note-grid
    bin reads the mask at its own frequency and time, to within half a network bin."""
    from latentsep import spectral

    net = stemnet.StemNet(SMOKE.stemnet)
    cfg = net.cfg
    freqs = spectral.frequencies(cfg.n_fft, cfg.sample_rate)
    times = np.arange(20 * nmf.NOTE_HOP // cfg.hop + 1) * cfg.hop / cfg.sample_rate  # 20 notes'
    masks = np.stack([freqs[:, None] + 1e4 * times[None], times[None] + 0 * freqs[:, None]])
    shape = (nmf.NOTE_N_FFT // 2 + 1, 20)
    on = learned.notes._on_grid(net, masks, shape)
    assert on.shape == (2, *shape)
    want_f = spectral.frequencies(nmf.NOTE_N_FFT, nmf.DICT_RATE)
    want_t = np.arange(20) * nmf.NOTE_HOP / nmf.DICT_RATE
    assert np.abs(on[1] - want_t[None]).max() <= cfg.hop / cfg.sample_rate / 2
    got_f = on[0] - 1e4 * on[1]
    assert np.abs(got_f - want_f[:, None]).max() <= cfg.sample_rate / cfg.n_fft / 2 + 1e-6


def test_notenmf_without_its_soundfonts_is_left_out_with_the_reason(data_root, monkeypatch):
    """No soundfont to render the notes with, nothing made or shipped: the chapters leave
    ``notenmf`` out and say why, rather than fail mid-book."""
    monkeypatch.setattr(synth, "soundfont_available", lambda name: False)
    monkeypatch.setattr(artifacts, "shipped_manifest", dict)
    monkeypatch.setattr(networks, "NOTE_VELOCITY", 81)  # a key no test has made
    assert "TimGM6mb, not installed" in pipeline.missing(SMOKE, "notenmf")
    assert pipeline.missing(SMOKE, "supervisednmf") is None


def test_note_activations_keep_the_atoms_that_play_where_they_play():
    """Five of 200 sparse atoms play, one of them only in the second half: the atoms that
    stay silent are dropped, the fit is exact where the notes hold, and the late note is
    silent in the first half (a wrong pruning or spreading would lose or smear notes)."""
    rng = np.random.default_rng(0)
    w = (rng.random((256, 200)) > 0.97).astype(np.float32) + 1e-4  # ~8 partials an atom
    w /= w.sum(axis=0)
    frames = 8 * nmf.POOL
    h = np.zeros((200, frames), np.float32)
    playing = rng.choice(200, 5, replace=False)
    h[playing] = rng.random((5, 1)) + 0.1
    h[playing[0], : frames // 2] = 0.0
    v = w @ h
    fit = nmf.note_activations(v, w)
    assert set(np.flatnonzero(fit.sum(axis=1) > 0)) == set(playing)
    steady = slice(nmf.POOL, frames // 2 - nmf.POOL)  # away from the late note's onset
    assert np.linalg.norm(w @ fit[:, steady] - v[:, steady]) / np.linalg.norm(v[:, steady]) < 1e-2
    assert fit[playing[0], : frames // 2 - nmf.POOL].max() < 1e-3 * fit[playing[0]].max()


def test_a_long_input_is_fitted_chunk_by_chunk():
    """The pooled frames are fitted ``nmf.CHUNK`` at a time, each chunk's atoms pruned on
    their own: a fit of two chunks is the two chunks' fits side by side, and the atoms that
    play only in one chunk are silent in the other (a fit of the whole would leave them a
    trace everywhere, and cost every note the input plays in every frame)."""
    rng = np.random.default_rng(1)
    w = (rng.random((128, 60)) > 0.95).astype(np.float32) + 1e-4
    w /= w.sum(axis=0)
    n, c = nmf.CHUNK * nmf.POOL, nmf.CHUNK
    h = np.zeros((60, 2 * n), np.float32)
    h[:5, :n] = rng.random((5, 1)) + 0.1
    h[5:10, n:] = rng.random((5, 1)) + 0.1
    v = w @ h

    def dense(v):
        keep, fit = nmf.pooled_fit(v, w)
        out = np.zeros((60, fit.shape[1]), np.float32)
        out[keep] = fit
        return out

    whole = dense(v)
    np.testing.assert_allclose(whole[:, :c], dense(v[:, :n]), rtol=1e-5)
    np.testing.assert_allclose(whole[:, c:], dense(v[:, n:]), rtol=1e-5)
    assert whole[:10].sum() > 0.99 * whole.sum()  # the notes that play
    assert not whole[:5, c:].any() and not whole[5:10, :c].any()
    rest = dense(np.concatenate([v, np.zeros((128, n), np.float32)], axis=1))  # a silent chunk
    assert np.array_equal(rest[:, : 2 * c], whole) and not rest[:, 2 * c :].any()


def test_the_fit_tells_apart_notes_that_only_fine_bins_do():
    """The first updates, on bins summed ``nmf.COARSE_BINS`` at a time, cannot tell two atoms
    whose partials fall in the same summed bins; the rest, on every bin, must: the atom that
    plays keeps the activation and the other is dropped."""
    f = 32 * nmf.COARSE_BINS
    w = np.full((f, 3), 1e-4, np.float32)
    w[[40, 80], 0] = w[[41, 81], 1] = w[[12, 100], 2] = 1.0  # 0 and 1 share their summed bins
    w /= w.sum(axis=0)
    assert np.array_equal(nmf.notes._coarse(w)[:, 0], nmf.notes._coarse(w)[:, 1])
    np.testing.assert_allclose(nmf.notes._coarse(w).sum(axis=0), 1.0, rtol=1e-5)
    v = w @ np.array([[2.0], [0.0], [1.0]], np.float32) @ np.ones((1, 4 * nmf.POOL), np.float32)
    keep, h = nmf.pooled_fit(v, w)
    assert list(keep) == [0, 2]
    np.testing.assert_allclose(h.sum(axis=1) / h.sum(), [2 / 3, 1 / 3], rtol=1e-3)
    # an atom silent in some frames fades to the smallest normal float there, never to a
    # subnormal one (many times slower to compute with on some CPUs)
    w = np.zeros((f, 2), np.float32)
    w[[40, 80], 0] = w[[12, 100], 1] = 1.0
    w[12, 0] = 0.01  # the silent atom explains a little of the other: it fades, not drops
    w /= w.sum(axis=0)
    frames = np.ones((1, 4 * nmf.POOL), np.float32)
    frames[:, 2 * nmf.POOL :] = 0
    keep, h = nmf.pooled_fit(w[:, [0]] @ frames + w[:, [1]] @ (1 - frames), w)
    assert list(keep) == [0, 1] and h[0, -1] < 1e-30 * h[0, 0]
    assert np.all(h >= np.finfo(np.float32).tiny)


def test_a_silent_sample_keeps_every_note():
    """A long input whose sample is silent (its sound falls between the sample's pieces):
    the blocks start from every note, not from none."""
    w = np.stack([nmf.note_template(p.audio) for p in parts(2)], axis=1)
    dicts = nmf.ClassDictionaries(w, np.array([p.cls for p in parts(2)]), OTHER_CLASSES)
    assert nmf.played(dicts, np.zeros((1, nmf.DICT_RATE), np.float32)) is dicts
    assert nmf.played(dicts, parts(2)[0].audio).templates.shape[1] < w.shape[1]


def test_dictionaries_of_another_stft_grid_are_refused():
    """Class dictionaries (1,024-point) given as note dictionaries (4,096): a clear error,
    not a broadcasting failure half-way."""
    dicts = nmf.learn_dictionaries([(p.cls, p.audio) for p in parts(2)], OTHER_CLASSES, 2)
    want = f"{nmf.DICT_N_FFT // 2 + 1} frequencies on a {nmf.NOTE_N_FFT}-point"
    with pytest.raises(ValueError, match=want):
        nmf.class_parts(parts(1)[0].audio, dicts, notes=True)


def test_class_shares_name_the_class_whose_dictionary_explains_a_template():
    """A mixture's own NMF templates of two timbres: each is explained mostly by the
    dictionary of its own class (what `nmf+classes` groups by)."""
    dicts = nmf.learn_dictionaries([(p.cls, p.audio) for p in parts(6)], OTHER_CLASSES, 8)
    rate = 22050
    for cls, base, odd in ((0, 110, True), (1, 220, False)):
        x = tone(3.0, rate, base, odd, 50 + cls)
        w, _ = nmf.decompose(x, 2)
        shares = nmf.class_shares(w, rate, dicts)
        assert shares.shape == (2, len(OTHER_CLASSES))
        loud = int(np.argmax(w.sum(axis=0)))  # the component that carries the notes
        assert np.argmax(shares[loud]) == cls


def test_another_soundfont_renders_the_same_tracks_with_other_samples(data_root):
    if not synth.soundfont_available(pipeline.UNSEEN_SOUNDFONT):
        pytest.skip(f"{pipeline.UNSEEN_SOUNDFONT} is not installed (scripts/setup.sh adds it)")
    base = pipeline.tracks(SMOKE.data, "test")
    other = pipeline.rendered_tracks(SMOKE.data, pipeline.UNSEEN_SOUNDFONT, "test", progress=False)
    assert [t.name for t in other] == [t.name for t in base]
    for t, u in zip(base, other, strict=True):
        assert sorted(t.other_parts) == sorted(u.other_parts)
        assert not np.allclose(t.stems["other"], u.stems["other"])
    keys = {
        pipeline.dataset_artifact(SMOKE.data).key,
        pipeline.rendering_artifact(SMOKE.data, pipeline.UNSEEN_SOUNDFONT, "test").key,
    }
    assert len(keys) == 2


def test_validation_pieces_are_train_pieces_nothing_learned_from(data_root):
    held = SMOKE.stemnet.holdout
    trained = pipeline.tracks(pipeline.stemnet_data(SMOKE), "train")  # the network's pieces
    found = pipeline.validation_tracks(SMOKE, synth.DEFAULT_SOUNDFONT, pieces=2, progress=False)
    assert [t.name for t in found[:held]] == [t.name for t in trained[:held]]  # the held-out
    later = pipeline.tracks(pipeline.validation_data(SMOKE, 2), "train")
    assert [t.name for t in found[held:]] == [t.name for t in later[len(trained) :]]
    assert len(found) == held + 2
    learned_from = {t.name.split("_", 1)[1] for t in trained[held:]}
    assert not learned_from & {t.name.split("_", 1)[1] for t in found}  # other pieces
    for t, u in zip(found[held:], later[len(trained) :], strict=True):  # rendered alike
        assert np.array_equal(t.stems["other"], u.stems["other"])


def test_a_missing_soundfont_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(synth, "SOUNDFONT_DIRS", (str(tmp_path),))
    monkeypatch.delenv("LATENTSEP_SOUNDFONTS", raising=False)
    with pytest.raises(synth.SoundfontError, match="apt-get install fluid-soundfont-gm"):
        synth.soundfont_path("FluidR3_GM")


def test_learned_class_outputs_are_grouped_to_the_count_asked():
    rng = np.random.default_rng(0)
    outs = rng.standard_normal((9, 1, 4000)).astype(np.float32) * 1e-3  # silent classes
    outs[[1, 4, 6]] *= 1000  # three sounding instruments
    sources, _ = learned.group(outs, None, TUNING.floors.stem_class, ks=(2, 3, 4))
    assert len(sources) == 3
    assert np.allclose(sum(sources), outs.sum(0), atol=1e-5)


def test_named_class_outputs_make_the_loudest_classes_the_sources():
    """With the count given, the loudest class outputs are the sources (named outputs are
    instruments), each quieter one joining one of them; the sources still add up."""
    rng = np.random.default_rng(1)
    outs = rng.standard_normal((9, 1, 4000)).astype(np.float32)
    outs *= np.array([1, 8, 2, 1, 6, 1, 4, 1, 1], np.float32)[:, None, None]
    sources, labels = learned.group(outs, 3, TUNING.floors.stem_class, named=True)
    assert [labels[c] for c in (1, 4, 6)] == [0, 1, 2]  # the three loudest, in order
    assert len(sources) == 3 and set(labels) == {0, 1, 2}
    assert np.allclose(sum(sources), outs.sum(0), atol=1e-4)


def test_masks_only_training_skips_the_embedding_head_and_leaves_deepclustering_out(tmp_path):
    """A preset that trains without the deep-clustering head (the cpu preset): its loss has
    no ``dc`` term, and ``deepclustering`` is refused before any training, with the reason."""
    import dataclasses

    cfg = dataclasses.replace(SMOKE.stemnet, dc_weight=0.0, steps=2)
    _, history = stemnet_training.train(cfg, parts(), tmp_path, progress=False)
    assert "dc" not in history[-1] and history[-1]["loss"] == history[-1]["mask"]
    preset = dataclasses.replace(SMOKE, stemnet=cfg)
    reason = pipeline.missing(preset, "deepclustering")
    assert reason and "dc_weight" in reason
    assert pipeline.missing(preset, "classmask") is None
    assert pipeline.missing(SMOKE, "deepclustering") is None
    assert "deepclustering" not in pipeline.blind_methods(preset)
    assert "deepclustering" in pipeline.blind_methods(SMOKE)
    assert not pipeline.ready(preset, "deepclustering")
    with pytest.raises(ValueError, match="dc_weight"):
        pipeline.network(preset, "deepclustering", progress=False)
    with pytest.raises(ValueError, match="dc_weight"):
        x = tone(1.0, 16000, 220, True, 0)
        separation.separate(
            x, None, "deepclustering", 2, rate=16000, separator=stemnet.StemNet(cfg).eval()
        )


def test_network_shares_are_each_components_log_share_of_the_class_outputs():
    """`nmf+classmask`'s second feature: each component's energy split over the class
    outputs (which add up to the component), as log shares."""
    net = stemnet.StemNet(SMOKE.stemnet).eval()
    comps = [tone(1.0, 16000, 110 * (i + 1), i == 0, i) for i in range(3)]
    shares = learned.network_shares(net, comps, 16000)
    assert shares.shape == (3, len(OTHER_CLASSES))
    np.testing.assert_allclose(np.exp(shares).sum(axis=1), 1 + len(OTHER_CLASSES) * 1e-3, rtol=1e-4)


def test_context_shares_read_each_component_where_it_sounds_in_the_class_masks(monkeypatch):
    """`nmf+classmask`'s third feature: the class masks of the whole mixture, read where each
    component's template and activation put it (frequencies and frames mapped from the
    package's STFT grid to the network's)."""
    net = stemnet.StemNet(SMOKE.stemnet).eval()
    cfg, rate, seconds = net.cfg, 22050, 2.0
    x = tone(seconds, rate, 220, False, 0)
    real, mag = learned.class_masks(net, x, rate)
    n_classes, n_bins, n_frames = real.shape
    fake = np.zeros_like(real)
    bin_hz = cfg.sample_rate / cfg.n_fft
    low = np.arange(n_bins) * bin_hz < 1000
    early = np.arange(n_frames) * cfg.hop / cfg.sample_rate < seconds / 2
    fake[0][np.ix_(low, early)] = 1  # class 0: low notes early; 1: high early; 2: all late
    fake[1][np.ix_(~low, early)] = 1
    fake[2][:, ~early] = 1
    monkeypatch.setattr(learned.stems, "class_masks", lambda net, x, rate: (fake, mag))
    freqs = np.fft.rfftfreq(2048, 1 / rate)
    frames = np.arange(int(seconds * rate / 512) + 1) * 512 / rate
    w = np.stack([(freqs < 800) * 1.0, ((freqs > 1500) & (freqs < 7000)) * 1.0], axis=1)
    first, last = (frames < seconds / 2 - 0.1) * 1.0, (frames > seconds / 2 + 0.1) * 1.0
    h = np.stack([first, first, last, last])  # two early components, two late
    w = np.concatenate([w, w], axis=1)
    shares = np.exp(learned.context_shares(net, x, w, h, rate)) - 1e-3
    assert shares.shape == (4, n_classes)
    np.testing.assert_allclose(
        shares[:, :3], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], atol=0.05
    )


def test_counting_is_the_class_outputs_within_the_floor(monkeypatch):
    """Every class-output method counts the outputs within its floor of the loudest, kept in
    ``ks``; `nmf+classmask` counts its network's class outputs for the whole mixture (not
    its affinity's eigengap: two tones, yet three classes sound — the untrained network
    alone would give four)."""
    energy = np.array([1.0, 0.1, 0.05, 0.01, 0.0])  # 0, −10, −13, −20 dB, silent
    assert learned.count_sounding(energy, -12.0) == 2
    assert learned.count_sounding(energy, -15.0) == 3
    assert learned.count_sounding(energy, -25.0) == 4  # five would sound: at most max(ks)
    assert learned.count_sounding(energy[:1], -12.0) == 2  # at least min(ks)
    three = np.array([1.0, 0.5, 0.3] + [0.0] * (len(OTHER_CLASSES) - 3))
    monkeypatch.setattr(learned.components, "class_energies", lambda net, x, rate: three)
    net = stemnet.StemNet(SMOKE.stemnet).eval()
    x = tone(1.0, 16000, 220, True, 0) + tone(1.0, 16000, 330, False, 1)
    got = separation.separate(x, None, "nmf+classmask", None, rate=16000, separator=net)
    assert got.n_sources == 3
