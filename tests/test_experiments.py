"""The experiments under ``experiments/`` (the book's ablations) run at smoke scale and use
only the package's public names, so a refactor of its insides cannot silently break them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Every experiment; the modules they share start with an underscore and run nothing.
EXPERIMENTS = sorted(p for p in (ROOT / "experiments").glob("*.py") if not p.name.startswith("_"))
SHARED = sorted((ROOT / "experiments").glob("_*.py"))


def private_names(path: Path) -> list[str]:
    """``latentsep`` names starting with an underscore that ``path`` imports or reads."""
    tree = ast.parse(path.read_text())
    modules = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("latentsep"):
            for a in node.names:
                if a.name.startswith("_"):
                    found.append(f"{node.module}.{a.name}")
                modules[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("latentsep"):
                    modules[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{modules[node.value.id]}.{node.attr}")
    return found


@pytest.mark.parametrize(
    "path", EXPERIMENTS + SHARED + sorted((ROOT / "scripts").glob("*.py")), ids=lambda p: p.name
)
def test_experiments_use_only_public_names(path: Path):
    assert private_names(path) == [], f"{path.name} reaches into the package's insides"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_each_experiment_runs_at_smoke_scale(path: Path, data_root: Path):
    done = subprocess.run(
        [sys.executable, str(path), "--smoke"],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(result in done.stdout for result in ("right (%)", "SI-SDRi", "one player (%)"))
