"""The study's loss: waveform MSE + multi-resolution log-spectrogram MSE + a latent penalty."""

from __future__ import annotations

import torch

from latentsep.models.autoencoder import Latent
from latentsep.presets import TrainConfig
from latentsep.spectral import torch_stft

LOG_EPS = 1e-5


def log_magnitude(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """log |STFT| of ``(batch, channels, samples)`` audio, Hann window, 75 % overlap."""
    return torch.log(torch_stft(x, n_fft).abs() + LOG_EPS)


def log_spectral_mse(x: torch.Tensor, y: torch.Tensor, fft_sizes=(512, 1024, 2048)) -> torch.Tensor:
    """Mean over FFT sizes of the MSE between log-magnitude spectrograms."""
    n = x.shape[-1]
    sizes = [s for s in fft_sizes if s <= n] or [min(fft_sizes)]
    return torch.stack(
        [torch.mean((log_magnitude(x, s) - log_magnitude(y, s)) ** 2) for s in sizes]
    ).mean()


def study_kl(z: torch.Tensor) -> torch.Tensor:
    """The study's penalty on a deterministic latent: mean of 0.5 (z² − log z² − 1).

    It is not a KL divergence of a distribution; it pulls |z| towards 1.
    """
    z2 = z.float() ** 2
    return torch.mean(0.5 * (z2 - torch.log(z2 + 1e-8) - 1))


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, I)) per latent element, averaged (closed form)."""
    return torch.mean(0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()))


def latent_penalty(latent: Latent) -> torch.Tensor:
    if latent.logvar is None:
        return study_kl(latent.z)
    return gaussian_kl(latent.mean, latent.logvar)


def weights(cfg: TrainConfig, epoch: int) -> dict[str, float]:
    """Loss weights for an epoch (0-based).

    With ``study_schedule`` the latent weight is annealed from 0 over the first half of
    training (β warm-up), our reading of the study's per-epoch schedule; otherwise constant.
    """
    kl = cfg.kl_weight
    if cfg.study_schedule:
        kl *= min(1.0, epoch / max(1, cfg.epochs // 2))
    return {"time": cfg.time_weight, "spec": cfg.spec_weight, "kl": kl}


def total_loss(
    x: torch.Tensor, y: torch.Tensor, latent: Latent, cfg: TrainConfig, epoch: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted loss and its parts (as floats, for logging)."""
    w = weights(cfg, epoch)
    parts = {
        "time": torch.mean((x.float() - y.float()) ** 2),
        "spec": log_spectral_mse(x, y, cfg.fft_sizes),
        "kl": latent_penalty(latent),
    }
    loss = sum(w[k] * v for k, v in parts.items())
    return loss, {k: float(v.detach()) for k, v in parts.items()}
