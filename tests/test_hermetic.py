"""The suite does not depend on the machine: a developer's MUSDB_PATH or cached Open-Unmix
weights change nothing, and tests leave no state behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_ignores_musdb_path_and_cached_weights(tmp_path: Path):
    """Tests that assume no MUSDB and no pretrained weights pass on a machine that has both
    (here: a MUSDB_PATH that exists and a torch hub holding a "umxhq" checkpoint file)."""
    from latentsep.models import openunmix

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / openunmix.PRETRAINED_OTHER["umxhq"].rsplit("/", 1)[1]).write_bytes(b"weights")
    (tmp_path / "musdb").mkdir()
    env = {
        **os.environ,
        "MUSDB_PATH": str(tmp_path / "musdb"),
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    tests = [
        "tests/test_data.py::test_no_root_without_download",
        "tests/test_unmix.py::test_pretrained_weights_missing_means_none",
        "tests/test_hermetic.py::test_inside_the_suite_the_machine_is_hidden",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 passed" in done.stdout


def test_inside_the_suite_the_machine_is_hidden():
    assert "MUSDB_PATH" not in os.environ
    assert not any(Path(torch.hub.get_dir()).rglob("*.pth"))
