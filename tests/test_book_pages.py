"""What a reader sees on a chapter's page: each player beside its spectrogram, tables that
say "not reported" instead of NaN, wrapped code lines."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from latentsep.book import plots

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000


def test_every_player_sits_in_one_unit_with_its_spectrogram():
    rng = np.random.default_rng(0)
    signals = {"mixture": rng.normal(size=(1, 2 * RATE)), "a <rest>": np.zeros((1, 2 * RATE))}
    html = plots.listen_html(signals, RATE, title="track")
    units = html.split(f"<div class='{plots.LISTEN_CLASS}'")[1:]
    assert len(units) == len(signals)
    for unit, name in zip(units, ["mixture", "a &lt;rest&gt;"], strict=True):
        assert unit.count("<audio") == 1 and unit.count("<img") == 1
        assert unit.index(name) < unit.index("<img") < unit.index("<audio")
        assert "src='data:image/png;base64," in unit


def test_listen_shows_one_output_and_no_extra_figure(monkeypatch):
    import matplotlib.pyplot as plt
    from IPython import display as ipd

    shown = []
    monkeypatch.setattr(ipd, "display", lambda *objs, **kw: shown.extend(objs))
    plots.listen({"x": np.ones((1, RATE))}, RATE)
    assert len(shown) == 1 and "<audio" in shown[0].data
    assert not plt.get_fignums(), "pyplot would show the spectrogram a second time"


def test_tables_say_not_reported_instead_of_nan():
    frame = pd.DataFrame(
        {("SDR", "median"): [1.234, np.nan], ("SDR", "IQR"): [0.5, 0.25]}, index=["ours", "study"]
    )
    shown = plots.table(frame, 2)
    assert shown.loc["study", ("SDR", "median")] == "not reported"
    assert shown.loc["ours", ("SDR", "median")] == 1.23
    assert shown[("SDR", "IQR")].dtype == float  # columns without a gap stay numbers
    assert "NaN" not in shown.to_html()
    assert plots.table(frame, missing="not measured").iloc[1, 0] == "not measured"


def test_code_lines_wrap_in_the_book():
    css = "\n".join(p.read_text() for p in (ROOT / "book" / "_static").glob("*.css"))
    assert re.search(r"div\.cell div\.highlight pre[^{]*\{[^}]*white-space:\s*pre-wrap", css)


def test_a_value_too_small_for_the_digits_is_not_shown_as_zero():
    frame = pd.DataFrame({"MSE": [0.0, 3.2e-6], "dB": [1.234, 0.0]}, index=["a", "b"])
    shown = plots.table(frame, 4)
    assert list(shown["MSE"]) == ["0", "3.20e-06"]
    assert list(shown["dB"]) == [1.234, 0.0]  # exact zeros and readable values stay numbers
