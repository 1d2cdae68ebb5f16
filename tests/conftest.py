from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide LATENTSEP_DATA so smoke artifacts are shared between tests, not reused
    from the developer's data/."""
    root = tmp_path_factory.mktemp("latentsep-data")
    old = os.environ.get("LATENTSEP_DATA")
    os.environ["LATENTSEP_DATA"] = str(root)
    yield root
    if old is None:
        os.environ.pop("LATENTSEP_DATA", None)
    else:
        os.environ["LATENTSEP_DATA"] = old
