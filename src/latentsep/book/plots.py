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


def _spectrogram_png(
    spec: tuple[np.ndarray, ...], vmax: float, max_hz: float | None, rate: int
) -> str:
    """One spectrogram as a base64 PNG. A bare Figure (not pyplot's): the inline backend
    must not show it a second time."""
    import base64
    import io

    from matplotlib.figure import Figure

    f, t, db = spec
    fig = Figure(figsize=(5.0, 1.6), dpi=100)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(
        t, f / 1000, db, vmin=vmax - 80, vmax=vmax, shading="auto", cmap="magma", rasterized=True
    )
    ax.set(xlabel="time (s)", ylabel="kHz", ylim=(0, (max_hz or rate / 2) / 1000))
    fig.colorbar(mesh, ax=ax, label="dB", fraction=0.03, pad=0.01)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


#: The class of one spectrogram + player unit (the screenshot test looks for it).
LISTEN_CLASS = "latentsep-listen"


def listen_html(
    signals: dict[str, np.ndarray],
    rate: int,
    title: str | None = None,
    max_hz: float | None = 8000.0,
    max_seconds: float = 6.0,
) -> str:
    """HTML of one unit per named signal: its name, then its spectrogram with its player
    beside it (under it on a narrow screen). Each shows the clip that plays (the first
    ``max_seconds``), on a colour scale shared by all units."""
    from html import escape

    clips = {name: x[..., : int(max_seconds * rate)] for name, x in signals.items()}
    specs = {name: spectrogram_db(x, rate) for name, x in clips.items()}
    vmax = max(float(db.max()) for _, _, db in specs.values())
    rows = [f"<p style='margin:0.5em 0'><b>{escape(title)}</b></p>"] if title else []
    for name, x in clips.items():
        png = _spectrogram_png(specs[name], vmax, max_hz, rate)
        player = audio_player(x, rate, max_seconds=max_seconds)._repr_html_()
        player = player.replace("<audio ", "<audio style='width:100%' ", 1)
        # the name heads the unit, so it never reads as the caption of the next picture
        rows.append(
            f"<div class='{LISTEN_CLASS}' style='margin:6px 0 10px'>"
            f"<div style='font-weight:bold'>{escape(name)}</div>"
            "<div style='display:flex;flex-wrap:wrap;align-items:center;gap:4px 12px'>"
            f"<img src='data:image/png;base64,{png}' alt='spectrogram: {escape(name)}' "
            "style='width:440px;max-width:100%;height:auto'>"
            f"<div style='flex:1 1 220px;max-width:320px'>{player}</div></div></div>"
        )
    return "\n".join(rows)


def listen(
    signals: dict[str, np.ndarray],
    rate: int,
    title: str | None = None,
    max_hz: float | None = 8000.0,
) -> None:
    """Each named signal's spectrogram with its player beside it, as one unit: the sound
    next to its picture, wherever sound is the point (see :func:`listen_html`)."""
    from IPython.display import HTML, display

    display(HTML(listen_html(signals, rate, title=title, max_hz=max_hz)))


#: What a table says where a measure is infinite: an estimate that is silence (SI-SDR −∞).
SILENT_NOTE = (
    "not reported (silent): the method's estimate of most of these instruments is silence, "
    "whose SI-SDR is −∞; the median of such scores is not a number."
)


class NotedTable:
    """A table with a footnote under it, shown as one output (HTML and text)."""

    def __init__(self, frame, note: str):
        self.frame, self.note = frame, note

    def _repr_html_(self) -> str:
        import html

        return self.frame.to_html() + f"<p><small><em>{html.escape(self.note)}</em></small></p>"

    def __repr__(self) -> str:
        return f"{self.frame!r}\n{self.note}"


def table(frame, digits: int | None = None, missing: str = "not reported"):
    """A table for the reader: rounded to ``digits`` (a column where that would show a
    non-zero value as 0 in e-notation), with ``missing`` (not NaN) where there is no value
    and "not reported (silent)" where it is infinite (with :data:`SILENT_NOTE` under the
    table). Only the columns with a gap become text, so the
    others keep their number format."""
    import numpy as np

    # float32 rounds to values like -28.799999 on the page: round in float64
    wide = {c: "float64" for c, kind in frame.dtypes.items() if kind == "float32"}
    out = frame.astype(wide) if wide else frame.copy()
    out = out.round(digits) if digits is not None else out
    if digits is not None:
        # a value that rounds to zero would read as an exact 0.0000: such a column in e-notation
        for column in out.select_dtypes("floating").columns:
            lost = (out[column] == 0) & (frame[column] != 0)
            if lost.any():
                out[column] = frame[column].map(lambda v: "0" if v == 0 else f"{v:.2e}")
    numeric = out.select_dtypes("number")
    infinite = numeric.columns[np.isinf(numeric.to_numpy()).any(axis=0)]
    for column in infinite:
        values = out[column]
        out[column] = values.astype(object).where(~np.isinf(values), "not reported (silent)")
    for column in out.columns[out.isna().any()]:
        out[column] = out[column].astype(object).where(out[column].notna(), missing)
    return NotedTable(out, SILENT_NOTE) if len(infinite) else out
