"""The trained networks (and dictionaries) of the learned methods: each declared as an
artifact, trained or restored, and named once in :data:`NETWORKS`, the one table from a
method's ``network`` to its artifact, its loader and what it needs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep import parallel
from latentsep.audio import prepare
from latentsep.data import synth
from latentsep.device import pick_device
from latentsep.evaluation import scoring
from latentsep.models import mixit, pairnet, stemnet, stemnet_training
from latentsep.models.masknet import MaskNetwork
from latentsep.paths import atomic_write
from latentsep.pipeline.artifacts import Artifact
from latentsep.pipeline.datasets import (
    VALIDATION_PIECES,
    dataset_artifact,
    rendered_tracks,
    rendering_artifact,
    stemnet_data,
    tracks,
    validation_artifact,
    validation_tracks,
)
from latentsep.presets import OTHER_CLASSES, DataConfig, Preset
from latentsep.separation import get_method, learned, nmf
from latentsep.tuning import TUNING


def mask_network_artifact(preset: Preset, mode: str) -> Artifact:
    """The mask network trained by ``mode`` ("mixit": on mixtures of the train split's
    "other" stems; "pit": on their instruments) on the preset's dataset."""
    ds = dataset_artifact(preset.data)
    params = {
        "separator": dataclasses.asdict(preset.separator),
        "mode": mode,
        "dataset": ds.key,
        "version": mixit.TRAINING_VERSION,
    }
    return Artifact(f"separator ({mode})", "separators", params, (ds,))


def mask_network(
    preset: Preset, mode: str = "mixit", progress: bool = True
) -> tuple[MaskNetwork, list[dict], Path]:
    """The trained mask network, its history (loss every 50 steps) and folder: trained on
    the embedded train split the first time, reused afterwards."""
    art = mask_network_artifact(preset, mode)
    path = art.path / "separator.pt"
    if not path.is_file() and not art.restore():
        cfg = preset.separator
        fmt = dataclasses.replace(preset.model, sample_rate=cfg.sample_rate, channels=1)
        train_tracks = tracks(preset.data, "train")
        rate = train_tracks[0].rate
        stems = prepare([t.stems["other"] for t in train_tracks], rate, fmt)
        parts = None
        if mode == "pit":
            parts = [prepare(list(t.other_parts.values()), rate, fmt) for t in train_tracks]
        t0 = time.perf_counter()
        mixit.train(cfg, stems, art.path, mode, parts, progress=progress)
        art.made(time.perf_counter() - t0)
    model, payload = mixit.load(path, pick_device())
    return model, payload["history"], art.path


def stemnet_artifact(preset: Preset) -> Artifact:
    """The network learned from rendered stems (``classmask`` and ``deepclustering``): its
    configuration, the instrument classes, the training code's version and every rendering
    of the train split it learns from."""
    renders = tuple(
        rendering_artifact(stemnet_data(preset), sf, "train") for sf in preset.stemnet.soundfonts
    )
    net = dataclasses.asdict(preset.stemnet)
    # fields added after networks were shipped: at their defaults, those keep their keys
    for added in ("train_pieces", "transpose", "refine", "playing"):
        if not net[added]:
            del net[added]
    params = {
        "stemnet": net,
        "classes": list(OTHER_CLASSES),
        "renders": [a.key for a in renders],
        "version": stemnet.TRAINING_VERSION,
    }
    if (parent := refined_from(preset)) is None:
        del net["refine_lr"]
        return Artifact("stem-trained network", "separators", params, renders)
    start = stemnet_artifact(parent)
    params["from"] = start.key
    return Artifact("stem-trained network", "separators", params, (*renders, start))


def refined_from(preset: Preset) -> Preset | None:
    """With ``stemnet.refine``, the preset whose network (``stemnet.steps`` long) the
    refined one goes on from; else None."""
    if not preset.stemnet.refine:
        return None
    return dataclasses.replace(preset, stemnet=dataclasses.replace(preset.stemnet, refine=0))


def stemnet_parts(
    preset: Preset, progress: bool = True, data: DataConfig | None = None
) -> list[stemnet_training.Part]:
    """Every sounding instrument part of the train split (``data``; default: the network's,
    :func:`stemnet_data`) but the held-out pieces, in each of the preset's soundfonts, mono
    at the network's rate."""
    cfg = preset.stemnet
    fmt = dataclasses.replace(preset.model, sample_rate=cfg.sample_rate, channels=1)
    data = data or stemnet_data(preset)
    parts, index = [], 0
    for soundfont in cfg.soundfonts:
        for t in rendered_tracks(data, soundfont, "train", progress=progress)[cfg.holdout :]:
            audio = prepare(list(t.other_parts.values()), t.rate, fmt)
            for name, x in zip(t.other_parts, audio, strict=True):
                if (
                    np.max(np.abs(x)) > 1e-4
                ):  # a part that rests through the excerpt teaches nothing
                    parts.append(stemnet_training.Part(OTHER_CLASSES.index(name), x, index))
            index += 1
    return parts


def stemnet_validation(preset: Preset):
    """The held-out train pieces (``stemnet.holdout``), as the first soundfont renders them,
    as a score of a network: the median SI-SDR improvement of each part by its class's
    output (what the network learned, on pieces it never trained on)."""
    from latentsep.evaluation.metrics import si_sdr

    cfg = preset.stemnet
    fmt = dataclasses.replace(preset.model, sample_rate=cfg.sample_rate, channels=1)
    held = []
    for t in rendered_tracks(preset.data, cfg.soundfonts[0], "train")[: cfg.holdout]:
        audio = prepare(list(t.other_parts.values()), t.rate, fmt)
        parts = {OTHER_CLASSES.index(n): x[0] for n, x in zip(t.other_parts, audio, strict=True)}
        mixture = np.sum(list(parts.values()), axis=0).astype(np.float32)
        held.append((mixture, {c: x for c, x in parts.items() if np.max(np.abs(x)) > 1e-4}))

    def score(net: stemnet.StemNet) -> float:
        dev = next(net.parameters()).device
        gains = []
        for mixture, parts in held:
            outs = net(torch.from_numpy(mixture[None]).to(dev))[0].float().cpu().numpy()
            gains += [si_sdr(x, outs[c]) - si_sdr(x, mixture) for c, x in parts.items()]
        return float(np.median(gains)) if gains else float("nan")

    return score


def stemnet_model(
    preset: Preset, progress: bool = True
) -> tuple[stemnet.StemNet, list[dict], Path]:
    """The network learned from the rendered stems, its history (losses every 50 steps) and
    folder: trained the first time (resuming an interrupted run), reused afterwards."""
    art = stemnet_artifact(preset)
    path = art.path / "stemnet.pt"
    if not path.is_file() and not art.restore():
        parent = refined_from(preset)  # the network it goes on from, made first if need be
        refine_from = stemnet_model(parent, progress)[:2] if parent else None
        t0 = time.perf_counter()
        stemnet_training.train(
            preset.stemnet,
            stemnet_parts(preset, progress),
            art.path,
            progress=progress,
            valid=stemnet_validation(preset),
            refine_from=refine_from,
        )
        art.made(time.perf_counter() - t0)
    net, payload = stemnet.load(path, pick_device())
    return net, payload["history"], art.path


#: Supervised NMF's templates per instrument class (``supervisednmf``).
DICTIONARY_ATOMS = 48


DICTIONARY_VERSION = 1


def dictionaries_artifact(preset: Preset) -> Artifact:
    """Supervised NMF's class dictionaries, learned from the parts of the dataset's own
    train split (not the network's ``stemnet.train_pieces``: on the 13 held-out pieces,
    dictionaries from 600 pieces gave ``supervisednmf`` +1.70 / +1.75 dB in the two training
    soundfonts against +2.00 / +2.55 from the 130)."""
    renders = tuple(
        rendering_artifact(preset.data, sf, "train") for sf in preset.stemnet.soundfonts
    )
    params = {
        "atoms": DICTIONARY_ATOMS,
        "stft": [nmf.DICT_RATE, nmf.DICT_N_FFT, nmf.DICT_HOP],
        "classes": list(OTHER_CLASSES),
        "renders": [a.key for a in renders],
        "holdout": preset.stemnet.holdout,  # the held-out train pieces are not learned from
        "version": DICTIONARY_VERSION,
    }
    return Artifact("class dictionaries", "separators", params, renders)


def dictionaries(
    preset: Preset, progress: bool = True
) -> tuple[nmf.ClassDictionaries, list[dict], Path]:
    """Supervised NMF's class dictionaries (learned the first time), no history, folder."""

    def learn() -> nmf.ClassDictionaries:
        fmt = dataclasses.replace(preset.model, sample_rate=nmf.DICT_RATE, channels=1)
        parts = [
            (p.cls, prepare([p.audio], preset.stemnet.sample_rate, fmt)[0])
            for p in stemnet_parts(preset, progress, data=preset.data)
        ]
        return nmf.learn_dictionaries(parts, OTHER_CLASSES, DICTIONARY_ATOMS, preset.stemnet.seed)

    return _class_dictionaries(dictionaries_artifact(preset), learn)


#: ``notenmf``'s notes: each rendered at this velocity, held this long (seconds), over each
#: class's range (:data:`~latentsep.data.synth.GM_CLASSES`) widened by this many semitones.
NOTE_VELOCITY, NOTE_SECONDS, NOTE_MARGIN = 80, 1.0, 6


#: 2: stored in half precision (:func:`_class_dictionaries`)
NOTE_DICTIONARY_VERSION = 2


def note_dictionaries_artifact(preset: Preset) -> Artifact:
    """``notenmf``'s note dictionaries: one template for every note of every GM program of
    each instrument class, as each of the training soundfonts (``stemnet.soundfonts``)
    plays it alone. Nothing is learned: the renderer's own notes are the atoms."""
    params = {
        "soundfonts": list(preset.stemnet.soundfonts),
        "classes": {c: synth.GM_CLASSES[c] for c in OTHER_CLASSES},
        "notes": [NOTE_VELOCITY, NOTE_SECONDS, NOTE_MARGIN],
        "stft": [nmf.DICT_RATE, nmf.NOTE_N_FFT, nmf.NOTE_HOP, nmf.NOTE_FLOOR_DB],
        "version": NOTE_DICTIONARY_VERSION,
    }
    return Artifact("note dictionaries", "separators", params)


def note_dictionaries(
    preset: Preset, progress: bool = True
) -> tuple[nmf.ClassDictionaries, list[dict], Path]:
    """``notenmf``'s note dictionaries (rendered the first time: ~10 s), no history, folder."""

    def render_notes() -> nmf.ClassDictionaries:
        templates, owner = [], []
        for sf in preset.stemnet.soundfonts:
            for c, name in enumerate(OTHER_CLASSES):
                programs, (low, high) = synth.GM_CLASSES[name]
                for program in programs:
                    for key in range(low - NOTE_MARGIN, high + NOTE_MARGIN + 1):
                        events = [
                            synth.Event(0.0, key, NOTE_VELOCITY),
                            synth.Event(NOTE_SECONDS, key, 0),
                        ]
                        n = int((NOTE_SECONDS + 0.3) * nmf.DICT_RATE)  # and its release
                        x = synth.render(events, n, nmf.DICT_RATE, program, soundfont=sf)
                        if np.any(x):  # a soundfont without this note: no atom
                            templates.append(nmf.note_template(x))
                            owner.append(c)
        w = np.stack(templates, axis=1).astype(np.float32)
        return nmf.ClassDictionaries(w, np.array(owner), OTHER_CLASSES)

    return _class_dictionaries(note_dictionaries_artifact(preset), render_notes, half=True)


def _class_dictionaries(
    art: Artifact, make: Callable[[], nmf.ClassDictionaries], half: bool = False
) -> tuple[nmf.ClassDictionaries, list[dict], Path]:
    """Dictionaries of ``art``: cached, restored from ``shipped/`` or made (and saved) now;
    with no history, and their folder. ``half``: the templates are stored in half precision,
    each scaled to its peak (4,096-point notes: 17 MB shipped, not 36; each template moves
    by at most 2·10⁻⁴ of its sum), and summed to one again when read — made or restored,
    every machine separates with the same numbers."""
    path = art.path / "dictionaries.npz"
    if not path.is_file() and not art.restore():
        t0 = time.perf_counter()
        d = make()
        w = (d.templates / d.templates.max(axis=0)).astype(np.float16) if half else d.templates
        arrays = {"templates": w, "owner": d.owner, "classes": np.array(d.classes)}
        atomic_write(path, lambda tmp: np.savez_compressed(open(tmp, "wb"), **arrays))
        art.made(time.perf_counter() - t0)
    with np.load(path) as z:
        w, owner, classes = z["templates"], z["owner"], tuple(str(c) for c in z["classes"])
    if w.dtype == np.float16:
        w = w.astype(np.float32)
        w /= w.sum(axis=0)
    return nmf.ClassDictionaries(w, owner, classes), [], art.path


def _unrendered(art: Artifact, file: str, preset: Preset, method: str, what: str) -> str | None:
    """Why ``method`` cannot run: ``art`` (its ``file``) is neither made nor shipped, and
    making it renders ``what`` with a training soundfont not installed here (None: it can)."""
    absent = [sf for sf in preset.stemnet.soundfonts if not synth.soundfont_available(sf)]
    if absent and not art.usable_shipped() and not (art.path / file).is_file():
        return f"{method} renders {what} with {', '.join(absent)}, not installed here"
    return None


def _notes_missing(preset: Preset, method: str) -> str | None:
    """The note dictionaries are rendered unless made or shipped: with the soundfonts."""
    art = note_dictionaries_artifact(preset)
    return _unrendered(art, "dictionaries.npz", preset, method, "its notes")


#: The train pieces (at most; the first ones) whose played components teach the pair
#: network, in every soundfont the stem network learns from, and the decompositions of each
#: it learns from (one of each STFT size).
PAIR_PIECES = 130
PAIR_MEMBERS = ((2048, 24, 1), (4096, 24, 1))


def pair_data(preset: Preset, pieces: int) -> DataConfig:
    """The renders whose first ``pieces`` train pieces teach the pair network: the
    dataset's own, or the stem network's (:func:`stemnet_data`: the same first pieces, and
    more) where the dataset has fewer."""
    return preset.data if pieces <= preset.data.n_train else stemnet_data(preset)


def pair_network_artifact(preset: Preset, pieces: int | None = None) -> Artifact:
    """``nmf+pairs``' pair network: learned from the components of the embedded dataset's
    first train pieces (``pieces``, default :data:`PAIR_PIECES`: the shipped network's) in
    each training soundfont, their parts played (:func:`stemnet_training.play`)."""
    pieces = pieces or PAIR_PIECES
    data = pair_data(preset, pieces)
    renders = tuple(rendering_artifact(data, sf, "train") for sf in preset.stemnet.soundfonts)
    params = {
        "renders": [r.key for r in renders],
        "pieces": min(pieces, data.n_train),
        "members": [list(m) for m in PAIR_MEMBERS],
        "fit": dict(TUNING.streams.fit),
        "features": list(learned.PAIR_FEATURES),
        "config": dataclasses.asdict(pairnet.PairNetConfig()),
        "version": pairnet.TRAINING_VERSION,
    }
    return Artifact("pair network", "separators", params, renders)


#: Each soundfont's pieces are played with their own seeds: piece ``i`` of the ``s``-th
#: with ``i + PLAY_SEEDS * s``.
PLAY_SEEDS = 1000


def played_case(case: scoring.Case, seed: int) -> scoring.Case:
    """A scoring case whose parts are played (:func:`stemnet_training.play`, each channel
    with the seed's draws) and mixed again."""
    rng = np.random.default_rng(seed)
    refs = {
        name: np.stack([stemnet_training.play(c, case.rate, rng) for c in x]).astype(np.float32)
        for name, x in case.references.items()
    }
    return scoring.Case(case.track, np.sum(list(refs.values()), axis=0), refs, case.rate)


def pair_examples(
    preset: Preset,
    pieces: int | None = None,
    soundfonts: tuple[str, ...] | None = None,
    play: bool = True,
    progress: bool = False,
    cues: tuple[str, ...] = learned.PAIR_FEATURES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the pair network learns from (:func:`learned.labelled_pairs`, concatenated):
    the components of the first ``pieces`` train pieces (default: as many as the network's
    artifact names) in ``soundfonts`` (default: every training soundfont), their parts
    played (``play``), decomposed as :data:`PAIR_MEMBERS`, each pair described by ``cues``."""
    pieces = pieces or pair_network_artifact(preset).params["pieces"]

    def pairs_of(case: scoring.Case, seed: int) -> list[tuple]:
        case = played_case(case, seed) if play else case
        refs, rows = list(case.references.values()), []
        for n_fft, k, start in PAIR_MEMBERS:
            w, h = nmf.decompose(case.mixture, k, 0, n_fft, start, TUNING.streams.fit)
            labels = nmf.component_labels(case.mixture, w, h, refs, n_fft)
            rows.append(learned.labelled_pairs(w, h, case.rate, n_fft, labels, cues))
        return rows

    rows = []
    for s, sf in enumerate(soundfonts or preset.stemnet.soundfonts):
        tracks_ = rendered_tracks(pair_data(preset, pieces), sf, "train", pieces, progress)
        cases = list(enumerate(scoring.cases(tracks_, preset.model)))
        bar = tqdm(total=len(cases), desc=sf, disable=not progress)
        for at in range(0, len(cases), 8):  # on both cores, in order; 8 at a time, so the bar moves
            for each in parallel.thread_map(
                lambda c, s=s: pairs_of(c[1], c[0] + PLAY_SEEDS * s), cases[at : at + 8]
            ):
                rows += each
            bar.update(len(cases[at : at + 8]))
        bar.close()
    x, same, weight = (np.concatenate(r) for r in zip(*rows, strict=True))
    return x, same, weight


def pair_network(preset: Preset, progress: bool = True, pieces: int | None = None) -> Loaded:
    """``nmf+pairs``' pair network, its history and folder: learned the first time (about
    5 minutes on two cores for the cpu preset's 130 pieces in two soundfonts, 26 for 600),
    reused afterwards; ``pieces`` as for :func:`pair_network_artifact`."""
    art = pair_network_artifact(preset, pieces)
    path = art.path / "pairnet.pt"
    if not path.is_file() and not art.restore():
        t0 = time.perf_counter()
        x, same, weight = pair_examples(preset, art.params["pieces"], progress=progress)
        net, history = pairnet.train(
            pairnet.PairNetConfig(), learned.PAIR_FEATURES, x, same, weight
        )
        pairnet.save(net, history, path)
        art.made(time.perf_counter() - t0)
    net, payload = pairnet.load(path)
    return net, payload["history"], art.path


#: 1: a logistic model of the class outputs (:mod:`latentsep.separation.learned.counting`)
COUNT_MODEL_VERSION = 1


def count_pieces(preset: Preset) -> int:
    """The validation pieces (past the held-out ones, in each training soundfont) that
    ``notenmf+classmask``'s counting model learns from: :data:`VALIDATION_PIECES`, or as
    many as the dataset has train pieces where that is fewer (the smoke preset)."""
    return min(VALIDATION_PIECES, preset.data.n_train)


def count_model_artifact(preset: Preset) -> Artifact:
    """``notenmf+classmask``'s counting model: fitted on the class outputs of the note
    dictionaries and the stem network (their keys) on the validation pieces, which neither
    learned from."""
    notes, net = note_dictionaries_artifact(preset), stemnet_artifact(preset)
    pieces = tuple(
        art
        for sf in preset.stemnet.soundfonts
        for art in (
            rendering_artifact(preset.data, sf, "train"),  # its held-out pieces
            validation_artifact(preset, sf, count_pieces(preset)),
        )
    )
    params = {
        "notes": notes.key,
        "stemnet": net.key,
        "pieces": [a.key for a in pieces],
        "holdout": preset.stemnet.holdout,
        "features": list(learned.COUNT_FEATURES),
        "C": learned.counting.COUNT_C,
        "version": COUNT_MODEL_VERSION,
    }
    return Artifact("counting model", "separators", params, (notes, net, *pieces))


def count_model(preset: Preset, progress: bool = True) -> learned.CountModel:
    """``notenmf+classmask``'s counting model: restored, or fitted now (the validation
    pieces rendered first if need be; 4 minutes on two cores for the cpu preset's 266)."""
    art = count_model_artifact(preset)
    path = art.path / COUNT_FILE
    if not path.is_file() and not art.restore():
        notes, _, _ = note_dictionaries(preset, progress)
        both = learned.NotesAndMasks(notes, stemnet_model(preset, progress)[0])
        t0 = time.perf_counter()
        pieces = []
        for sf in preset.stemnet.soundfonts:
            held = validation_tracks(preset, sf, count_pieces(preset), progress)
            for case in scoring.cases(held, preset.model):
                outs, alike = learned.note_parts(both, case.mixture, case.rate)
                plays = np.array([c in case.references for c in notes.classes])
                pieces.append((learned.energies(outs), alike, plays))
        learned.fit_count_model(pieces, notes.classes).save(path)
        art.made(time.perf_counter() - t0)
    return learned.CountModel.load(path)


#: The counting model's file in its artifact's folder.
COUNT_FILE = "count.json"


Loaded = tuple[object, list[dict], Path]  # the network, its training history, its folder


@dataclass(frozen=True)
class Network:
    """What a method's ``network`` names: its artifact, its loader (trains it the first
    time), why it cannot run with a preset (None: it can), and the most sources it gives
    (None: no limit of its own)."""

    artifact: Callable[[Preset], Artifact]
    load: Callable[[Preset, bool], Loaded]
    missing: Callable[[Preset, str], str | None] = lambda preset, method: None
    outputs: Callable[[Preset], int | None] = lambda preset: None


def _mask_network(mode: str) -> Network:
    return Network(
        lambda p: mask_network_artifact(p, mode),
        lambda p, progress: mask_network(p, mode, progress),
        outputs=lambda p: p.separator.outputs,
    )


#: The folder of a combined network's artifact: it has no files of its own, only a key made
#: of its parts' keys (its ``inputs``), which the tables of its methods' scores are keyed by.
COMBINED = "combined"


def _combined_artifact(preset: Preset) -> Artifact:
    parts = (
        note_dictionaries_artifact(preset),
        stemnet_artifact(preset),
        count_model_artifact(preset),
    )
    return Artifact("notedict+stemnet", COMBINED, [a.key for a in parts], parts)


def _notes_alone(preset: Preset, progress: bool) -> Loaded:
    notes, history, folder = note_dictionaries(preset, progress)
    return learned.NotesAndMasks(notes), history, folder


def _notes_and_masks(preset: Preset, progress: bool) -> Loaded:
    notes, _, folder = note_dictionaries(preset, progress)
    net = stemnet_model(preset, progress)[0]
    return learned.NotesAndMasks(notes, net, count_model(preset, progress)), [], folder


#: Every network a learned method names (:attr:`~latentsep.separation.base.Method.network`).
NETWORKS: dict[str, Network] = {
    **{mode: _mask_network(mode) for mode in mixit.MODES},
    "stemnet": Network(
        stemnet_artifact,
        stemnet_model,
        lambda p, method: learned.missing_head(method, p.stemnet),
    ),
    "nmfdict": Network(dictionaries_artifact, dictionaries),
    "pairs": Network(
        pair_network_artifact,
        pair_network,
        lambda p, method: _unrendered(
            pair_network_artifact(p), "pairnet.pt", p, method, "the pieces it learns from"
        ),
    ),
    "notedict": Network(note_dictionaries_artifact, _notes_alone, _notes_missing),
    # the note dictionaries, the stem network and the counting model (notenmf+classmask)
    "notedict+stemnet": Network(
        _combined_artifact,
        _notes_and_masks,
        lambda p, method: _notes_missing(p, method) or learned.missing_head(method, p.stemnet),
    ),
}


def _network_of(method: str) -> Network:
    return NETWORKS[get_method(method).network]


def missing(preset: Preset, method: str) -> str | None:
    """Why ``method`` cannot run with ``preset``'s networks (None: it can)."""
    spec = get_method(method)
    return NETWORKS[spec.network].missing(preset, method) if spec.learned else None


def blind_methods(preset: Preset) -> list[str]:
    """The methods that use no stems of the music they separate (``scoring.WITHOUT_STEMS``)
    that ``preset``'s networks can run."""
    return [m for m in scoring.WITHOUT_STEMS if not missing(preset, m)]


def ready(preset: Preset, method: str) -> bool:
    """Whether a learned method's network is made or shipped: using it trains nothing."""
    if missing(preset, method):
        return False
    art = network_artifact(preset, method)
    return all(
        a.usable_shipped() or a.cached() for a in (art.inputs if art.folder == COMBINED else (art,))
    )


def network_artifact(preset: Preset, method: str) -> Artifact:
    """The trained network (or dictionaries) a learned method runs."""
    return _network_of(method).artifact(preset)


def network(preset: Preset, method: str, progress: bool = True) -> Loaded:
    """``(network, history, folder)`` of a learned method: trained the first time."""
    if reason := missing(preset, method):
        raise ValueError(reason)  # before minutes of training
    return _network_of(method).load(preset, progress)


def method_limit(preset: Preset, method: str) -> int:
    """The most sources ``method`` gives with the preset's networks."""
    spec = get_method(method)
    return spec.limit(NETWORKS[spec.network].outputs(preset) if spec.learned else None)
