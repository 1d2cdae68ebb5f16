"""The stem network: one network, two heads (chimera++), learned from rendered stems
(:mod:`latentsep.models.stemnet_training` trains it).

The network: log-magnitude STFT frames → 1×1 convolution to ``width`` channels → residual
blocks of dilated convolutions over time (receptive field ~2^blocks frames) → two heads:

- **class masks** (Open-Unmix-like, one per instrument class of
  :data:`~latentsep.presets.OTHER_CLASSES`, softmax over classes so the outputs add up to
  the mixture), trained with L1 on magnitudes: the ``classmask`` method;
- **embeddings** (deep clustering, Hershey et al. 2016), one unit vector per
  time-frequency bin, trained so that bins dominated by the same instrument point the same
  way: the ``deepclustering`` method (k-means at test time; needs no class names).

Saved as one file: the format, the training code's version, the configuration, the
classes, the weights and the history (:func:`save`, :func:`load`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from latentsep import spectral
from latentsep.models.training import read_checkpoint
from latentsep.paths import atomic_write
from latentsep.presets import OTHER_CLASSES, StemNetConfig

#: Bump when a change to this code changes the trained weights (keys the cached models).
TRAINING_VERSION = 1
FORMAT = "latentsep stemnet"
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


def contents(net: StemNet, history: list[dict]) -> dict:
    """What a network's file holds: format, version, configuration, classes, weights and
    history (a checkpoint adds the optimizer and the step)."""
    return {
        "format": FORMAT,
        "version": TRAINING_VERSION,
        "config": {**net.cfg.__dict__, "soundfonts": list(net.cfg.soundfonts)},
        "classes": list(net.classes),
        "state_dict": net.state_dict(),
        "history": history,
    }


def save(net: StemNet, history: list[dict], path: Path) -> Path:
    """The trained weights, in half precision (a shipped file half the size; the outputs
    stay within 1e-3 of full precision's, a test checks), and ``history.json``."""
    payload = contents(net, history)
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
