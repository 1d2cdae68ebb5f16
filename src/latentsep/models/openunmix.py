"""Stage 1 of the study: extract the "other" stem from each mixture with Open-Unmix.

Pretrained ``umxhq``/``umxl`` weights are used when they are in the torch hub cache (or
``allow_download`` and the network allows). Otherwise an Open-Unmix "other" model
(``openunmix.model.OpenUnmix``, the library's own class) is trained on the embedded train
split at a CPU-sized configuration. Either way the result is an ``openunmix`` Separator.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from openunmix import model as umx_model
from openunmix import transforms, utils
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep.audio import crop, random_start, resample
from latentsep.data.musdb import Track
from latentsep.paths import atomic_write
from latentsep.presets import UnmixConfig

#: The "other" weights of openunmix's pretrained models (the files torch hub caches).
PRETRAINED_OTHER = {
    "umxhq": "https://zenodo.org/records/3370489/files/other-b52fbbf7.pth",
    "umx": "https://zenodo.org/records/3370486/files/other-f8e132cc.pth",
    "umxl": "https://zenodo.org/records/5069601/files/other-c8c5b3e6.pth",
}


def pretrained_cached(name: str) -> bool:
    url = PRETRAINED_OTHER.get(name)
    if url is None:
        return False
    return (Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]).is_file()


def load_pretrained(name: str, device: str = "cpu", allow_download: bool = False):
    """A pretrained "other" Separator, or None when its weights cannot be had."""
    import openunmix

    if name not in PRETRAINED_OTHER:
        raise ValueError(f"unknown Open-Unmix model {name!r}; one of {sorted(PRETRAINED_OTHER)}")
    if not pretrained_cached(name) and not allow_download:
        return None
    try:
        return getattr(openunmix, name)(targets=["other"], residual=True, niter=1, device=device)
    except (OSError, RuntimeError) as err:  # offline, or a truncated download
        warnings.warn(f"Open-Unmix '{name}' weights unavailable: {err}", stacklevel=2)
        return None


def _spectrogram(cfg: UnmixConfig) -> torch.nn.Module:
    stft, _ = transforms.make_filterbanks(n_fft=cfg.n_fft, n_hop=cfg.hop, center=True)
    return torch.nn.Sequential(stft, transforms.ComplexNorm(mono=False))


def _segments(tracks, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random excerpt of ``n`` samples (mixture, other) per track."""
    mixes, others = [], []
    for t in tracks:
        start = random_start(t.mixture.shape[1], n, rng)
        mixes.append(_stereo(crop(t.mixture, start, n)))
        others.append(_stereo(crop(t.stems["other"], start, n)))
    return np.stack(mixes), np.stack(others)


def _stereo(x: np.ndarray) -> np.ndarray:
    """Open-Unmix is a stereo model: mono audio is duplicated."""
    return np.ascontiguousarray(x if x.shape[0] == 2 else np.repeat(x[:1], 2, axis=0))


def train_other(
    tracks: list[Track], cfg: UnmixConfig, rate: int, progress: bool = True
) -> tuple[umx_model.OpenUnmix, list[float]]:
    """Train an Open-Unmix "other" model on (mixture, other) pairs; returns it and the loss
    per epoch. Deterministic for ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    spec = _spectrogram(cfg)
    nb_bins = cfg.n_fft // 2 + 1
    max_bin = int(utils.bandwidth_to_max_bin(rate, cfg.n_fft, cfg.max_bandwidth_hz))
    with torch.no_grad():  # input scaling from the training mixtures, as openunmix does
        mags = [spec(torch.from_numpy(_stereo(t.mixture))[None]) for t in tracks]
        flat = torch.cat([m[0].permute(2, 0, 1).reshape(-1, nb_bins) for m in mags])[:, :max_bin]
        mean = flat.mean(0).numpy()
        scale = np.maximum(flat.std(0).numpy(), 1e-4)
    model = umx_model.OpenUnmix(
        nb_bins=nb_bins,
        nb_channels=2,
        hidden_size=cfg.hidden_size,
        nb_layers=cfg.nb_layers,
        max_bin=max_bin,
        input_mean=mean,
        input_scale=scale,
    )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = int(cfg.segment_seconds * rate)
    history = []
    bar = tqdm(range(cfg.epochs), desc="Open-Unmix 'other'", disable=not progress)
    for _ in bar:
        model.train()
        order = rng.permutation(len(tracks))
        losses = []
        for b in range(0, len(order), cfg.batch_size):
            batch = [tracks[i] for i in order[b : b + cfg.batch_size]]
            if len(batch) < 2:  # batch norm needs two examples
                continue
            mix, other = (torch.from_numpy(a) for a in _segments(batch, n, rng))
            with torch.no_grad():
                x, y = spec(mix), spec(other)
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)) if losses else float("nan"))
        bar.set_postfix(loss=f"{history[-1]:.4g}")
    model.eval()
    return model, history


def separator_for(model: umx_model.OpenUnmix, cfg: UnmixConfig, rate: int):
    """Wrap a trained model in openunmix's Separator (STFT, Wiener filter, iSTFT)."""
    return umx_model.Separator(
        target_models={"other": model},
        niter=1,
        residual=True,
        sample_rate=float(rate),
        n_fft=cfg.n_fft,
        n_hop=cfg.hop,
        nb_channels=2,
    ).eval()


def separate_other(separator, mixture: np.ndarray, rate: int) -> np.ndarray:
    """The "other" estimate for a ``(channels, samples)`` mixture, at the mixture's rate."""
    model_rate = int(separator.sample_rate)
    x = resample(_stereo(mixture), rate, model_rate)
    with torch.no_grad():
        est = separator(torch.from_numpy(np.ascontiguousarray(x))[None])[0, 0].numpy()
    est = resample(est, model_rate, rate)
    est = crop(est, 0, mixture.shape[1])
    return est[: mixture.shape[0]] if mixture.shape[0] == 1 else est


#: Bump when the training code changes its result (keys the cached model and estimates).
TRAINING_VERSION = 1


def save(model: umx_model.OpenUnmix, cfg: UnmixConfig, rate: int, history, path: Path) -> Path:
    payload = {
        "state_dict": model.state_dict(),
        "config": dataclasses.asdict(cfg),
        "rate": rate,
        "nb_bins": model.nb_output_bins,
        "max_bin": model.nb_bins,
        "history": history,
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load(path: Path) -> tuple[umx_model.OpenUnmix, UnmixConfig, int, list[float]]:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    cfg = UnmixConfig(**payload["config"])
    model = umx_model.OpenUnmix(
        nb_bins=payload["nb_bins"],
        nb_channels=2,
        hidden_size=cfg.hidden_size,
        nb_layers=cfg.nb_layers,
        max_bin=payload["max_bin"],
    )
    model.load_state_dict(payload["state_dict"])
    return model.eval(), cfg, payload["rate"], payload["history"]


@dataclass
class Stage1:
    """The stage-1 separator and where it came from."""

    separator: object
    origin: str  # e.g. "pretrained umxhq (MUSDB18-HQ)"
    key: str
    folder: Path  # <cache>/<key>: the trained model (if any) and the estimates
    history: list[float] = field(default_factory=list)

    @property
    def estimates_dir(self) -> Path:
        """Where :func:`write_estimates` puts this separator's "other" estimates."""
        return self.folder / "estimates"


def write_estimates(
    separator, tracks: list[Track], rate: int, folder: Path, progress: bool = True
) -> Path:
    """Write ``<folder>/<subset>/<track>/other.wav`` for every track not written yet."""
    from latentsep.audio import save_audio

    for t in tqdm(tracks, desc="Open-Unmix estimates", disable=not progress):
        path = folder / t.subset / t.name / "other.wav"
        if not path.is_file():
            save_audio(path, separate_other(separator, t.mixture, rate), rate)
    return folder
