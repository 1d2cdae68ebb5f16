"""Training the autoencoder: AdamW, clipping, validation, atomic checkpoints, resume, DDP.

One function, :func:`fit`, serves the notebook, the CLI (``latentsep train``) and
``torchrun`` (several processes: DistributedDataParallel with NCCL on GPUs, gloo on CPUs).
Runs are deterministic for a seed: each epoch's segments and noise come from
``(seed, epoch)``, so a run resumed from a checkpoint continues exactly as if uninterrupted.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep.audio import crop, random_start
from latentsep.device import pick_device
from latentsep.models import losses
from latentsep.models.autoencoder import Autoencoder
from latentsep.paths import atomic_write
from latentsep.presets import ModelConfig, Preset, TrainConfig

#: Bump when a change to the training code changes the trained weights: it keys the
#: cached autoencoders (:func:`latentsep.pipeline.autoencoder`).
TRAINING_VERSION = 1


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)  # one dict of losses per epoch

    @property
    def best_valid(self) -> float:
        return min((e["valid"] for e in self.epochs), default=math.inf)

    def stopped(self, patience: int) -> bool:
        """Whether the last ``patience`` epochs all failed to improve on the best (early
        stopping; never with ``patience`` 0)."""
        if patience <= 0 or len(self.epochs) <= patience:
            return False
        return min(e["valid"] for e in self.epochs[-patience:]) >= min(
            e["valid"] for e in self.epochs[:-patience]
        )


def segments(signals: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """One random ``n``-sample excerpt per signal (zero-padded if shorter)."""
    return np.stack([crop(x, random_start(x.shape[1], n, rng), n) for x in signals])


def ddp_init() -> tuple[int, int]:
    """(rank, world size), initialising the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


#: What an autoencoder checkpoint says it is; :func:`load_model` refuses anything else.
CHECKPOINT_FORMAT = "latentsep autoencoder"
#: Bump when the checkpoint's layout changes (not the weights: that is TRAINING_VERSION).
CHECKPOINT_VERSION = 1
#: The keys of checkpoints written before they named their format (version 1 in content):
#: read as such, so caches made by earlier versions stay valid.
LEGACY = {CHECKPOINT_FORMAT: {"model", "optimizer", "epoch", "history", "preset"}}


def save_checkpoint(
    path: Path, model: Autoencoder, opt, epoch: int, history: History, preset: Preset
) -> Path:
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": model.state_dict(),
        "optimizer": opt.state_dict() if opt else None,
        "epoch": epoch,
        "history": history.epochs,
        "preset": preset.to_dict(),
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: Path, fmt: str, version: int, device: str | torch.device = "cpu") -> dict:
    """A checkpoint's payload, or a :class:`ValueError` naming the file and saying what is
    wrong: missing, not a checkpoint at all, another kind of checkpoint, or one written by an
    incompatible version of latentsep."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # torch raises anything from EOFError to UnpicklingError
        raise ValueError(f"{path}: not a latentsep checkpoint (unreadable: {err})") from err
    if (
        isinstance(payload, dict)
        and "format" not in payload
        and LEGACY.get(fmt, {None}) <= set(payload)
    ):
        payload = {**payload, "format": fmt, "version": 1}  # written before formats were named
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        found = payload.get("format") if isinstance(payload, dict) else None
        what = f"a {found} checkpoint" if found else "not a latentsep checkpoint"
        raise ValueError(f"{path}: {what}, expected a {fmt} checkpoint")
    if payload.get("version") != version:
        raise ValueError(
            f"{path}: written by an incompatible version of latentsep (checkpoint version "
            f"{payload.get('version')}, this latentsep reads {version}); retrain or use the "
            "latentsep that wrote it"
        )
    return payload


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[Autoencoder, dict]:
    """A model from a checkpoint, in eval mode, and the checkpoint's payload. A file that is
    not an autoencoder checkpoint of this version raises :class:`ValueError` naming it."""
    payload = read_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, device)
    try:
        cfg = dict(payload["preset"]["model"])
        cfg["ratios"] = tuple(cfg["ratios"])
        model = Autoencoder(ModelConfig(**cfg)).to(device)
        model.load_state_dict(payload["model"])
    except (KeyError, TypeError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0][:160]  # state_dict errors list every key
        raise ValueError(f"{path}: a damaged latentsep autoencoder checkpoint ({first})") from err
    return model.eval(), payload


def _validate(model, valid: torch.Tensor, cfg: TrainConfig, epoch: int, batch: int) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(valid), batch):
            x = valid[i : i + batch]
            y, latent = model(x)
            total += float(losses.total_loss(x, y, latent, cfg, epoch)[0]) * len(x)
    return total / max(1, len(valid))


def train_step(
    net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, cfg: TrainConfig, epoch: int
) -> tuple[float, dict[str, float]]:
    """One optimiser step on batch ``x`` (bf16 autocast on CUDA); returns the loss and parts."""
    dev = x.device
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        y, latent = net(x)
    loss, parts = losses.total_loss(x, y.float(), latent, cfg, epoch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
    opt.step()
    return loss.item(), parts


def fit(
    preset: Preset,
    train_signals: list[np.ndarray],
    valid_signals: list[np.ndarray],
    out_dir: Path,
    *,
    device: str | None = None,
    resume: bool = True,
    progress: bool = True,
    max_epochs: int | None = None,
) -> History:
    """Train (or continue training) the autoencoder into ``out_dir``.

    Args:
        preset: the model (``preset.model``) and its training (``preset.train``).
        train_signals: ``(channels, samples)`` float32 arrays already at the model's sample
            rate and channel count (:func:`latentsep.audio.prepare`).
        valid_signals: the same, held out; fixed excerpts of them are scored every epoch.
        out_dir: where ``last.pt`` (resumable), ``best.pt`` (lowest validation loss) and
            ``history.json`` are written, each atomically.
        device: "cpu", "cuda"...; default the GPU when there is one.
        resume: continue from ``last.pt`` when it exists.
        max_epochs: stop early (tests use it to interrupt a run).

    Returns:
        The :class:`History`: per epoch, the loss and its parts (time MSE, log-spectral MSE,
        latent penalty), the validation loss, seconds and audio seconds trained.
    """
    cfg, mcfg = preset.train, preset.model
    rank, world = ddp_init()
    dev = pick_device(device)
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.manual_seed(cfg.seed)
    model = Autoencoder(mcfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history, start = History(), 0
    last = Path(out_dir) / "last.pt"
    if rank == 0 and Path(out_dir).is_dir():  # a killed run's temporary files (atomic_write)
        for stale in Path(out_dir).glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)
    if resume and last.is_file():
        payload = read_checkpoint(last, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, dev)
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        history, start = History(payload["history"]), payload["epoch"] + 1
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    n = int(cfg.segment_seconds * mcfg.sample_rate)
    # fixed validation excerpts, the same every epoch
    valid = torch.from_numpy(segments(valid_signals, n, np.random.default_rng([cfg.seed, 2**31])))
    valid = valid.to(dev)
    end = min(cfg.epochs, max_epochs) if max_epochs else cfg.epochs
    steps = math.ceil(len(train_signals) / (cfg.batch_size * world))
    bar = tqdm(
        range(start, end),
        desc="training",
        disable=not progress or rank != 0,
        initial=start,
        total=cfg.epochs,
    )
    for epoch in bar:
        if history.stopped(cfg.patience):
            break
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # VAE noise
        order = rng.permutation(len(train_signals))
        net.train()
        sums: dict[str, float] = {"loss": 0.0, "time": 0.0, "spec": 0.0, "kl": 0.0}
        for s in range(steps):
            idx = order[(s * world + rank) * cfg.batch_size :][: cfg.batch_size]
            if len(idx) == 0:
                idx = order[: cfg.batch_size]  # ranks keep step counts equal for DDP
            x = torch.from_numpy(segments([train_signals[i] for i in idx], n, rng)).to(dev)
            value, parts = train_step(net, opt, x, cfg, epoch)
            sums["loss"] += value
            for k, v in parts.items():
                sums[k] += v
            if rank == 0 and progress:
                bar.set_postfix(loss=f"{value:.4f}", step=f"{s + 1}/{steps}")
        record = {k: v / steps for k, v in sums.items()}
        record.update(
            epoch=epoch,
            valid=_validate(model, valid, cfg, epoch, cfg.batch_size),
            seconds=time.perf_counter() - t0,
            audio_seconds=steps * cfg.batch_size * world * cfg.segment_seconds,
        )
        is_best = record["valid"] < history.best_valid
        history.epochs.append(record)
        if rank == 0:
            # best, history, then last: a crash in between leaves last.pt one epoch behind, so
            # a resumed run redoes this epoch (identically) and rewrites both; the other
            # order could leave a run whose best.pt was never written.
            if is_best:
                save_checkpoint(Path(out_dir) / "best.pt", model, None, epoch, history, preset)
            atomic_write(
                Path(out_dir) / "history.json",
                lambda p: p.write_text(json.dumps(history.epochs, indent=1)),
            )
            save_checkpoint(last, model, opt, epoch, history, preset)
            bar.set_postfix(loss=f"{record['loss']:.4f}", valid=f"{record['valid']:.4f}")
    if world > 1:
        dist.barrier()  # checkpoints are on disk before any rank reads them
    return history


def seconds_per_step(preset: Preset, steps: int = 3, device: str | None = None) -> float:
    """Wall time of one optimiser step on random audio of the preset's batch shape (after a
    warm-up step): the training cost of a configuration on this machine."""
    dev = pick_device(device)
    torch.manual_seed(0)
    model = Autoencoder(preset.model).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=preset.train.lr)
    n = int(preset.train.segment_seconds * preset.model.sample_rate)
    x = 0.1 * torch.randn(preset.train.batch_size, preset.model.channels, n, device=dev)

    train_step(model, opt, x, preset.train, 0)  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, x, preset.train, 0)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps
