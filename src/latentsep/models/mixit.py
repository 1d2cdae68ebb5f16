"""Training the mask network without stems (MixIT) and with them (PIT, its twin).

**MixIT** (Wisdom et al. 2020): two "other" stems of different train tracks are added into
a mixture of mixtures; the separator's M outputs are split between the two stems in the way
that fits best (all 2^M ways are tried), and the loss is the thresholded negative SNR of
each stem against the sum of its outputs. No instrument stem is ever seen.

**PIT**: the same network trained on one stem at a time against its instruments (the
embedded dataset's ``other_<class>`` parts), under the best permutation: the practical
ceiling of the architecture, and the measure of what MixIT leaves on the table.

Runs are deterministic for a seed: every step's crops come from ``(seed, step)``.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep.audio import crop, random_start
from latentsep.device import pick_device
from latentsep.models.masknet import MaskNetwork
from latentsep.models.training import read_checkpoint
from latentsep.paths import atomic_write
from latentsep.presets import SeparatorConfig

#: Bump when a change to this code changes the trained weights (keys the cached models).
TRAINING_VERSION = 1
#: What a separator checkpoint says it is.
FORMAT = "latentsep separator"
MODES = ("mixit", "pit")


def snr_loss(reference: torch.Tensor, estimate: torch.Tensor, tau: float) -> torch.Tensor:
    """Thresholded negative SNR in dB, ``10 log10(|y − ŷ|² + τ|y|²) − 10 log10 |y|²``,
    over the last axis: bounded below by ``10 log10 τ`` (−30 dB for τ = 1e-3), so that
    outputs already good enough stop pulling the gradient."""
    energy = reference.pow(2).sum(-1)
    error = (reference - estimate).pow(2).sum(-1)
    return 10 * torch.log10(error + tau * energy + 1e-8) - 10 * torch.log10(energy + 1e-8)


def assignments(n_outputs: int, n_mixtures: int = 2) -> torch.Tensor:
    """Every way to give each of ``n_outputs`` to one of ``n_mixtures``:
    ``(ways, n_mixtures, n_outputs)`` of 0/1."""
    ways = list(itertools.product(range(n_mixtures), repeat=n_outputs))
    a = torch.zeros(len(ways), n_mixtures, n_outputs)
    for i, way in enumerate(ways):
        a[i, list(way), list(range(n_outputs))] = 1.0
    return a


def mixit_loss(
    outputs: torch.Tensor, mixtures: torch.Tensor, tau: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixIT: ``outputs (batch, M, samples)`` against ``mixtures (batch, 2, samples)`` under
    the best assignment of outputs to mixtures. Returns the mean loss and each item's best
    assignment ``(batch, 2, M)``."""
    a = assignments(outputs.shape[1], mixtures.shape[1]).to(outputs)
    remixed = torch.einsum("wjm,bms->bwjs", a, outputs)  # (batch, ways, 2, samples)
    losses = snr_loss(mixtures[:, None], remixed, tau).sum(-1)  # (batch, ways)
    best = losses.argmin(dim=1)
    return losses.gather(1, best[:, None]).mean(), a[best]


def pit_loss(
    outputs: torch.Tensor, references: torch.Tensor, mixture: torch.Tensor, tau: float
) -> torch.Tensor:
    """Permutation-invariant loss: ``references (batch, M, samples)`` (silent rows where a
    stem holds fewer than M instruments) against ``outputs``, under the best permutation.
    A silent reference scores its output's energy against the mixture's (Wisdom et al.)."""
    m = outputs.shape[1]
    active = references.pow(2).sum(-1) > 0  # (batch, M)
    mix_energy = mixture.pow(2).sum(-1, keepdim=True)  # (batch, 1)
    per_perm = []
    for perm in itertools.permutations(range(m)):
        est = outputs[:, list(perm)]
        loud = snr_loss(references, est, tau)
        quiet = 10 * torch.log10(est.pow(2).sum(-1) + tau * mix_energy + 1e-8) - 10 * torch.log10(
            mix_energy + 1e-8
        )
        per_perm.append(torch.where(active, loud, quiet).sum(-1))
    return torch.stack(per_perm, dim=1).min(dim=1).values.mean()


def _mixit_batch(stems: list[np.ndarray], n: int, cfg: SeparatorConfig, rng) -> np.ndarray:
    """``(batch, 2, n)``: pairs of crops of two different stems."""
    batch = []
    for _ in range(cfg.batch_size):
        i, j = rng.choice(len(stems), size=2, replace=False)
        batch.append(
            [crop(stems[k], random_start(stems[k].shape[-1], n, rng), n)[0] for k in (i, j)]
        )
    return np.asarray(batch, np.float32)


def _pit_batch(
    stems: list[np.ndarray], parts: list[list[np.ndarray]], n: int, cfg: SeparatorConfig, rng
) -> tuple[np.ndarray, np.ndarray]:
    """``(batch, n)`` crops of stems and ``(batch, M, n)`` of their instruments (zero rows
    past the stem's count)."""
    mixes, refs = [], []
    for _ in range(cfg.batch_size):
        i = rng.integers(len(stems))
        start = random_start(stems[i].shape[-1], n, rng)
        mixes.append(crop(stems[i], start, n)[0])
        r = np.zeros((cfg.outputs, n), np.float32)
        for k, p in enumerate(parts[i][: cfg.outputs]):
            r[k] = crop(p, start, n)[0]
        refs.append(r)
    return np.asarray(mixes, np.float32), np.asarray(refs, np.float32)


def train(
    cfg: SeparatorConfig,
    stems: list[np.ndarray],
    out_dir: Path,
    mode: str = "mixit",
    parts: list[list[np.ndarray]] | None = None,
    *,
    device: str | None = None,
    progress: bool = True,
) -> tuple[MaskNetwork, list[dict]]:
    """Train a separator on mono ``stems`` ``(1, samples)`` at ``cfg.sample_rate`` (and, for
    ``mode="pit"``, each stem's instrument ``parts``); write ``out_dir/separator.pt``
    atomically and return the model and its history (loss every 50 steps, seconds)."""
    if mode not in MODES:
        raise ValueError(f"unknown separator training {mode!r}; choose one of {MODES}")
    if mode == "mixit" and len(stems) < 2:
        raise ValueError("MixIT needs at least two stems to mix")
    if mode == "pit" and (parts is None or len(parts) != len(stems)):
        raise ValueError("PIT needs each stem's instrument parts")
    dev = pick_device(device)
    torch.manual_seed(cfg.seed)
    model = MaskNetwork(cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = int(cfg.segment_seconds * cfg.sample_rate)
    tau = 10 ** (-cfg.snr_max_db / 10)
    history, window, t0 = [], [], time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=f"training ({mode})", disable=not progress)
    for step in bar:
        rng = np.random.default_rng([cfg.seed, step])
        if mode == "mixit":
            pairs = torch.from_numpy(_mixit_batch(stems, n, cfg, rng)).to(dev)
            loss, _ = mixit_loss(model(pairs.sum(1)), pairs, tau)
        else:
            mix, refs = (torch.from_numpy(a).to(dev) for a in _pit_batch(stems, parts, n, cfg, rng))
            loss = pit_loss(model(mix), refs, mix, tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        window.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            history.append(
                {
                    "step": step + 1,
                    "loss": float(np.mean(window)),
                    "seconds": time.perf_counter() - t0,
                }
            )
            window = []
            bar.set_postfix(loss=f"{history[-1]['loss']:.2f}")
    model = model.eval()
    save(model, mode, history, Path(out_dir) / "separator.pt")
    return model, history


def save(model: MaskNetwork, mode: str, history: list[dict], path: Path) -> Path:
    payload = {
        "format": FORMAT,
        "version": TRAINING_VERSION,
        "mode": mode,
        "config": model.cfg.__dict__,
        "state_dict": model.state_dict(),
        "history": history,
    }
    atomic_write(path.with_name("history.json"), lambda p: p.write_text(json.dumps(history)))
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load(path: Path, device: str | torch.device = "cpu") -> tuple[MaskNetwork, dict]:
    """A separator from :func:`save`'s file, in eval mode, and the file's payload; a clear
    :class:`ValueError` naming the file when it is not one of this version."""
    payload = read_checkpoint(path, FORMAT, TRAINING_VERSION, device)
    model = MaskNetwork(SeparatorConfig(**payload["config"])).to(device)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload
