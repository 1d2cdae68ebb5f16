"""The pair network: whether two NMF components are one instrument, from a few cues of the
pair that name no instrument (``nmf+pairs``; the cues are
:func:`latentsep.separation.learned.pairs.pair_features`).

A small multilayer perceptron over the standardised cues, learned from the components of
rendered pieces whose parts were *played* (vibrato, detuning, volume curves, a microphone,
a room: :func:`latentsep.models.stemnet_training.play`), each pair weighted by its
components' share of the piece's energy. It learns how the cues of one instrument's notes
relate — not what any instrument sounds like — so it can carry over from the renderer to
real recordings. Saved as one file like every network here: the format, the training code's
version, the configuration, the cues' names and scale, the weights and the history.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latentsep.models.training import read_checkpoint
from latentsep.paths import atomic_write

#: Bump when a change to this code changes the trained weights (keys the cached models).
TRAINING_VERSION = 1
FORMAT = "latentsep pair network"


@dataclass(frozen=True)
class PairNetConfig:
    """The network's size and its (full-batch) training."""

    hidden: int = 32
    steps: int = 1000
    lr: float = 3e-3
    weight_decay: float = 1e-3
    seed: int = 0


class PairNet(nn.Module):
    """Cues of a pair ``(..., features)`` → the log-odds that the two are one instrument."""

    def __init__(self, cfg: PairNetConfig, features: tuple[str, ...]) -> None:
        super().__init__()
        self.cfg, self.features = cfg, tuple(features)
        n = len(self.features)
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("scale", torch.ones(n))
        self.layers = nn.Sequential(
            nn.Linear(n, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.scale)[..., 0]

    @torch.no_grad()
    def affinity(self, cues: np.ndarray) -> np.ndarray:
        """The probability that each pair is one instrument, from the cues of every pair
        ``(n, n, features)``: symmetric, one on the diagonal."""
        p = torch.sigmoid(self(torch.from_numpy(np.asarray(cues, np.float32)))).numpy()
        p = 0.5 * (p + p.T).astype(np.float64)
        np.fill_diagonal(p, 1.0)
        return p


def train(
    cfg: PairNetConfig,
    features: tuple[str, ...],
    x: np.ndarray,
    same: np.ndarray,
    weight: np.ndarray,
) -> tuple[PairNet, list[dict]]:
    """The network fitted to pairs ``x`` ``(pairs, features)`` labelled ``same`` (0/1),
    each weighing ``weight`` in a weighted binary cross-entropy (Adam, full batch, on the
    CPU: a few thousand pairs a piece, seconds a thousand steps); with its history (the
    loss and the seconds since the start every 100 steps)."""
    if len(np.unique(same)) != 2:
        raise ValueError(f"the pair network needs pairs of one instrument and of two: {len(x)}")
    torch.manual_seed(cfg.seed)
    net = PairNet(cfg, features)
    xs = torch.from_numpy(np.array(x, np.float32))
    net.mean.copy_(xs.mean(0))
    net.scale.copy_(xs.std(0) + 1e-6)
    ys = torch.from_numpy(np.array(same, np.float32))
    ws = torch.from_numpy(np.array(weight, np.float32))
    ws = ws / ws.mean()
    opt = torch.optim.Adam(net.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    history, t0 = [], time.perf_counter()
    for step in range(1, cfg.steps + 1):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(net(xs), ys, weight=ws)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == cfg.steps:
            seconds = round(time.perf_counter() - t0, 2)
            history.append({"step": step, "loss": float(loss.detach()), "seconds": seconds})
    return net.eval(), history


def save(net: PairNet, history: list[dict], path: Path) -> Path:
    payload = {
        "format": FORMAT,
        "version": TRAINING_VERSION,
        "config": dataclasses.asdict(net.cfg),
        "features": list(net.features),
        "state_dict": net.state_dict(),
        "history": history,
    }
    atomic_write(path.with_name("history.json"), lambda p: p.write_text(json.dumps(history)))
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load(path: Path, device: str | torch.device = "cpu") -> tuple[PairNet, dict]:
    """A network from :func:`save`'s file, in eval mode (on the CPU: it is tiny), and the
    payload; a clear :class:`ValueError` naming the file when it is not one of this
    version."""
    payload = read_checkpoint(path, FORMAT, TRAINING_VERSION, "cpu")
    net = PairNet(PairNetConfig(**payload["config"]), tuple(payload["features"]))
    net.load_state_dict(payload["state_dict"])
    return net.eval(), payload
