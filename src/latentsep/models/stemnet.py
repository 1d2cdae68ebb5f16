"""A separator learned from the rendered stems: one network, two heads (chimera++).

The renderer makes every instrument's part alone, so separation can be learned as plain
supervised learning — no permutation search, no MixIT ambiguity. Mixtures are made on the
fly (dynamic mixing): a share are one train track's own parts as rendered (instruments that
play together), the rest 1–4 parts of *different* classes from different tracks, each at
equal loudness then ±6 dB (and, with ``transpose``, shifted by up to that many semitones),
so the network meets combinations the scores never wrote. The
parts come from the train split rendered with more than one soundfont
(:attr:`~latentsep.presets.StemNetConfig.soundfonts`); FluidR3_GM is kept unseen.

The network: log-magnitude STFT frames → 1×1 convolution to ``width`` channels → residual
blocks of dilated convolutions over time (receptive field ~2^blocks frames) → two heads:

- **class masks** (Open-Unmix-like, one per instrument class of
  :data:`~latentsep.presets.OTHER_CLASSES`, softmax over classes so the outputs add up to
  the mixture), trained with L1 on magnitudes: the ``classmask`` method;
- **embeddings** (deep clustering, Hershey et al. 2016), one unit vector per
  time-frequency bin, trained so that bins dominated by the same instrument point the same
  way: the ``deepclustering`` method (k-means at test time; needs no class names).

Runs are deterministic for a seed (every step's mixtures come from ``(seed, step)``) and
resumable: ``last.pt`` every :data:`CHECKPOINT_EVERY` steps, written atomically.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import nn
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep import spectral
from latentsep.audio import crop, random_start
from latentsep.device import pick_device
from latentsep.models.training import read_checkpoint
from latentsep.paths import atomic_write
from latentsep.presets import OTHER_CLASSES, StemNetConfig

#: Bump when a change to this code changes the trained weights (keys the cached models).
TRAINING_VERSION = 1
FORMAT = "latentsep stemnet"
CHECKPOINT_EVERY = 250
HISTORY_EVERY = 50
VALIDATE_EVERY = 250
#: Deep clustering learns from the bins within this many dB of the loudest (Hershey et al.).
DC_FLOOR_DB = -40.0


class Block(nn.Module):
    """A residual block: dilated convolution over frames, group norm, GELU, 1×1 mixing."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 3, dilation=dilation, padding=dilation)
        self.norm = nn.GroupNorm(1, width)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.mix(nn.functional.gelu(self.norm(self.conv(h))))


class StemNet(nn.Module):
    def __init__(self, cfg: StemNetConfig, classes: tuple[str, ...] = OTHER_CLASSES):
        super().__init__()
        cfg.validate()
        self.cfg, self.classes = cfg, tuple(classes)
        self.bins = cfg.n_fft // 2 + 1
        self.inp = nn.Conv1d(self.bins, cfg.width, 1)
        self.blocks = nn.Sequential(*(Block(cfg.width, 2**i) for i in range(cfg.blocks)))
        self.mask_head = nn.Conv1d(cfg.width, len(self.classes) * self.bins, 1)
        self.embed_head = nn.Conv1d(cfg.width, cfg.embedding * self.bins, 1)

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` → complex ``(batch, freqs, frames)``."""
        return spectral.torch_stft(x[:, None], self.cfg.n_fft, self.cfg.hop)

    def heads(self, spec: torch.Tensor, embed: bool = True):
        """Class masks ``(batch, classes, freqs, frames)`` summing to one over classes, and
        unit embeddings ``(batch, embedding, freqs, frames)`` (None unless ``embed``)."""
        b, f, t = spec.shape
        h = self.blocks(self.inp(torch.log1p(spec.abs())))
        masks = torch.softmax(self.mask_head(h).reshape(b, len(self.classes), f, t), dim=1)
        if not embed:
            return masks, None
        v = self.embed_head(h).reshape(b, self.cfg.embedding, f, t)
        return masks, nn.functional.normalize(v, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` mono audio → ``(batch, classes, samples)`` that add up to it."""
        spec = self.stft(x)
        masks, _ = self.heads(spec, embed=False)
        return spectral.torch_istft(
            masks * spec[:, None], self.cfg.n_fft, self.cfg.hop, x.shape[-1]
        )

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


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


def _payload(net: StemNet, history: list[dict]) -> dict:
    return {
        "format": FORMAT,
        "version": TRAINING_VERSION,
        "config": {**net.cfg.__dict__, "soundfonts": list(net.cfg.soundfonts)},
        "classes": list(net.classes),
        "state_dict": net.state_dict(),
        "history": history,
    }


def _save(net: StemNet, history: list[dict], path: Path, opt, step: int) -> Path:
    payload = {**_payload(net, history), "optimizer": opt.state_dict(), "step": step}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def save(net: StemNet, history: list[dict], path: Path) -> Path:
    """The trained weights, in half precision (a shipped file half the size; the outputs
    stay within 1e-3 of full precision's, a test checks), and ``history.json``."""
    payload = _payload(net, history)
    payload["state_dict"] = {k: v.half() for k, v in net.state_dict().items()}
    atomic_write(path.with_name("history.json"), lambda p: p.write_text(json.dumps(history)))
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load(path: Path, device: str | torch.device = "cpu") -> tuple[StemNet, dict]:
    """A network from :func:`save`'s file, in eval mode, and the payload; a clear
    :class:`ValueError` naming the file when it is not one of this version."""
    payload = read_checkpoint(path, FORMAT, TRAINING_VERSION, device)
    cfg = dict(payload["config"])
    cfg["soundfonts"] = tuple(cfg["soundfonts"])
    net = StemNet(StemNetConfig(**cfg), tuple(payload["classes"])).to(device)
    net.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return net.eval(), payload
