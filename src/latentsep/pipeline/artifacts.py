"""Cached artifacts: ``data/<folder>/<key>/``, the key a hash of everything that shapes
one, restored from ``shipped/`` when a copy of that key is shipped, forgotten on request."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentsep.paths import atomic_write, data_dir, file_sha256, param_key, repo_root

META = "artifact.json"


@dataclass(frozen=True)
class Artifact:
    """A cached artifact: ``data/<folder>/<key>/``, the key a hash of ``params`` (which
    hold the code version and the inputs' keys)."""

    name: str  # what it is, for people: "dataset", "autoencoder", ...
    folder: str
    params: Any
    inputs: tuple[Artifact, ...] = ()

    @property
    def key(self) -> str:
        return param_key(self.params)

    @property
    def path(self) -> Path:
        return data_dir() / self.folder / self.key

    def made(self, seconds: float) -> None:
        """Note that the artifact was made, and how long it took (for ``status``)."""
        meta = {
            "name": self.name,
            "key": self.key,
            "params": self.params,
            "inputs": {a.name: a.key for a in self.inputs},
            "seconds": round(seconds, 1),
        }
        atomic_write(self.path / META, lambda p: p.write_text(json.dumps(meta, indent=1)))

    def seconds(self) -> float | None:
        """How long making it took, if the pipeline made it."""
        meta = self.path / META
        return json.loads(meta.read_text()).get("seconds") if meta.is_file() else None

    @property
    def shipped_name(self) -> str:
        return f"{self.folder}/{self.key}"

    def usable_shipped(self) -> bool:
        """Whether a copy of this key is shipped and may be used (not retraining)."""
        return self.shipped_name in shipped_manifest() and not retraining()

    def cached(self) -> bool:
        """Whether the artifact is made (or restored) in the cache: :func:`is_cached`."""
        return is_cached(self.folder, self.key)

    def restore(self) -> bool:
        """Copy the shipped artifact of this key into the cache (checksums verified first);
        False when none is shipped or retraining is asked for."""
        entry = shipped_manifest().get(self.shipped_name)
        if entry is None or retraining():
            return False
        source = shipped_dir() / self.shipped_name
        for file, info in entry["files"].items():
            if file_sha256(source / file) != info["sha256"]:
                raise ValueError(
                    f"{source / file}: does not match its checksum in shipped/{SHIPPED}; "
                    "restore it (git checkout shipped/) or retrain (LATENTSEP_RETRAIN=1)"
                )
        tmp = self.path.with_name(f"{self.key}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        (tmp / RESTORED).write_text(json.dumps(entry, indent=1))  # for origin()
        if self.path.exists():  # an incomplete earlier attempt (a killed training run)
            forget(self)
        os.replace(tmp, self.path)
        return True


#: The shipped artifacts' manifest, in ``shipped/``; a restored copy keeps its entry.
SHIPPED = "manifest.json"


RESTORED = "shipped.json"


MADE_HERE = "made on this machine"


def origin(art: Artifact, minutes: bool = True) -> str:
    """Where a cached artifact came from, in words for a chapter: made here, or restored
    from ``shipped/`` (the machine, date, time taken unless not ``minutes``, and the command
    that made it there)."""
    restored = art.path / RESTORED
    if not restored.is_file():
        return MADE_HERE
    made = json.loads(restored.read_text())["made"]
    m = made.get("machine", {})
    took = f", {made['seconds'] / 60:.1f} min" if made.get("seconds") and minutes else ""
    return (
        f"shipped: made on {made.get('date', '?')} on {m.get('CPU', '?')} "
        f"({m.get('CPU cores', '?')} cores, GPU {m.get('GPU', 'none')}){took} by "
        f"`{made.get('command', '?')}`; `make book RETRAIN=1` makes it here instead"
    )


def shipped_dir() -> Path:
    """``shipped/`` of the source checkout (the package's own folder when installed)."""
    root = repo_root()
    return (root if root is not None else Path(__file__).parents[1]) / "shipped"


def shipped_manifest() -> dict[str, dict]:
    """Every shipped artifact: ``folder/key`` -> name, files with checksums, how it was made."""
    path = shipped_dir() / SHIPPED
    return json.loads(path.read_text()) if path.is_file() else {}


_IGNORING_SHIPPED = []


def retraining() -> bool:
    """Whether shipped artifacts are to be ignored (``LATENTSEP_RETRAIN=1``, or within
    :func:`without_shipped`)."""
    return bool(_IGNORING_SHIPPED) or os.environ.get("LATENTSEP_RETRAIN", "") not in ("", "0")


@contextmanager
def without_shipped() -> Iterator[None]:
    """Within it, shipped copies are not restored: what is not cached is made here."""
    _IGNORING_SHIPPED.append(True)
    try:
        yield
    finally:
        _IGNORING_SHIPPED.pop()


def forget(art: Artifact) -> None:
    """Remove a cached artifact (a retrain from nothing makes it again)."""
    if art.path.exists():
        old = art.path.with_name(f"{art.key}.old-{time.monotonic_ns()}")
        art.path.rename(old)  # a reader never sees half a folder
        shutil.rmtree(old, ignore_errors=True)


#: The file whose presence says an artifact of each folder is complete.
DONE = {
    "plans": ["plan.json.gz"],
    "embedded": ["manifest.json"],
    "openunmix": ["other.pth"],
    "models": ["best.pt"],
    "separators": ["separator.pt", "stemnet.pt", "dictionaries.npz", "count.json", "pairnet.pt"],
    "evaluations": ["runs.csv"],
}


def is_cached(folder: str, key: str) -> bool:
    """Whether ``data/<folder>/<key>/`` holds a complete artifact (:data:`DONE`)."""
    return any((data_dir() / folder / key / f).is_file() for f in DONE[folder])


def size_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
