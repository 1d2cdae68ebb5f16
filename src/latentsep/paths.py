"""Where data and artifacts live, and how artifacts are keyed by their parameters."""

from __future__ import annotations

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


def code_digest(package: Path | None = None) -> str:
    """One hash of every ``.py`` file of the package (path and bytes, sorted by path): the
    code version of what is keyed by all of it (a chapter's execution, a timing)."""
    package = package or Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


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
