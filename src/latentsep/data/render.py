"""The embedded default dataset: multitrack music rendered from real scores, with ground truth.

Laid out like MUSDB18-HQ, so ``musdb.DB(root=..., is_wav=True)`` reads it::

    <root>/manifest.json
    <root>/{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav
    <root>/{train,test}/<track>/other_<class>.wav   # the instruments inside "other"
    <root>/{train,test}/<track>/metadata.json        # piece, programs, gains, tempo, seed

Each track is one corpus piece (so no piece is in both splits): the highest voice is sung
(the "vocals" stand-in), the lowest is the bass, a drum part follows the meter, and 2-4
instruments of different classes play the inner voices and, where a piece has too few,
accompaniment derived from its harmony. The build is deterministic for a seed, cached by a
manifest of checksums, and atomic: it renders into a temporary folder that is renamed into
place only when complete.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import os
import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep.audio import save_audio
from latentsep.data import corpus, synth
from latentsep.paths import file_sha256
from latentsep.presets import OTHER_CLASSES, DataConfig

#: Bump when the rendering changes, so cached datasets are rebuilt.
GENERATOR_VERSION = 2  # 2: the peak is found on one sum of all stems
MUSDB_STEMS = ("drums", "bass", "other", "vocals")
STEM_RMS = 0.05  # loudness of a stem at 0 dB gain
PEAK = 0.9  # mixtures are scaled (all stems alike) to stay below this


@dataclass(frozen=True)
class StemSpec:
    name: str  # file stem: "vocals", "bass", "drums" or "other_<class>"
    instrument_class: str
    program: int  # GM program, 0-based (drums: kit 0)
    source: str  # "voice N", "chord pad", "arpeggio" or "drum pattern"
    octave_shift: int
    gain_db: float
    pan: float  # -1 left … +1 right


@dataclass(frozen=True)
class TrackSpec:
    name: str
    subset: str
    piece_id: str
    seed: list[int]
    tempo_bpm: float
    transpose: int
    start_quarter: float
    loops: int  # times the piece repeats to fill the excerpt
    stems: tuple[StemSpec, ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def piece_group(piece_id: str) -> str:
    """The work a corpus file belongs to: Palestrina's movements come as files ``_a``, ``_b``…"""
    return re.sub(r"_[a-z]$", "", piece_id.rsplit(".", 1)[0])


def piece_subset(piece_id: str, cfg: DataConfig) -> str:
    """The split a piece belongs to, fixed by a hash of its work: stable whatever the number
    of tracks, and never the same work in both splits."""
    h = zlib.crc32(f"{cfg.seed}:{piece_group(piece_id)}".encode()) / 2**32
    return "test" if h < cfg.test_fraction else "train"


#: Every track's settings and the parsed score it plays.
Plan = list[tuple[TrackSpec, corpus.Piece]]


def plan(cfg: DataConfig) -> Plan:
    """Choose pieces and every random setting of every track (no audio yet)."""
    return list(_plan(cfg))


def save_plan(planned: Plan, path: Path) -> Path:
    """A plan as gzipped JSON (notes as ``[onset, duration, pitch, velocity]``): what
    :func:`load_plan` reads back equal, so a stored plan renders the same files."""
    rows = [
        {
            "spec": spec.to_dict(),
            "piece": {
                **dataclasses.asdict(dataclasses.replace(piece, voices=())),
                "voices": [[dataclasses.astuple(n) for n in v] for v in piece.voices],
            },
        }
        for spec, piece in planned
    ]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump({"generator": GENERATOR_VERSION, "tracks": rows}, f)
    return path


def load_plan(path: Path) -> Plan:
    """The plan :func:`save_plan` wrote."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = json.load(f)["tracks"]
    out = []
    for row in rows:
        spec = dict(row["spec"])
        spec["stems"] = tuple(StemSpec(**st) for st in spec["stems"])
        p = dict(row["piece"])
        p["voices"] = tuple(tuple(corpus.Note(*n) for n in v) for v in p["voices"])
        out.append((TrackSpec(**spec), corpus.Piece(**p)))
    return out


@functools.lru_cache(maxsize=4)  # parsing the scores takes minutes; the plan is a function of cfg
def _plan(cfg: DataConfig) -> tuple[tuple[TrackSpec, corpus.Piece], ...]:
    ids = corpus.corpus_pieces()
    order = np.random.default_rng(cfg.seed).permutation(len(ids))
    wanted = {"train": cfg.n_train, "test": cfg.n_test}
    tracks: list[tuple[TrackSpec, corpus.Piece]] = []
    counts = {"train": 0, "test": 0}
    used: set[str] = set()  # one track per work
    for idx in order:
        piece_id = ids[idx]
        subset = piece_subset(piece_id, cfg)
        if piece_group(piece_id) in used or counts[subset] >= wanted[subset]:
            if all(counts[s] >= wanted[s] for s in wanted):
                break
            continue
        piece = corpus.load_piece(piece_id)
        if piece is None:
            continue
        spec = _track_spec(piece, subset, counts[subset], cfg)
        if spec is None:
            continue
        counts[subset] += 1
        used.add(piece_group(piece_id))
        tracks.append((spec, piece))
    for s in wanted:
        if counts[s] < wanted[s]:
            raise ValueError(
                f"only {counts[s]} usable corpus pieces for the {s} split, {wanted[s]} asked"
            )
    return tuple(tracks)


def _track_spec(piece: corpus.Piece, subset: str, i: int, cfg: DataConfig) -> TrackSpec | None:
    seed = [cfg.seed, 0 if subset == "train" else 1, i]
    rng = np.random.default_rng(seed)
    tempo = float(rng.uniform(70, 130))
    spq = 60.0 / tempo
    length_q = cfg.excerpt_seconds / spq
    loops = max(1, int(np.ceil(length_q / piece.length)))
    total_q = piece.length * loops
    bar = piece.beats_per_bar * piece.beat_length
    start = _choose_start(piece, loops, total_q, length_q, bar, rng)
    if start is None:
        return None
    n_other = int(rng.integers(cfg.min_other, cfg.max_other + 1))
    middle = [f"voice {k}" for k in range(1, len(piece.voices) - 1)]
    sources = (middle + ["chord pad", "arpeggio"])[:n_other]
    classes = rng.choice(OTHER_CLASSES, size=len(sources), replace=False)
    transpose = int(rng.integers(-4, 5))
    stems = [
        _stem("vocals", "vocals", "voice 0", piece, transpose, rng, pan=0.0),
        _stem("bass", "bass", f"voice {len(piece.voices) - 1}", piece, transpose, rng, pan=0.0),
        StemSpec("drums", "drums", 0, "drum pattern", 0, float(rng.uniform(-6, 0)), 0.0),
    ]
    for cls, source in zip(classes, sources, strict=True):
        pan = float(rng.uniform(-0.6, 0.6))
        stems.append(_stem(f"other_{cls}", str(cls), source, piece, transpose, rng, pan=pan))
    slug = piece.piece_id.rsplit(".", 1)[0].replace("/", "_")
    return TrackSpec(
        name=f"{i:03d}_{slug}",
        subset=subset,
        piece_id=piece.piece_id,
        seed=seed,
        tempo_bpm=round(tempo, 3),
        transpose=transpose,
        start_quarter=start,
        loops=loops,
        stems=tuple(stems),
    )


def _choose_start(piece, loops, total_q, length_q, bar, rng) -> float | None:
    """A bar-aligned start where every voice plays at least a few notes."""
    latest = max(0.0, total_q - length_q)
    for _ in range(12):
        start = float(np.floor(rng.uniform(0, latest + 1e-9) / bar) * bar) if latest else 0.0
        ok = all(
            sum(
                start <= n.onset + k * piece.length < start + length_q
                for k in range(loops)
                for n in v
            )
            >= 3
            for v in piece.voices
        )
        if ok:
            return start
    return None


def _stem(name, cls, source, piece, transpose, rng, pan) -> StemSpec:
    programs, (low, high) = synth.GM_CLASSES[cls]
    notes = _source_notes(source, piece)
    median = float(np.median([n.pitch for n in notes])) + transpose
    shift = int(np.round(((low + high) / 2 - median) / 12))
    return StemSpec(
        name=name,
        instrument_class=cls,
        program=int(rng.choice(programs)),
        source=source,
        octave_shift=shift,
        gain_db=round(float(rng.uniform(-6, 0)), 3),
        pan=round(pan, 3),
    )


def _source_notes(source: str, piece: corpus.Piece) -> tuple[corpus.Note, ...]:
    bar = piece.beats_per_bar * piece.beat_length
    if source == "chord pad":
        return corpus.chord_pad(piece, bar)
    if source == "arpeggio":
        return corpus.arpeggio(piece, piece.beat_length)
    return piece.voices[int(source.split()[1])]


def drum_pattern(piece: corpus.Piece, rng: np.random.Generator) -> list[corpus.Note]:
    """A kit part from the meter: kick on the downbeat, backbeat snare, hi-hat on offbeats."""
    k = synth.DRUM_KEYS
    beat, beats = piece.beat_length, piece.beats_per_bar
    notes = []
    n_bars = int(np.ceil(piece.length / (beat * beats)))
    for b in range(n_bars):
        t0 = b * beat * beats
        if b % 4 == 0:
            notes.append(corpus.Note(t0, beat, k["crash"], int(rng.integers(80, 110))))
        for j in range(beats):
            t = t0 + j * beat
            if j == 0 or (beats == 4 and j == 2) or (j == beats - 1 and rng.random() < 0.15):
                notes.append(corpus.Note(t, beat / 2, k["kick"], int(rng.integers(90, 120))))
            if beats > 1 and j % 2 == 1:
                notes.append(corpus.Note(t, beat / 2, k["snare"], int(rng.integers(85, 115))))
            for h in (0.0, 0.5):
                notes.append(
                    corpus.Note(t + h * beat, beat / 4, k["hihat"], int(rng.integers(50, 85)))
                )
    return notes


def render_track(
    spec: TrackSpec,
    piece: corpus.Piece,
    cfg: DataConfig,
    soundfont: str = synth.DEFAULT_SOUNDFONT,
) -> dict[str, np.ndarray]:
    """All stems of one track as ``(2, samples)`` float32; the mixture is their exact sum.
    ``soundfont`` (:data:`~latentsep.data.synth.SOUNDFONTS`) plays the same notes with
    other instrument samples."""
    sr = cfg.sample_rate
    n = int(round(cfg.excerpt_seconds * sr))
    spq = 60.0 / spec.tempo_bpm
    rng = np.random.default_rng(spec.seed + [1])  # drum velocities; separate from planning
    audio = {}
    for stem in spec.stems:
        if stem.source == "drum pattern":
            notes = drum_pattern(piece, rng)
            shift = 0
        else:
            notes = _source_notes(stem.source, piece)
            shift = spec.transpose + 12 * stem.octave_shift
        looped = [
            corpus.Note(
                x.onset + k * piece.length,
                x.duration,
                min(127, max(0, x.pitch + shift)),
                x.velocity,
            )
            for k in range(spec.loops)
            for x in notes
        ]
        events = synth.note_events(looped, spq, offset_quarters=spec.start_quarter)
        x = synth.render(
            events,
            n,
            sr,
            stem.program,
            drums=stem.source == "drum pattern",
            preroll=1.0,
            soundfont=soundfont,
        )
        audio[stem.name] = _place(x, stem.gain_db, stem.pan)
    # all stems are scaled alike so the loudest mixture stays below PEAK; sums stay exact
    peak = float(np.abs(sum(audio.values())).max())
    scale = np.float32(PEAK / peak) if peak > PEAK else np.float32(1.0)
    result = {k: (v * scale).astype(np.float32) for k, v in audio.items()}
    result["other"] = sum(v for k, v in result.items() if k.startswith("other_")).astype(np.float32)
    result["mixture"] = (
        result["vocals"] + result["bass"] + result["drums"] + result["other"]
    ).astype(np.float32)
    return result


def _place(x: np.ndarray, gain_db: float, pan: float) -> np.ndarray:
    """Normalise a rendered stem's loudness, apply its gain and constant-power pan."""
    rms = float(np.sqrt(np.mean(x**2)))
    if rms > 1e-6:
        x = x * (STEM_RMS * 10 ** (gain_db / 20) / rms)
    theta = (pan + 1) * np.pi / 4
    gains = np.array([[np.cos(theta)], [np.sin(theta)]], dtype=np.float32) * np.sqrt(2)
    return (x * gains).astype(np.float32)


def _manifest_ok(root: Path, key: str, verify: bool) -> bool:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        m = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    if m.get("key") != key:
        return False
    for rel, info in m.get("files", {}).items():
        path = root / rel
        if not path.is_file() or path.stat().st_size != info["bytes"]:
            return False
        if verify and file_sha256(path) != info["sha256"]:
            return False
    return True


def build(
    cfg: DataConfig,
    root: Path,
    key: str,
    *,
    force: bool = False,
    verify: bool = False,
    progress: bool = True,
    soundfont: str = synth.DEFAULT_SOUNDFONT,
    subsets: tuple[str, ...] = ("train", "test"),
    plan_of: Callable[[DataConfig], Plan] = plan,
) -> Path:
    """Render the dataset into ``root``, its manifest stamped with ``key`` (the pipeline
    declares both: :func:`latentsep.pipeline.dataset`). Another ``soundfont`` renders the
    same tracks (pieces, parts, programs, gains) with other samples; ``subsets`` limits the
    build to some splits. ``plan_of(cfg)`` gives the plan (the pipeline's is stored once:
    parsing the scores takes minutes).

    Reuses an existing build whose manifest has this key and whose files match (sizes;
    checksums too with ``verify``).
    """
    root = Path(root)
    if not force and _manifest_ok(root, key, verify):
        return root
    synth.soundfont_path(soundfont)  # a missing soundfont fails before the minutes of planning
    tracks = [(s, p) for s, p in plan_of(cfg) if s.subset in subsets]
    tmp = root.with_name(f"{root.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        files = _render_all(tracks, cfg, tmp, progress, soundfont)
    except BaseException:  # an interrupted build leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {
        "key": key,
        "generator": GENERATOR_VERSION,
        "params": dataclasses.asdict(cfg),
        "soundfont": synth.soundfont_path(soundfont).name,
        "tracks": [{"subset": s.subset, "name": s.name, "piece": s.piece_id} for s, _ in tracks],
        "files": {
            rel: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for rel, p in sorted(files.items())
        },
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if root.exists():  # replace an outdated or broken build only once the new one is complete
        old = root.with_name(f"{root.name}.old-{os.getpid()}")
        os.replace(root, old)
        shutil.rmtree(old, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, root)
    return root


def _render_all(
    tracks, cfg: DataConfig, tmp: Path, progress: bool, soundfont: str
) -> dict[str, Path]:
    files = {}
    for spec, piece in tqdm(tracks, desc=f"rendering tracks ({soundfont})", disable=not progress):
        folder = tmp / spec.subset / spec.name
        for name, x in render_track(spec, piece, cfg, soundfont).items():
            path = save_audio(folder / f"{name}.wav", x, cfg.sample_rate)
            files[str(path.relative_to(tmp))] = path
        meta = {
            **spec.to_dict(),
            "sample_rate": cfg.sample_rate,
            "excerpt_seconds": cfg.excerpt_seconds,
        }
        (folder / "metadata.json").write_text(json.dumps(meta, indent=1))
    return files


def load_manifest(root: Path) -> dict:
    return json.loads((Path(root) / "manifest.json").read_text())
