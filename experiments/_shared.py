"""What several experiments share: the track sets a study scores (rendered or real), and
where a result is written. Not an experiment itself (the tests run every
``experiments/*.py`` not starting with an underscore at smoke scale); the scripts import it
from beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

from latentsep import pipeline
from latentsep.evaluation import multitrack
from latentsep.paths import atomic_write, data_dir

HERE = Path(__file__).parent


def scored_sets(preset, split: str, pieces: int | None = None) -> list[tuple[str, list]]:
    """The tracks a study scores: ``validation`` — the train pieces nothing here learned
    from (:func:`latentsep.pipeline.validation_tracks`), in every training soundfont, to
    choose on; ``test`` — the embedded test set and the unseen timbres, to report.
    ``pieces`` keeps each set's first ones."""
    if split == "validation":
        return [
            (f"validation ({sf})", pipeline.validation_tracks(preset, sf, progress=False)[:pieces])
            for sf in preset.stemnet.soundfonts
        ]
    return [
        ("embedded", pipeline.tracks(preset.data, "test")[:pieces]),
        ("unseen", pipeline.unseen_tracks(preset.data)[:pieces]),
    ]


#: What a study on the real sets says when none is laid out.
NO_REAL_SET = "no real set under data/real/: lay them out with scripts/real_devset.py"


def real_sets(preset, names: list[str]) -> dict[str, list]:
    """The cases of each real set ``names`` under ``data/real/`` that is laid out
    (``scripts/real_devset.py``); the others left out."""
    root = data_dir() / "real"
    return {
        name: multitrack.cases(multitrack.read_folder(root / name), preset.model)
        for name in names
        if (root / name).is_dir()
    }


def kinds_of(case) -> list[str]:
    """Each real part's kind of instrument: its name without the leading number ("2 violin"
    → "violin"), so that two players of one instrument share it."""
    return [name.split(" ", 1)[-1] for name in case.references]


def measured_on() -> dict:
    """Where and when a result was measured (:func:`latentsep.device.measured_on`)."""
    from latentsep.device import measured_on as on

    return on(HERE, ("src", "experiments"))


def report(name: str, result: dict) -> dict:
    """Print a result and write it to ``data/experiments/<name>.json`` (atomically), with
    where and when it was measured."""
    result = {**result, "measured on": measured_on()}
    text = json.dumps(result, indent=1)
    path = data_dir() / "experiments" / f"{name}.json"
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
    print(text)
    return result
