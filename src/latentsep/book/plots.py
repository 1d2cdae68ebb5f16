"""Figures and players for the book: spectrograms with axes and units, audio next to them."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from latentsep import spectral


def spectrogram_db(x: np.ndarray, rate: int, n_fft: int = 1024) -> tuple[np.ndarray, ...]:
    """Log-magnitude spectrogram (dB) of the channel mean: (freqs Hz, times s, dB)."""
    mono = x.mean(axis=0) if x.ndim == 2 else x
    z = spectral.stft(mono, n_fft, n_fft // 4)
    f, t = spectral.frequencies(n_fft, rate), spectral.times(z.shape[-1], n_fft // 4, rate)
    return f, t, 20 * np.log10(np.abs(z) + 1e-6)


def spectrograms(
    signals: dict[str, np.ndarray],
    rate: int,
    max_hz: float | None = 8000.0,
    title: str | None = None,
):
    """One spectrogram per named signal, stacked, on a shared colour scale."""
    n = len(signals)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n), sharex=True, squeeze=False)
    vmax = max(spectrogram_db(x, rate)[2].max() for x in signals.values())
    for ax, (name, x) in zip(axes[:, 0], signals.items(), strict=True):
        f, t, db = spectrogram_db(x, rate)
        mesh = ax.pcolormesh(
            t,
            f / 1000,
            db,
            vmin=vmax - 80,
            vmax=vmax,
            shading="auto",
            cmap="magma",
            rasterized=True,
        )
        ax.set_ylabel("kHz")
        ax.set_ylim(0, (max_hz or rate / 2) / 1000)
        ax.set_title(name, loc="left", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    fig.colorbar(mesh, ax=axes[:, 0], label="dB", fraction=0.025, pad=0.01)
    if title:
        fig.suptitle(title)
    return fig


def audio_player(x: np.ndarray, rate: int, label: str | None = None, max_seconds: float = 6.0):
    """An inline HTML audio player of the first ``max_seconds`` (the WAV is embedded in the
    page, so it plays offline; the cap keeps pages light)."""
    from IPython.display import HTML, Audio

    clip = x[..., : int(max_seconds * rate)]
    # normalising silence divides by zero: a part that rests through the clip stays silent
    audio = Audio(clip, rate=rate, normalize=bool(np.any(clip != 0)))
    if label is None:
        return audio
    return HTML(f"<p style='margin:0'><b>{label}</b></p>{audio._repr_html_()}")


def box(
    data,
    x: str,
    y: str,
    hue: str | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    order: Sequence[str] | None = None,
):
    """A seaborn box plot with the points on top."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.boxplot(data=data, x=x, y=y, hue=hue, ax=ax, fliersize=0, order=order)
    sns.stripplot(
        data=data,
        x=x,
        y=y,
        hue=hue,
        ax=ax,
        order=order,
        dodge=hue is not None,
        color="k",
        size=3,
        alpha=0.5,
        legend=False,
    )
    ax.set_ylabel(ylabel or y)
    ax.tick_params(axis="x", labelrotation=20)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


#: Set by ``latentsep book``: widgets have no kernel in the HTML book, so explorers render
#: their first view statically instead.
STATIC_ENV = "LATENTSEP_STATIC"


def frontend_attached() -> bool:
    """Whether a person's notebook frontend (Jupyter, Colab, VS Code) runs this kernel.

    Frontends send execute requests that allow ``input()``; papermill and nbconvert do not.
    Widgets with no frontend to answer their messages can stall a papermill run, so
    without one the explorers render statically."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    return bool(getattr(kernel, "_allow_stdin", False))


def explorer(render: Callable[..., None], choices: dict[str, Sequence], static: bool | None = None):
    """Dropdowns (ipywidgets) over ``choices`` that call ``render(**selection)``. In the built
    book, or without ipywidgets, the first choice of each renders statically, with a note."""
    from IPython.display import Markdown, display

    if static is None:
        static = os.environ.get(STATIC_ENV) == "1" or not frontend_attached()
    if not static:
        try:
            import ipywidgets
        except ImportError:
            static = True
    if static:
        first = {k: v[0] for k, v in choices.items()}
        shown = ", ".join(f"{k} = {v}" for k, v in first.items())
        options = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in choices.items())
        display(
            Markdown(
                f"*Explorer, static view ({shown}). Run this notebook in Jupyter or "
                f"Colab to choose among {options}.*"
            )
        )
        render(**first)
        return None
    return ipywidgets.interact(
        render,
        **{k: ipywidgets.Dropdown(options=list(v), description=k) for k, v in choices.items()},
    )


def listen(signals: dict[str, np.ndarray], rate: int, title: str | None = None) -> None:
    """Spectrograms of the named signals, then a player for each: the sound beside the
    picture, wherever sound is the point."""
    from IPython.display import display

    spectrograms(signals, rate, title=title)
    plt.show()
    for label, x in signals.items():
        display(audio_player(x, rate, label))
