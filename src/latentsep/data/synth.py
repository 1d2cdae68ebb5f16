"""Render note lists to audio with a General MIDI soundfont (by default the one pretty_midi
ships).

Rendering uses tinysoundfont (hundreds of times real time). Each stem is rendered alone, so
its audio is that instrument's ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

#: GM programs (0-based) by instrument class, and the MIDI range each class plays well in.
GM_CLASSES: dict[str, tuple[tuple[int, ...], tuple[int, int]]] = {
    "piano": ((0, 1, 2, 4, 5, 6), (36, 96)),
    "guitar": ((24, 25, 26, 27, 29), (40, 84)),
    "organ": ((16, 17, 19), (36, 96)),
    "strings": ((40, 41, 42, 48, 49), (36, 96)),
    "synth_lead": ((80, 81, 87), (48, 96)),
    "synth_pad": ((88, 89, 90, 91), (36, 84)),
    "brass": ((56, 57, 60, 61), (40, 82)),
    "reed": ((64, 65, 66, 68, 71), (44, 84)),
    "chromatic": ((8, 11, 12), (60, 96)),
    # the MUSDB stand-ins
    "bass": ((32, 33, 34, 35, 38), (28, 60)),
    "vocals": ((52, 53, 54), (48, 81)),
}

DRUM_KEYS = {"kick": 36, "snare": 38, "hihat": 42, "crash": 49}


@dataclass(frozen=True)
class Event:
    time: float  # seconds
    key: int
    velocity: int  # 0 = note off


#: The General MIDI soundfonts the renderer knows: name -> (file, where it comes from). The
#: embedded dataset uses pretty_midi's TimGM6mb; the others are Debian packages that the
#: set-up installs (as root on Debian/Ubuntu) for the unseen-timbre test set and the
#: separators' training renders.
SOUNDFONTS: dict[str, tuple[str, str]] = {
    "TimGM6mb": ("TimGM6mb.sf2", "pretty_midi (installed with latentsep)"),
    "FluidR3_GM": ("FluidR3_GM.sf2", "Debian/Ubuntu: apt-get install fluid-soundfont-gm"),
    "MuseScore_General_Lite": (
        "MuseScore_General_Lite.sf3",
        "Debian/Ubuntu: apt-get install musescore-general-soundfont-small",
    ),
}
DEFAULT_SOUNDFONT = "TimGM6mb"
#: Where installed soundfonts are looked for, after ``$LATENTSEP_SOUNDFONTS`` (a folder).
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")


class SoundfontError(FileNotFoundError):
    """A soundfont that is not installed; the message says how to install it."""


def soundfont_path(name: str = DEFAULT_SOUNDFONT) -> Path:
    """The file of soundfont ``name`` (:data:`SOUNDFONTS`)."""
    import os

    if name not in SOUNDFONTS:
        raise ValueError(f"unknown soundfont {name!r}; choose one of {tuple(SOUNDFONTS)}")
    file, origin = SOUNDFONTS[name]
    if name == DEFAULT_SOUNDFONT:
        import pretty_midi

        path = Path(pretty_midi.__file__).with_name(file)
        if not path.is_file():
            raise SoundfontError(f"{path}: pretty_midi's soundfont is missing")
        return path
    dirs = [os.environ["LATENTSEP_SOUNDFONTS"]] if os.environ.get("LATENTSEP_SOUNDFONTS") else []
    for folder in [*dirs, *SOUNDFONT_DIRS]:
        if (Path(folder) / file).is_file():
            return Path(folder) / file
    raise SoundfontError(
        f"soundfont {name} ({file}) is not installed: {origin}, or put {file} in a folder "
        "named by $LATENTSEP_SOUNDFONTS"
    )


def soundfont_available(name: str) -> bool:
    try:
        soundfont_path(name)
    except SoundfontError:
        return False
    return True


@lru_cache(maxsize=2)
def _soundfont_bytes(name: str) -> bytes:
    return soundfont_path(name).read_bytes()


@lru_cache(maxsize=2)
def _synth(sample_rate: int, soundfont: str = DEFAULT_SOUNDFONT):
    """One synthesiser per rate and soundfont, reused: loading a compressed (sf3) soundfont
    decodes every sample (seconds). :func:`render` silences it before each use."""
    try:
        import tinysoundfont
    except ImportError as err:  # pragma: no cover - set-up problem
        raise ImportError(
            "tinysoundfont renders the embedded dataset: "
            "pip install --no-deps tinysoundfont==0.3.7 (its pyaudio dependency is only "
            "for live playback)"
        ) from err
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(_soundfont_bytes(soundfont))
    return synth, sfid


def note_events(notes, seconds_per_quarter: float, offset_quarters: float = 0.0) -> list[Event]:
    """Note-on/off events in seconds for notes given in quarter notes."""
    events = []
    for n in notes:
        start = (n.onset - offset_quarters) * seconds_per_quarter
        end = start + n.duration * seconds_per_quarter * 0.95  # a hair of articulation
        events.append(Event(start, n.pitch, n.velocity))
        events.append(Event(end, n.pitch, 0))
    return events


def render(
    events: list[Event],
    n_samples: int,
    sample_rate: int,
    program: int,
    *,
    drums: bool = False,
    preroll: float = 0.0,
    soundfont: str = DEFAULT_SOUNDFONT,
) -> np.ndarray:
    """Render events (times relative to the excerpt start) to stereo ``(2, n_samples)``.

    Events from ``preroll`` seconds before the start are played so that notes already
    sounding at the start are heard, then that lead-in is cut off.
    """
    synth, sfid = _synth(sample_rate, soundfont)
    synth.sounds_off()  # nothing left sounding from the last stem rendered with it
    chan = 9 if drums else 0
    synth.program_select(chan, sfid, 128 if drums else 0, 0 if drums else program, is_drums=drums)
    lead = int(round(preroll * sample_rate))
    total = lead + n_samples
    out = np.zeros((total, 2), dtype=np.float32)
    pos = 0
    ordered = sorted(events, key=lambda e: (e.time, e.velocity > 0))
    for event in ordered:
        at = int(round((event.time + preroll) * sample_rate))
        if at < 0:
            continue
        at = min(at, total)
        if at > pos:
            out[pos:at] = _generate(synth, at - pos)
            pos = at
        if pos >= total:
            break
        if event.velocity > 0:
            synth.noteon(chan, event.key, event.velocity)
        else:
            synth.noteoff(chan, event.key)
    if pos < total:
        out[pos:] = _generate(synth, total - pos)
    return np.ascontiguousarray(out[lead:].T)


def _generate(synth, n: int) -> np.ndarray:
    buf = synth.generate(n)
    return np.frombuffer(buf, dtype=np.float32).reshape(n, 2)
