"""The methods of the network learned from the rendered stems (one network, two heads:
:mod:`latentsep.models.stemnet`): its class masks (``classmask``), its deep-clustering
embeddings (``deepclustering``), and its class outputs for NMF components, alone and in
their mixture (:func:`component_shares`, for ``nmf+classmask``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from latentsep import spectral
from latentsep.audio import resample
from latentsep.models.stemnet import DC_FLOOR_DB, StemNet
from latentsep.separation import clustering, nmf
from latentsep.separation.base import Estimates, fits, register
from latentsep.separation.learned.grouping import at_rate, fitted_classes, group, needs, outputs
from latentsep.tuning import TUNING

#: Deep clustering clusters the bins within DC_FLOOR_DB of the loudest (those the network
#: learned from, :mod:`latentsep.models.stemnet`); quieter bins go to the nearest centre.
#: At most this many bins are used to fit the centres.
DC_FIT_BINS = 8000


def _classmask(x, n_sources, *, rate, separator, ks=(2, 3, 4), **_) -> Estimates:
    needs(separator)
    return group(outputs(separator, x, rate), n_sources, TUNING.floors.stem_class, ks, named=True)


@torch.no_grad()
def embeddings(net: StemNet, x: np.ndarray, rate: int) -> tuple[np.ndarray, torch.Tensor, int]:
    """The deep-clustering embedding of every time-frequency bin of the mono mix-down,
    ``(freqs × frames, embedding)``, the STFT of each channel at the network's rate,
    ``(channels, freqs, frames)``, and the length in samples at that rate."""
    y = torch.from_numpy(np.ascontiguousarray(resample(x, rate, net.cfg.sample_rate), np.float32))
    dev = next(net.parameters()).device
    spec = net.stft(y.to(dev))
    _, emb = net.heads(spec.mean(dim=0, keepdim=True))
    return emb[0].reshape(emb.shape[1], -1).T.float().cpu().numpy(), spec, y.shape[-1]


def missing_head(method: str, cfg) -> str | None:
    """Why a stem network of configuration ``cfg`` cannot run ``method`` (None: it can)."""
    if method == "deepclustering" and cfg.dc_weight <= 0:
        return (
            "deepclustering needs the network's deep-clustering head, which this preset does "
            "not train (stemnet.dc_weight = 0; --set stemnet.dc_weight=1 trains it)"
        )
    return None


def _deepclustering(x, n_sources, *, rate, separator, seed=0, ks=(2, 3, 4), **_) -> Estimates:
    needs(separator)
    if reason := missing_head("deepclustering", separator.cfg):
        raise ValueError(reason)
    from sklearn.cluster import KMeans

    cfg = separator.cfg
    v, spec, length = embeddings(separator, x, rate)
    level = spec.abs().mean(dim=0).reshape(-1).cpu().numpy()
    active = np.flatnonzero(level > level.max() * 10 ** (DC_FLOOR_DB / 20))
    rng = np.random.default_rng(seed)
    fit = v[np.sort(rng.choice(active, min(len(active), DC_FIT_BINS), replace=False))]
    if n_sources is None:
        n_sources = clustering.choose_k(fit, [k for k in ks if k < len(fit)], seed=seed)
    labels = KMeans(n_sources, n_init=4, random_state=seed).fit(fit).predict(v)
    masks = torch.from_numpy(np.stack([labels == k for k in range(n_sources)]).astype(np.float32))
    masks = masks.reshape(n_sources, 1, *spec.shape[1:]).to(spec.device)
    out = spectral.torch_istft(masks * spec[None], cfg.n_fft, cfg.hop, length)
    return list(at_rate(out.cpu().numpy(), x, rate, cfg.sample_rate)), labels


register(
    "classmask",
    "a mask per instrument class, learned from rendered stems of other pieces",
    learned=True,
    network="stemnet",
    tags=("stems",),
)(_classmask)
register(
    "deepclustering",
    "deep clustering of time-frequency bins, learned from rendered stems (no class names)",
    learned=True,
    network="stemnet",
    tags=("stems",),
)(_deepclustering)
fits("classmask")(fitted_classes(outputs, TUNING.floors.stem_class, named=True))


#: Each component is described by its loudest this many seconds (of its mono mix-down):
#: enough to know its instrument, at a cost that does not grow with the input's length.
SHARE_SECONDS = 4.0


@torch.no_grad()
def class_masks(net: StemNet, x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The network's class masks ``(classes, freqs, frames)`` for ``(channels, samples)``
    audio's mono mix-down and the magnitudes ``(freqs, frames)`` they share, on the
    network's own STFT grid."""
    y = resample(np.asarray(x, np.float32).mean(axis=0, keepdims=True), rate, net.cfg.sample_rate)
    dev = next(net.parameters()).device
    spec = net.stft(torch.from_numpy(np.ascontiguousarray(y, np.float32)).to(dev))
    masks, _ = net.heads(spec, embed=False)
    return masks[0].float().cpu().numpy(), spec[0].abs().float().cpu().numpy()


def class_energies(net: StemNet, x: np.ndarray, rate: int) -> np.ndarray:
    """The energy of each class output for ``(channels, samples)`` audio (its mono
    mix-down), measured on the masked spectrogram at the network's rate: no inverse STFT."""
    masks, mag = class_masks(net, x, rate)
    return np.square(masks * mag[None], dtype=np.float64).sum(axis=(1, 2))


def nearest(
    net: StemNet, masks: np.ndarray, freqs: np.ndarray, seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The network's bin and frame nearest each frequency (Hz) and time (s), within its
    masks ``(classes, freqs, frames)``."""
    cfg = net.cfg
    fi = np.minimum(np.round(freqs * cfg.n_fft / cfg.sample_rate).astype(int), masks.shape[1] - 1)
    ti = np.round(seconds * cfg.sample_rate / cfg.hop).astype(int)
    return fi, np.minimum(ti, masks.shape[2] - 1)


def context_shares(
    net: StemNet, mixture: np.ndarray, w: np.ndarray, h: np.ndarray, rate: int
) -> np.ndarray:
    """Each NMF component heard in its mixture: the share of its model spectrogram
    ``w[:, k] h[k]`` (the package's STFT of ``mixture`` at ``rate``) that each of the
    network's class masks for the whole mixture holds, below the network's Nyquist
    frequency, as log shares ``(components, classes)``. One pass of the network, which
    hears each note among the others, as it learned to."""
    masks, _ = class_masks(net, mixture, rate)
    freqs = spectral.frequencies(spectral.N_FFT, rate)[: w.shape[0]]
    below = freqs < net.cfg.sample_rate / 2
    fi, ti = nearest(net, masks, freqs[below], np.arange(h.shape[1]) * spectral.HOP / rate)
    wb = w[below]
    held = np.stack([np.sum(wb * (masks[c][fi][:, ti] @ h.T), axis=0) for c in range(len(masks))])
    share = held.T / (wb.sum(axis=0) * h.sum(axis=1) + 1e-12)[:, None]
    return np.log(share + 1e-3)


def network_shares(net: StemNet, components: Iterable[np.ndarray], rate: int) -> np.ndarray:
    """Each NMF component's sound (``(channels, samples)``, its loudest
    :data:`SHARE_SECONDS`) given to the network: the log share of its energy in each class
    output, ``(components, classes)``."""
    energy = np.stack(
        [class_energies(net, nmf.loudest_seconds(c, rate, SHARE_SECONDS), rate) for c in components]
    )
    return np.log(energy / (energy.sum(axis=1, keepdims=True) + 1e-12) + 1e-3)


def component_shares(
    net: StemNet, mixture: np.ndarray, w: np.ndarray, h: np.ndarray, rate: int
) -> list[np.ndarray]:
    """``nmf+classmask``'s two descriptions of each NMF component: the network's class
    shares of its sound alone (:func:`network_shares`) and in the mixture
    (:func:`context_shares`)."""
    mono = mixture.mean(axis=0, keepdims=True)
    alone = network_shares(net, nmf.iter_component_sources(mono, w, h), rate)
    return [alone, context_shares(net, mixture, w, h, rate)]
