"""The package's layers import one way: base → data → models → separation → evaluation →
pipeline → book/cli. Read from the source (every import, module-level or inside a
function), so a shortcut back up the stack fails here, not in a reviewer's head."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "latentsep"
LAYERS = {
    "presets": 0,
    "paths": 0,
    "device": 0,
    "audio": 0,
    "spectral": 0,
    "parallel": 0,
    "tuning": 0,
    "data": 1,
    "models": 2,
    "separation": 3,
    "evaluation": 4,
    "pipeline": 5,
    "book": 6,
    "cli": 6,
    "__main__": 7,
    "__init__": 7,  # the public API re-exports from every layer, lazily
}


def layer(module: str) -> int:
    """The layer of ``latentsep.x.y`` (``latentsep`` alone: the package's version only)."""
    parts = module.split(".")
    if parts == ["latentsep"]:
        return 0
    return LAYERS[parts[1]]


def imports(path: Path) -> list[str]:
    """Every latentsep module imported in ``path``, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("latentsep")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("latentsep"):
            # `from latentsep import pipeline` imports the module latentsep.pipeline
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                top = sub.split(".")[1] if node.module == "latentsep" else None
                found.append(sub if top in LAYERS else node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in MODULES:
        rel = path.relative_to(PACKAGE).with_suffix("")
        assert rel.parts[0] in LAYERS, f"{rel}: add it to a layer in tests/test_layers.py"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    own = LAYERS[rel.parts[0]]
    for module in imports(path):
        if module == "latentsep" and own < 7:
            continue  # __version__
        assert layer(module) <= own, f"{rel} (layer {own}) imports {module} (layer {layer(module)})"


def test_the_checker_catches_an_upward_import(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from latentsep import pipeline\n    import latentsep.book.plots\n"
    )
    assert imports(bad) == ["latentsep.pipeline", "latentsep.book.plots"]
    assert layer("latentsep.pipeline") > LAYERS["models"]
