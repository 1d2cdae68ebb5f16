"""Smoke runs of every chapter with the `smoke` preset, through papermill like the book."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from latentsep import cli
from latentsep.book import build as book
from latentsep.book import colab

ROOT = Path(__file__).resolve().parents[1]
SOURCES = book.chapter_sources(ROOT / "notebooks")

#: Text that each executed chapter must show (proof that its cells really ran).
EXPECTED_OUTPUT = {
    "00_overview": ["0.1822", "preset 'smoke'", "tracks (train/test)", "torchaudio"],
    "01_data_preparation": [
        "4 train and 2 test tracks",
        "other_",
        "<audio",
        "Open-Unmix",
        "median SDR",
        "image/png",
    ],
    "02_autoencoder_training": [
        "level (dB)",
        "seed study (reported, MUSDB18)",
        "ours, vae (median)",
        "SI-SDR (dB)",
        "<audio",
        "parameters (M)",
        "image/png",
    ],
    "03_latent_analysis": [
        "linear probe accuracy",
        "silhouette, within a track (median)",
        "latent frames",
        "image/png",
    ],
    "05_results": [
        "seed study: guitar + piano mix (reported)",
        "ours (median, embedded test set)",
        "The study's method, reproduced",
        "Hoyer sparsity",
        "Separating without stems:",
        "of the oracle mask's",
    ],
    "06_beyond": [
        "NMF, oracle grouping",
        "nmf+latent",
        "nmf+harmonic",
        "mixit: 4 steps",
        "share of the oracle",
        "mixit sounding outputs",
        "counting rule",
        "× real time",
        "<audio",
    ],
    "07_performance": ["this machine", "torch"],
    "04_clustering": [
        "oracle IRM",
        "Hoyer sparsity",
        "SIR (dB)",
        "right (%)",
        "<audio",
        "Explorer, static view",
        "image/png",
    ],
}


def test_chapters_exist_in_order():
    assert [p.stem for p in SOURCES][:1] == ["00_overview"]
    assert all(p.stem in EXPECTED_OUTPUT for p in SOURCES), "add the new chapter's checks"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_chapter_structure(source: Path):
    nb = jupytext.read(source)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "preset =" in tagged[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "google.colab" in code[0].source, "first code cell installs the package in Colab"
    assert colab.badge_url(source.stem) in source.read_text(), "Open-in-Colab link"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_colab_copy_is_in_sync(source: Path):
    copy = ROOT / "notebooks" / "colab" / f"{source.stem}.ipynb"
    assert copy.exists(), "run `make colab` to write the Colab copies"
    assert copy.read_text() == colab.render_copy(source), "run `make colab`"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_chapter_runs_with_smoke_preset(source: Path, smoke_book: Path):
    nb = json.loads((smoke_book / "chapters" / f"{source.stem}.ipynb").read_text())
    text = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", o
            text.append(
                o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
            )
            for mime, value in o.get("data", {}).items():
                text.append(mime)
                text.append(value if isinstance(value, str) else "".join(map(str, value)))
    blob = "\n".join(text)
    for expected in EXPECTED_OUTPUT[source.stem]:
        assert expected in blob, f"{expected!r} missing from {source.stem}'s outputs"
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "smoke" in "".join(injected[0]["source"])


@pytest.mark.slow
def test_sweep_collects_a_table_and_survives_a_failed_run(data_root: Path, tmp_path: Path):
    out = tmp_path / "sweep"
    code = cli.main(
        [
            "sweep",
            "04_clustering",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--grid",
            'methods=[["kmeans"], ["no-such-method"]]',
            "--grid",
            "n_tracks=[1]",
        ]
    )
    assert code == 1  # one run failed, and says so
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["ok", "failed"]
    assert "unknown separation method" in table.loc[1, "error"]
    ok = table.loc[0]
    assert np.isfinite(ok["median SI-SDRi kmeans"]) and ok["median SI-SDRi oracle IRM"] > 0
    assert (out / "results.png").is_file()
    assert len(list((out / "runs").glob("*.ipynb"))) == 2
