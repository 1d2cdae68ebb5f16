"""Where data and artifacts live, and how artifacts are keyed by their parameters."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any


def repo_root() -> Path | None:
    """The source checkout this package runs from, or None when installed elsewhere."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "notebooks").is_dir():
            return parent
    return None


def _pyproject_repository(pyproject: Path) -> str | None:
    text = pyproject.read_text()
    try:
        import tomllib
    except ImportError:  # Python 3.10: the one line we need, without a TOML parser
        section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        line = section and re.search(r'^Repository\s*=\s*"([^"]+)"', section.group(1), re.M)
        return line.group(1) if line else None
    return tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository")


def code_digest(package: Path | None = None, files: set[Path] | None = None) -> str:
    """One hash of every ``.py`` file of the package (path and bytes, sorted by path), or of
    ``files`` among them: the code version of what is keyed by it (a chapter's execution, a
    timing)."""
    package = package or Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if files is not None and path.resolve() not in files:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _module_file(name: str, package: Path) -> Path | None:
    """The file of module ``latentsep.a.b``: ``a/b.py`` or ``a/b/__init__.py``."""
    base = package.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.name != ".py" and candidate.is_file():
            return candidate.resolve()
    return None


def imported_names(tree: ast.AST, current: str = "") -> set[str]:
    """Every ``latentsep`` module a piece of code may import — at the top or inside a
    function, ``from latentsep.x import y`` counting ``latentsep.x.y`` in case ``y`` is a
    module, and module names in strings (``import_module("latentsep.x")``, the package's lazy
    API); ``current`` resolves relative imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"latentsep(\.\w+)+", node.value):
                names.add(node.value)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = current.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n == "latentsep" or n.startswith("latentsep.")}


def module_closure(names: set[str], package: Path | None = None) -> set[Path]:
    """The files of ``names`` and of every ``latentsep`` module they import, transitively,
    with the ``__init__`` of every package on the way (Python runs those on import)."""
    package = (package or Path(__file__).parent).resolve()
    todo, seen, files = list(names), set(), set()
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the packages above run first
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            seen.add(prefix)
            path = _module_file(prefix, package)
            if path is None:
                continue
            files.add(path)
            # relative imports count from the package: a package's own name, a module's parent
            current = f"{prefix}.__init__" if path.name == "__init__.py" else prefix
            todo.extend(imported_names(ast.parse(path.read_bytes()), current))
    return files


@functools.lru_cache(maxsize=1)
def repository_url() -> str:
    """The project's repository address, ``[project.urls] Repository`` in pyproject.toml:
    the checkout's file, else the installed package's metadata (in Colab, say)."""
    root = repo_root()
    if root is not None and (url := _pyproject_repository(root / "pyproject.toml")):
        return url.rstrip("/")
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        entries = metadata("latentsep").get_all("Project-URL") or []
    except PackageNotFoundError:
        entries = []
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise RuntimeError("pyproject.toml names no repository: set [project.urls] Repository")


def data_dir() -> Path:
    """Root for datasets and artifacts: ``$LATENTSEP_DATA``, else ``<repo>/data``, else ./data."""
    env = os.environ.get("LATENTSEP_DATA")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    return (root / "data") if root is not None else Path.cwd() / "data"


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``), for the records of where a number or an
    artifact was made; None where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (a dataset's WAVs, a shipped model)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def param_key(params: Any, length: int = 10) -> str:
    """A short stable hash of JSON-able parameters, used to key cached artifacts."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename tmp to ``path``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
