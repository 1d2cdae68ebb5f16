"""Training the stem network (:mod:`latentsep.models.stemnet`) on rendered stems.

The renderer makes every instrument's part alone, so separation can be learned as plain
supervised learning — no permutation search, no MixIT ambiguity. Mixtures are made on the
fly (dynamic mixing): a share are one train track's own parts as rendered (instruments that
play together), the rest 1–4 parts of *different* classes from different tracks, each at
equal loudness then ±6 dB (and, with ``transpose``, shifted by up to that many semitones;
with ``playing``, played as people play: :func:`play`), so the network meets combinations
the scores never wrote. The parts come from the train split rendered with more than one
soundfont (:attr:`~latentsep.presets.StemNetConfig.soundfonts`); FluidR3_GM is kept unseen.

Runs are deterministic for a seed (every step's mixtures come from ``(seed, step)``) and
resumable: ``last.pt`` every :data:`CHECKPOINT_EVERY` steps, written atomically.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from scipy.signal import fftconvolve, resample_poly
from torch import nn
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep.audio import crop, random_start
from latentsep.device import pick_device
from latentsep.models.stemnet import (
    DC_FLOOR_DB,
    FORMAT,
    TRAINING_VERSION,
    StemNet,
    contents,
    save,
)
from latentsep.models.training import read_checkpoint
from latentsep.paths import atomic_write
from latentsep.presets import OTHER_CLASSES, StemNetConfig

CHECKPOINT_EVERY = 250
HISTORY_EVERY = 50
VALIDATE_EVERY = 250


# --- training data ----------------------------------------------------------------------------


@dataclass
class Part:
    """One instrument's part of one train track, mono at the network's rate."""

    cls: int  # index into the network's classes
    audio: np.ndarray  # (1, samples)
    track: int  # which rendered track (the same piece in two soundfonts: two tracks)


def _energy(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def _excerpt(audio: np.ndarray, n: int, semitones: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of a ``(1, samples)`` part from a random start, played ``semitones``
    higher (faster) or lower (slower): polyphase resampling of a longer or shorter crop."""
    if not semitones:
        return crop(audio, random_start(audio.shape[-1], n, rng), n)[0]
    ratio = Fraction(2 ** (semitones / 12)).limit_denominator(24)  # within ~5 cents
    m = int(np.ceil(n * ratio))
    seg = crop(audio, random_start(audio.shape[-1], m, rng), m)[0]
    out = resample_poly(seg, ratio.denominator, ratio.numerator)[:n]
    return np.pad(out, (0, n - out.shape[0])).astype(np.float32)


def play(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A sampled part as a player and a room would make it: slow vibrato (4.5–7 Hz, up to
    ±40 cents) around a detuning of up to ±25 cents, a volume curve (±6 dB, one point every
    0.2–1 s), a microphone's colour (a smooth random gain over log frequency, ±6 dB) and a
    room (a decaying noise tail, RT60 0.2–1.2 s, 0–60 % of the energy) — what a soundfont's
    one fixed sample per note lacks (Tunturi et al. 2025; Miron et al. 2017)."""
    n = x.shape[-1]
    t = np.arange(n) / rate
    cents = rng.uniform(-25, 25) + rng.uniform(0, 40) * np.sin(
        2 * np.pi * rng.uniform(4.5, 7.0) * t + rng.uniform(0, 2 * np.pi)
    )
    pos = np.cumsum(2 ** (cents / 1200)) - 1
    # played sharp it reads past the excerpt's end (≤ 4 %): the excerpt mirrored there
    y = np.interp(pos, np.arange(2 * n), np.concatenate([x, x[::-1]]))
    step = int(rate * rng.uniform(0.2, 1.0))
    knots = rng.uniform(-6, 6, n // step + 2)
    y *= 10 ** (np.interp(np.arange(n) / step, np.arange(knots.size), knots) / 20)
    spec = np.fft.rfft(y)
    octaves = np.log2(np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0) / 20.0)
    colour = np.interp(octaves, np.linspace(0, octaves[-1], 6), rng.uniform(-6, 6, 6))
    y = np.fft.irfft(spec * 10 ** (colour / 20), n)
    rt60 = rng.uniform(0.2, 1.2)
    tail = np.arange(1, int(rate * min(rt60, n / rate))) / rate
    ir = rng.standard_normal(tail.size) * np.exp(-6.9 * tail / rt60)
    wet = fftconvolve(y, ir)[:n]
    share = rng.uniform(0.0, 0.6)
    scale = np.sqrt(_energy(y) / (_energy(wet) + 1e-12))
    return (np.sqrt(1 - share) * y + np.sqrt(share) * scale * wet).astype(np.float32)


def batch(
    parts: list[Part], n: int, cfg: StemNetConfig, rng: np.random.Generator, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(batch, n)`` mixtures and ``(batch, classes, n)`` their parts by class (zero rows
    for classes that do not play)."""
    by_track: dict[int, list[Part]] = {}
    by_class: dict[int, list[Part]] = {}
    for p in parts:
        by_track.setdefault(p.track, []).append(p)
        by_class.setdefault(p.cls, []).append(p)
    tracks, classes = sorted(by_track), sorted(by_class)
    refs = np.zeros((cfg.batch_size, n_classes, n), np.float32)
    for b in range(cfg.batch_size):
        if rng.random() < cfg.natural_share:  # a track's own parts, as they were rendered
            chosen = by_track[tracks[rng.integers(len(tracks))]]
            start = random_start(chosen[0].audio.shape[-1], n, rng)
            for p in chosen:
                refs[b, p.cls] += crop(p.audio, start, n)[0]
        else:  # 1–4 classes, each a part of another piece, equal loudness ± 6 dB
            k = min(len(classes), int(rng.choice([1, 2, 3, 4], p=[0.1, 0.3, 0.3, 0.3])))
            for c in rng.choice(classes, size=k, replace=False):
                pool = by_class[int(c)]
                p = pool[rng.integers(len(pool))]
                # drawn only when asked, so that runs without it keep their mixtures
                semitones = (
                    int(rng.integers(-cfg.transpose, cfg.transpose + 1)) if cfg.transpose else 0
                )
                seg = _excerpt(p.audio, n, semitones, rng)
                for _ in range(3):  # avoid a crop where the part rests
                    if _energy(seg) > 1e-2 * _energy(p.audio):
                        break
                    seg = _excerpt(p.audio, n, semitones, rng)
                if cfg.playing and rng.random() < cfg.playing:  # drawn only when asked
                    seg = play(seg, cfg.sample_rate, rng)
                gain = 10 ** (rng.uniform(-6, 6) / 20) * 0.05 / (np.sqrt(_energy(seg)) + 1e-6)
                refs[b, int(c)] += (seg * gain).astype(np.float32)
        refs[b] *= 10 ** (rng.uniform(-10, 6) / 20)  # the level of the whole
    return refs.sum(axis=1), refs


# --- losses -----------------------------------------------------------------------------------


def mask_loss(masks: torch.Tensor, spec: torch.Tensor, target_mags: torch.Tensor) -> torch.Tensor:
    """L1 between the masked mixture's magnitudes and each class's, relative to the
    mixture's mean magnitude (so loud and quiet mixtures count alike)."""
    mix = spec.abs()
    err = (masks * mix[:, None] - target_mags).abs().sum(1).mean(dim=(1, 2))
    return (err / (mix.mean(dim=(1, 2)) + 1e-8)).mean()


def dc_loss(
    embeddings: torch.Tensor, spec: torch.Tensor, target_mags: torch.Tensor
) -> torch.Tensor:
    """Deep clustering, ``|VᵀV|² − 2|VᵀY|² + |YᵀY|²`` over the bins within
    :data:`DC_FLOOR_DB` of the loudest, normalised by their number squared; ``Y`` is the
    one-hot dominant class of each bin."""
    b, d = embeddings.shape[:2]
    c = target_mags.shape[1]
    mix = spec.abs().reshape(b, -1)
    w = (mix > mix.amax(dim=1, keepdim=True) * 10 ** (DC_FLOOR_DB / 20)).float()[..., None]
    v = embeddings.reshape(b, d, -1).transpose(1, 2) * w  # (batch, bins, d)
    y = nn.functional.one_hot(target_mags.reshape(b, c, -1).argmax(1), c).float() * w
    vv = torch.linalg.matrix_norm(v.transpose(1, 2) @ v) ** 2
    vy = torch.linalg.matrix_norm(v.transpose(1, 2) @ y) ** 2
    yy = torch.linalg.matrix_norm(y.transpose(1, 2) @ y) ** 2
    return ((vv - 2 * vy + yy) / w.sum(dim=(1, 2)).clamp(min=1) ** 2).mean()


def losses(net: StemNet, mix: torch.Tensor, refs: torch.Tensor) -> dict[str, torch.Tensor]:
    spec = net.stft(mix)
    target = (
        net.stft(refs.reshape(-1, refs.shape[-1])).abs().reshape(*refs.shape[:2], *spec.shape[1:])
    )
    train_dc = net.cfg.dc_weight > 0  # the embedding head costs ~half a step's time
    masks, emb = net.heads(spec, embed=train_dc)
    parts = {"mask": mask_loss(masks, spec, target)}
    parts["loss"] = parts["mask"]
    if train_dc:
        parts["dc"] = dc_loss(emb, spec, target)
        parts["loss"] = parts["loss"] + net.cfg.dc_weight * parts["dc"]
    return parts


def learning_rate(cfg: StemNetConfig, step: int) -> float:
    """Cosine decay from ``lr`` to 5 % of it over ``steps``; then, over ``refine`` more
    steps, the same from ``refine_lr``."""
    peak, start, length = cfg.lr, 0, cfg.steps
    if step >= cfg.steps:
        peak, start, length = cfg.refine_lr, cfg.steps, cfg.refine
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - start) / length)))


# --- training ---------------------------------------------------------------------------------


def train(
    cfg: StemNetConfig,
    parts: list[Part],
    out_dir: Path,
    *,
    classes: tuple[str, ...] = OTHER_CLASSES,
    device: str | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    valid: Callable[[StemNet], float] | None = None,
    refine_from: tuple[StemNet, list[dict]] | None = None,
) -> tuple[StemNet, list[dict]]:
    """Train (or continue training from ``out_dir/last.pt``) on ``parts``; write
    ``out_dir/stemnet.pt`` (the weights, atomically) and ``history.json`` when done.
    With ``cfg.refine`` steps, ``refine_from`` is the network trained for ``cfg.steps`` and
    its history: training goes on from its weights at step ``cfg.steps``.
    ``valid(net)``: a held-out score, taken every :data:`VALIDATE_EVERY` steps in eval mode
    and no-grad (``valid SI-SDRi`` in the history).
    ``max_steps`` stops early (tests use it to interrupt a run)."""
    if not parts:
        raise ValueError("no instrument parts to learn from")
    out_dir = Path(out_dir)
    dev = pick_device(device)
    torch.manual_seed(cfg.seed)
    net = StemNet(cfg, classes).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    history, start = [], 0
    if cfg.refine:
        if refine_from is None:
            raise ValueError("stemnet.refine: give the network trained for stemnet.steps")
        net.load_state_dict(refine_from[0].state_dict())
        history, start = list(refine_from[1]), cfg.steps
    total = cfg.steps + cfg.refine
    last = out_dir / "last.pt"
    for stale in out_dir.glob(".*.tmp-*") if out_dir.is_dir() else ():
        stale.unlink(missing_ok=True)  # a killed run's temporary checkpoint
    if last.is_file():
        payload = read_checkpoint(last, FORMAT, TRAINING_VERSION, dev)
        net.load_state_dict(payload["state_dict"])
        opt.load_state_dict(payload["optimizer"])
        history, start = payload["history"], payload["step"]
    n = int(cfg.segment_seconds * cfg.sample_rate)
    end = min(total, max_steps) if max_steps else total
    window: dict[str, list[float]] = {}
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    bar = tqdm(
        range(start, end),
        desc="training (stemnet)",
        disable=not progress,
        initial=start,
        total=total,
    )
    net.train()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        rng = np.random.default_rng([cfg.seed, step])
        mix, refs = (torch.from_numpy(a).to(dev) for a in batch(parts, n, cfg, rng, len(classes)))
        parts_ = losses(net, mix, refs)
        opt.zero_grad(set_to_none=True)
        parts_["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        for k, v in parts_.items():
            window.setdefault(k, []).append(float(v.detach()))
        done = step + 1
        if done % HISTORY_EVERY == 0 or done == total:
            record = {
                "step": done,
                **{k: float(np.mean(v)) for k, v in window.items()},
                "seconds": time.perf_counter() - t0,
            }
            if valid is not None and (done % VALIDATE_EVERY == 0 or done == total):
                net.eval()
                with torch.no_grad():
                    record["valid SI-SDRi"] = valid(net)
                net.train()
            history.append(record)
            window = {}
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
        if done % CHECKPOINT_EVERY == 0 and done < total:
            _save(net, history, last, opt, done)
    net.eval()
    if end == total:
        save(net, history, out_dir / "stemnet.pt")
        last.unlink(missing_ok=True)
    return net, history


def _save(net: StemNet, history: list[dict], path: Path, opt, step: int) -> Path:
    payload = {**contents(net, history), "optimizer": opt.state_dict(), "step": step}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))
