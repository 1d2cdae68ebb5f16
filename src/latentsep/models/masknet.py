"""The mask network: STFT magnitude → BLSTM → M softmax masks on the mixture.

Plain PyTorch, Open-Unmix's shape at a size that trains on two CPU cores (the ``paper``
preset's is Open-Unmix-sized, for a GPU). The masks sum to one in every time-frequency bin
(mixture consistency), so the M outputs always add up to the input exactly; what training
decides is how the mixture is shared. The same network is trained two ways
(:mod:`latentsep.models.mixit`): on mixtures of mixtures only (MixIT) and, its supervised
twin, on the instruments' stems (PIT).
"""

from __future__ import annotations

import torch
from torch import nn

from latentsep import spectral
from latentsep.presets import SeparatorConfig


class MaskNetwork(nn.Module):
    def __init__(self, cfg: SeparatorConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        bins = cfg.n_fft // 2 + 1
        self.bins = bins
        half = max(1, cfg.hidden // 2)  # each direction of the BLSTM
        self.inp = nn.Sequential(nn.Linear(bins, cfg.hidden), nn.Tanh())
        self.rnn = nn.LSTM(
            cfg.hidden,
            half,
            cfg.layers,
            batch_first=True,
            bidirectional=True,
        )
        self.out = nn.Linear(2 * half, cfg.outputs * bins)

    def masks(self, spec: torch.Tensor) -> torch.Tensor:
        """Masks ``(batch, M, freqs, frames)`` that sum to 1 over M, from a complex STFT
        ``(batch, freqs, frames)``."""
        feats = torch.log1p(spec.abs()).transpose(1, 2)  # (batch, frames, freqs)
        h, _ = self.rnn(self.inp(feats))
        logits = self.out(h).reshape(h.shape[0], h.shape[1], self.cfg.outputs, self.bins)
        return torch.softmax(logits, dim=2).permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` mono audio → ``(batch, M, samples)`` outputs that add up to
        the input."""
        cfg = self.cfg
        spec = spectral.torch_stft(x[:, None], cfg.n_fft, cfg.hop)
        masks = self.masks(spec)
        return spectral.torch_istft(masks * spec[:, None], cfg.n_fft, cfg.hop, x.shape[-1])

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
