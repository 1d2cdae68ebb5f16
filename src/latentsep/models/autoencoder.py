"""The autoencoder: EnCodec's SEANet encoder and decoder, with a deterministic or a VAE latent.

Plain PyTorch around ``encodec.modules``. The encoder maps ``(batch, channels, samples)`` to
latent frames ``(batch, dimension, frames)``, one frame every ``hop_length`` samples; the
decoder maps them back. Inputs of any length are padded to whole frames and the output is
trimmed to the input's length.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from encodec.modules import SEANetDecoder, SEANetEncoder
from torch import nn

from latentsep.audio import AudioError
from latentsep.presets import ModelConfig

LOGVAR_RANGE = (-12.0, 8.0)  # keeps exp(logvar) finite early in training


@dataclass
class Latent:
    z: torch.Tensor  # what the decoder sees (a sample in training for the VAE)
    mean: torch.Tensor
    logvar: torch.Tensor | None  # None for the deterministic latent


class Autoencoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.variational = cfg.latent == "vae"
        common = dict(
            channels=cfg.channels, n_filters=cfg.n_filters, ratios=list(cfg.ratios), lstm=cfg.lstm
        )
        out_dim = 2 * cfg.dimension if self.variational else cfg.dimension
        with warnings.catch_warnings():  # encodec uses torch's older weight_norm helper
            warnings.filterwarnings("ignore", message=".*weight_norm.*deprecated")
            self.encoder = SEANetEncoder(dimension=out_dim, **common)
            self.decoder = SEANetDecoder(
                dimension=cfg.dimension, final_activation=cfg.final_activation, **common
            )
        self.hop_length = cfg.hop_length

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise AudioError(f"expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 2:
            x = x[None]
        if x.dim() != 3:
            raise AudioError(
                f"expected audio shaped (batch, channels, samples), got {tuple(x.shape)}"
            )
        if x.shape[1] != self.cfg.channels:
            raise AudioError(
                f"the model takes {self.cfg.channels} channel(s), got {x.shape[1]} "
                f"(shape {tuple(x.shape)}; mix down or duplicate channels first)"
            )
        if x.shape[-1] < 2:
            raise AudioError(f"audio too short: {x.shape[-1]} samples")
        if not torch.isfinite(x).all():
            raise AudioError("audio contains NaN or infinite samples")
        return x

    def encode(self, x: torch.Tensor) -> Latent:
        x = self.check_input(x)
        pad = (-x.shape[-1]) % self.hop_length
        h = self.encoder(nn.functional.pad(x, (0, pad)))
        if not self.variational:
            return Latent(h, h, None)
        mean, logvar = h.chunk(2, dim=1)
        logvar = logvar.clamp(*LOGVAR_RANGE)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        return Latent(z, mean, logvar)

    def decode(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        y = self.decoder(z)
        return y[..., :length] if length is not None else y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Latent]:
        x = self.check_input(x)
        latent = self.encode(x)
        return self.decode(latent.z, x.shape[-1]), latent

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
