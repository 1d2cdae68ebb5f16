"""Where data and artifacts live, and how artifacts are keyed by their parameters."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_URL = "https://github.com/latentsep/latentsep"


def repo_root() -> Path | None:
    """The source checkout this package runs from, or None when installed elsewhere."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "notebooks").is_dir():
            return parent
    return None


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
