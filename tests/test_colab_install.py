"""A chapter's Colab install cell, run against this checkout in a clean virtual environment.

The cell's ``pip`` lines run as written, with the ``git+`` address replaced by a copy of the
checkout's package files (what ``git clone`` would give, plus uncommitted edits). The new
environment sees the dependencies already installed in this one (torch alone is gigabytes;
the test must run offline and in a minute or two), but not latentsep itself, which the cell
has to install. ``--no-build-isolation`` builds with this environment's setuptools instead
of downloading one.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import jupytext
import pytest

from latentsep.paths import repository_url

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FILES = ["pyproject.toml", "README.md", "src"]


def install_commands(source: Path) -> list[list[str]]:
    """The ``!pip ...`` lines of the chapter's first code cell (its Colab install cell)."""
    cell = next(c for c in jupytext.read(source).cells if c.cell_type == "code")
    lines = [line.strip()[1:] for line in cell.source.splitlines() if line.strip().startswith("!")]
    return [shlex.split(line) for line in lines if line.startswith("pip ")]


def dependencies_only(target: Path) -> Path:
    """A folder of links to this environment's installed packages, except latentsep."""
    target.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "latentsep" in entry.name or entry.name.endswith(".pth"):
            continue
        (target / entry.name).symlink_to(entry)
    return target


@pytest.mark.slow
def test_the_colab_install_cell_installs_the_package(tmp_path: Path):
    commands = install_commands(ROOT / "notebooks" / "00_overview.md")
    address = f"git+{repository_url()}"
    assert any(address in arg for cmd in commands for arg in cmd), "the cell installs from git"

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in PACKAGE_FILES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, checkout / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, checkout / name)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = dependencies_only(tmp_path / "deps")
    Path(site, "dependencies.pth").write_text(f"{deps}\n")  # pip comes from there too

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    for cmd in commands:
        args = [arg.replace(address, checkout.as_uri()) for arg in cmd[1:]]
        run = subprocess.run(
            [python, "-m", "pip", *args, "--no-build-isolation"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert run.returncode == 0, f"pip {' '.join(args)}:\n{run.stdout}\n{run.stderr}"

    probe = (
        "import json, latentsep; from latentsep.paths import repository_url; "
        "from latentsep.book import colab; "
        "print(json.dumps([latentsep.__file__, repository_url(), colab.badge_url('00_overview')]))"
    )
    run = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert run.returncode == 0, run.stderr
    module, url, badge = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(module).is_relative_to(Path(site)), f"imported {module}, not the installed copy"
    assert url == repository_url(), "the address comes from the installed package's metadata"
    assert badge.startswith("https://colab.research.google.com/github/")
