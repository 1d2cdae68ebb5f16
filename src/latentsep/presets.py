"""Named parameter presets shared by the notebooks, the CLI and papermill batches.

``make book PRESET=paper`` and ``papermill ... -p preset paper`` both resolve the same
:class:`Preset` through :func:`get_preset`. Individual values are overridden with dotted
keys, e.g. ``get_preset("cpu", {"train.epochs": 3})``.

- ``smoke``: seconds-long runs for the tests.
- ``cpu``: the default; the whole book runs on 2 CPU cores in reasonable time.
- ``gpu``: a Colab T4 session: the study's SEANet trained until validation stops improving,
  Open-Unmix-sized separators; the embedded dataset at 44.1 kHz.
- ``paper``: the seed study's settings (stereo 44.1 kHz SEANet, latent 512, 24 epochs); GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OTHER_CLASSES = (
    "piano",
    "guitar",
    "organ",
    "strings",
    "synth_lead",
    "synth_pad",
    "brass",
    "reed",
    "chromatic",
)


class PresetError(ValueError):
    """A preset name or override that does not make sense."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise PresetError(msg)


@dataclass(frozen=True)
class DataConfig:
    """The embedded multitrack dataset rendered from music21 scores."""

    n_train: int = 130
    n_test: int = 20
    excerpt_seconds: float = 10.0
    sample_rate: int = 22050
    min_other: int = 2
    max_other: int = 4
    test_fraction: float = 0.15  # share of *pieces* held out for the test split
    seed: int = 0

    def validate(self) -> None:
        _check(
            self.n_train >= 1 and self.n_test >= 1, "data: need at least 1 train and 1 test track"
        )
        _check(self.excerpt_seconds >= 1.0, "data.excerpt_seconds must be >= 1 s")
        _check(8000 <= self.sample_rate <= 96000, "data.sample_rate must be within 8–96 kHz")
        _check(
            1 <= self.min_other <= self.max_other <= 4,
            "data: need 1 <= min_other <= max_other <= 4 instruments in 'other'",
        )
        _check(0.0 < self.test_fraction < 1.0, "data.test_fraction must be in (0, 1)")


@dataclass(frozen=True)
class UnmixConfig:
    """Stage 1: an Open-Unmix "other" model trained on the embedded train split."""

    pretrained: str | None = "umxhq"  # used when its weights are available locally
    hidden_size: int = 128
    nb_layers: int = 3
    n_fft: int = 2048
    hop: int = 512
    max_bandwidth_hz: float = 8000.0
    epochs: int = 15
    batch_size: int = 16
    segment_seconds: float = 4.0
    lr: float = 1e-3
    seed: int = 0

    def validate(self) -> None:
        _check(self.hidden_size > 0 and self.nb_layers > 0, "unmix: hidden_size and nb_layers > 0")
        _check(self.n_fft >= 256 and self.hop > 0 and self.hop <= self.n_fft, "unmix: bad STFT")
        _check(self.epochs >= 1 and self.batch_size >= 1, "unmix: epochs and batch_size >= 1")


@dataclass(frozen=True)
class ModelConfig:
    """SEANet encoder/decoder (from ``encodec.modules``) and its latent."""

    channels: int = 1
    sample_rate: int = 22050
    n_filters: int = 16
    ratios: tuple[int, ...] = (4, 4, 4, 2)
    dimension: int = 64
    lstm: int = 0
    final_activation: str | None = None  # "Tanh" in the study
    latent: str = "deterministic"  # or "vae"

    def validate(self) -> None:
        _check(self.channels in (1, 2), "model.channels must be 1 (mono) or 2 (stereo)")
        _check(self.n_filters > 0 and self.dimension > 0, "model: n_filters, dimension > 0")
        _check(len(self.ratios) >= 1 and all(r >= 1 for r in self.ratios), "model.ratios >= 1")
        _check(self.latent in ("deterministic", "vae"), "model.latent: 'deterministic' or 'vae'")
        _check(self.final_activation in (None, "Tanh"), "model.final_activation: None or 'Tanh'")

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame."""
        hop = 1
        for r in self.ratios:
            hop *= r
        return hop


@dataclass(frozen=True)
class TrainConfig:
    """The autoencoder's loss and optimisation."""

    target: str = "truth"  # train on ground-truth "other" or on the Open-Unmix estimate
    epochs: int = 40  # ~7 min on 2 CPU cores for the cpu model
    batch_size: int = 8
    segment_seconds: float = 1.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    time_weight: float = 1.0
    spec_weight: float = 1.0
    kl_weight: float = 1e-4
    fft_sizes: tuple[int, ...] = (512, 1024, 2048)
    study_schedule: bool = False  # the study's per-epoch loss-weight schedule
    valid_fraction: float = 0.1  # of the train tracks, held out for validation
    # stop after this many epochs without a better validation loss (0: run every epoch); the
    # cpu model's best epoch is 28 of 40, so 5 ends it at 33 with the same best.pt
    patience: int = 5
    seed: int = 0

    def validate(self) -> None:
        _check(self.patience >= 0, "train.patience must be >= 0 (0: no early stopping)")
        _check(self.target in ("truth", "openunmix"), "train.target: 'truth' or 'openunmix'")
        _check(self.epochs >= 1 and self.batch_size >= 1, "train: epochs and batch_size >= 1")
        _check(self.segment_seconds > 0, "train.segment_seconds must be > 0")
        _check(self.lr > 0, "train.lr must be > 0")
        _check(min(self.fft_sizes, default=0) >= 64, "train.fft_sizes must all be >= 64")


@dataclass(frozen=True)
class SeparatorConfig:
    """The mask network (STFT → BLSTM → M softmax masks), trained on mixtures of
    mixtures (MixIT) or, its supervised twin, on the instruments' stems (PIT). Channels are
    separated one by one."""

    sample_rate: int = 16000  # "other" holds little above 8 kHz; 27 % fewer frames than 22.05
    n_fft: int = 1024
    hop: int = 256
    hidden: int = 128
    layers: int = 2
    outputs: int = 4  # M: at least the most instruments an "other" stem holds
    segment_seconds: float = 3.0
    batch_size: int = 8
    # 2 (MixIT) and 3.5 (PIT) min on 2 CPU cores; three times the steps gained little
    steps: int = 500
    lr: float = 1e-3
    snr_max_db: float = 30.0  # the loss's soft threshold (Wisdom et al. 2020)
    seed: int = 0

    def validate(self) -> None:
        _check(8000 <= self.sample_rate <= 96000, "separator.sample_rate within 8–96 kHz")
        _check(0 < self.hop <= self.n_fft, "separator: need 0 < hop <= n_fft")
        _check(self.hidden > 0 and self.layers > 0, "separator: hidden and layers > 0")
        _check(2 <= self.outputs <= 8, "separator.outputs must be within 2–8")
        _check(self.steps >= 1 and self.batch_size >= 1, "separator: steps, batch_size >= 1")
        _check(
            self.segment_seconds * self.sample_rate >= self.n_fft, "separator: segment too short"
        )


@dataclass(frozen=True)
class StemNetConfig:
    """A network learned from the rendered stems (:mod:`latentsep.models.stemnet`): dilated
    convolutions over the log spectrogram with two heads (chimera++), one mask per
    instrument class (``classmask``) and an embedding per time-frequency bin
    (``deepclustering``). Trained on mixtures made on the fly from the train split's isolated
    instrument parts, rendered with each of ``soundfonts``."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 256
    width: int = 256
    blocks: int = 6  # dilations 1, 2, 4, ... frames
    embedding: int = 10  # deep clustering's dimension per bin
    segment_seconds: float = 2.0  # about the receptive field (127 frames)
    batch_size: int = 8
    steps: int = 3000
    lr: float = 1e-3  # cosine-decayed to 5 % over the steps
    # then this many steps more from the trained weights (a warm restart, Loshchilov &
    # Hutter 2017): fresh Adam, the rate cosine-decayed again from ``refine_lr``
    refine: int = 0
    refine_lr: float = 5e-4
    dc_weight: float = 1.0  # the deep-clustering loss beside the masks' L1
    # mixtures that are one train track's own parts as rendered (else parts of different
    # tracks): a share of them taught the network the train pieces, not the instruments
    natural_share: float = 0.0
    # dynamically mixed parts played up to this many semitones higher or lower (and that
    # much faster or slower): pitches and registers the renders did not have
    transpose: int = 0
    # this share of dynamically mixed parts played as people play (:func:`stemnet_training.play`:
    # vibrato, detuning, a volume curve, a microphone's colour and a room), not as sampled
    playing: float = 0.0
    holdout: int = 13  # train tracks (pieces) kept out of training: the validation curve
    # train pieces rendered for the network (0: the dataset's own train split); more render
    # further works of the train split's corpus, the test split unchanged
    train_pieces: int = 0
    # the train split as rendered by each (FluidR3_GM is kept unseen: the test of timbres)
    soundfonts: tuple[str, ...] = ("TimGM6mb", "MuseScore_General_Lite")
    seed: int = 0

    def validate(self) -> None:
        _check(8000 <= self.sample_rate <= 96000, "stemnet.sample_rate within 8–96 kHz")
        _check(0 < self.hop <= self.n_fft, "stemnet: need 0 < hop <= n_fft")
        _check(self.width > 0 and self.blocks > 0, "stemnet: width and blocks > 0")
        _check(self.embedding >= 2, "stemnet.embedding must be >= 2")
        _check(self.steps >= 1 and self.batch_size >= 1, "stemnet: steps, batch_size >= 1")
        _check(self.refine >= 0 and self.refine_lr > 0, "stemnet: refine >= 0, refine_lr > 0")
        _check(0.0 <= self.natural_share <= 1.0, "stemnet.natural_share must be in [0, 1]")
        _check(len(self.soundfonts) >= 1, "stemnet.soundfonts: name at least one")
        _check(self.holdout >= 0, "stemnet.holdout must be >= 0")
        _check(0 <= self.transpose <= 12, "stemnet.transpose must be within 0–12 semitones")
        _check(0.0 <= self.playing <= 1.0, "stemnet.playing must be in [0, 1]")
        _check(self.train_pieces >= 0, "stemnet.train_pieces must be >= 0")
        _check(self.segment_seconds * self.sample_rate >= self.n_fft, "stemnet: segment too short")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    unmix: UnmixConfig = field(default_factory=UnmixConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    separator: SeparatorConfig = field(default_factory=SeparatorConfig)
    stemnet: StemNetConfig = field(default_factory=StemNetConfig)

    def validate(self) -> Preset:
        sections = (self.data, self.unmix, self.model, self.train, self.separator, self.stemnet)
        for section in sections:
            section.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The seed study's SEANet: stereo 44.1 kHz, 48 filters, latent 512, two LSTM layers, Tanh.
_STUDY_MODEL = ModelConfig(
    channels=2,
    sample_rate=44100,
    n_filters=48,
    ratios=(4, 4, 4, 2),
    dimension=512,
    lstm=2,
    final_activation="Tanh",
)

#: A separator of Open-Unmix's shape (3 BLSTM layers on a 2048-point STFT at 44.1 kHz),
#: sized for a Colab T4 session.
_OPEN_UNMIX_SHAPED = SeparatorConfig(
    sample_rate=44100,
    n_fft=2048,
    hop=512,
    hidden=256,
    layers=3,
    outputs=4,
    segment_seconds=4.0,
    batch_size=16,
    steps=10000,
)

PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        description="Tiny everything, for tests: seconds per notebook.",
        data=DataConfig(n_train=4, n_test=2, excerpt_seconds=3.0, sample_rate=16000),
        unmix=UnmixConfig(
            hidden_size=16,
            nb_layers=1,
            n_fft=512,
            hop=128,
            epochs=1,
            batch_size=4,
            segment_seconds=1.0,
        ),
        model=ModelConfig(channels=1, sample_rate=16000, n_filters=4, dimension=8),
        train=TrainConfig(
            epochs=1, batch_size=4, segment_seconds=0.5, fft_sizes=(256, 512), time_weight=1000.0
        ),
        separator=SeparatorConfig(
            sample_rate=16000,
            n_fft=512,
            hop=128,
            hidden=16,
            layers=1,
            steps=4,
            batch_size=2,
            segment_seconds=1.0,
        ),
        stemnet=StemNetConfig(
            n_fft=512,
            hop=128,
            width=16,
            blocks=2,
            embedding=4,
            segment_seconds=1.0,
            batch_size=2,
            steps=6,
            holdout=1,
            soundfonts=("TimGM6mb",),  # no extra install for the tests
        ),
    ),
    "cpu": Preset(
        name="cpu",
        description="The default: the whole book on 2 CPU cores in reasonable time.",
        # With the study's weight of 1, waveform MSE (~1e-3) is drowned by the log-spectral
        # term (~4) and a short run learns spectra but not waveforms; chapter 02 shows both.
        train=TrainConfig(time_weight=1000.0),
        # masks only (the deep-clustering head doubled a step's time and its method stayed
        # below 0 dB); 600 train pieces, as with the dataset's 130 the network learned the
        # pieces it saw; then 6,000 steps from a restarted rate, where its held-out curve
        # flattens (the history shipped with the network; `experiments/stemnet_variant.py`)
        stemnet=StemNetConfig(dc_weight=0.0, steps=9000, train_pieces=600, refine=6000),
    ),
    "gpu": Preset(
        name="gpu",
        description="A Colab T4 session: the study's model, trained to convergence (GPU).",
        data=DataConfig(sample_rate=44100),
        model=_STUDY_MODEL,
        # the cpu preset's loss weights (the study's drown the waveform term), more epochs,
        # stopped by validation
        train=TrainConfig(
            epochs=300, batch_size=16, segment_seconds=1.0, time_weight=1000.0, patience=15
        ),
        separator=_OPEN_UNMIX_SHAPED,
    ),
    "paper": Preset(
        name="paper",
        description="The seed study: stereo 44.1 kHz SEANet, latent 512, 24 epochs (GPU).",
        data=DataConfig(excerpt_seconds=30.0, sample_rate=44100),
        unmix=UnmixConfig(hidden_size=512, epochs=100, segment_seconds=6.0),
        model=_STUDY_MODEL,
        train=TrainConfig(
            epochs=24, batch_size=16, segment_seconds=1.0, study_schedule=True, patience=0
        ),
        # the full-size separator: Open-Unmix's width, 8 outputs, long training
        separator=dataclasses.replace(
            _OPEN_UNMIX_SHAPED, hidden=512, outputs=8, segment_seconds=6.0, steps=60000
        ),
    ),
}


def _coerce(value: Any, like: Any, key: str) -> Any:
    """Convert an override (papermill and the CLI hand over strings too) to the field's type."""
    if isinstance(like, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes"):
                return True
            if value.lower() in ("0", "false", "no"):
                return False
            raise PresetError(f"{key}: expected true/false, got {value!r}")
        return bool(value)
    if isinstance(like, tuple):
        if isinstance(value, str):
            value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        return tuple(type(like[0])(v) if like else v for v in value)
    if like is None or value is None:
        return None if value in (None, "None", "none", "") else value
    try:
        return type(like)(value)
    except (TypeError, ValueError) as err:
        raise PresetError(f"{key}: cannot use {value!r} as {type(like).__name__}") from err


def get_preset(name: str = "cpu", overrides: dict[str, Any] | None = None) -> Preset:
    """The named preset with dotted-key ``overrides`` applied, validated."""
    if name not in PRESETS:
        raise PresetError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return with_overrides(PRESETS[name], overrides)


def with_overrides(preset: Preset, overrides: dict[str, Any] | None) -> Preset:
    """``preset`` with dotted-key ``overrides`` (e.g. ``{"train.epochs": 3}``), validated."""
    for key, value in (overrides or {}).items():
        section_name, _, field_name = key.partition(".")
        section = getattr(preset, section_name, None)
        if not dataclasses.is_dataclass(section) or field_name not in {
            f.name for f in dataclasses.fields(section)
        }:
            raise PresetError(f"unknown preset field {key!r} (use e.g. 'train.epochs')")
        new = _coerce(value, getattr(section, field_name), key)
        preset = dataclasses.replace(
            preset, **{section_name: dataclasses.replace(section, **{field_name: new})}
        )
    return preset.validate()
