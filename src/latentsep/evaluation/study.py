"""The seed study's reported numbers, quoted from its report so tables can sit beside ours.

These are the only numbers in the book that our code does not compute; every table that
shows them labels them as the study's.
"""

from __future__ import annotations

import pandas as pd

#: Stage 2, the SEANet autoencoder on MUSDB18 "other" (20 test songs).
AUTOENCODER = {
    "epochs": 24,
    "final training loss": 0.1822,
    "test MSE": 0.0024,
    "SNR (dB)": 1.79,
    "spectral MSE": 13.70,
    "cosine similarity": 0.773,
}

#: Stage 1: Open-Unmix's SNR on the same "other" test stems.
OPENUNMIX_SNR_DB = 5.32

#: Stage 3: the guitar + piano synthetic mix separated by frame clustering.
SYNTHETIC_MIX_SDR_DB = -4.1

#: Setup of the study (MUSDB18 split, model), for the overview.
SETUP = {
    "dataset": "MUSDB18, 'other' stems extracted by pretrained Open-Unmix",
    "train / test songs": "130 / 20",
    "model": "SEANet encoder/decoder (EnCodec), stereo 44.1 kHz, ratios [4,4,4,2], latent 512",
    "loss": "MSE (time) + MSE (log spectrogram, FFT 512/1024/2048) + KL term",
    "clustering": "K-Means, Agglomerative, DBSCAN on latent frames",
}


def autoencoder_table() -> pd.DataFrame:
    """The study's autoencoder numbers as a one-column table (each value as reported: the
    epochs an integer, not 24.0000)."""
    return pd.DataFrame({"seed study (reported)": pd.Series(AUTOENCODER, dtype=object)})
