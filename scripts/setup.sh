#!/usr/bin/env bash
# Create .venv with everything pinned in requirements/lock.txt, and make sure ffmpeg is there.
# Used by `make book` and `make test`; safe to rerun.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# musdb imports stempeg, which needs the ffmpeg and ffprobe programs.
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo ">> installing ffmpeg (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
    else
        echo "error: ffmpeg and ffprobe are needed (musdb reads audio through them)." >&2
        echo "       Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg;" >&2
        echo "       conda: conda env create -f environment.yml" >&2
        exit 1
    fi
fi

# Two more General MIDI soundfonts (Debian packages): FluidR3_GM plays the unseen-timbre
# test set, MuseScore General (Lite) is a second voice for the separators' training renders.
# Optional: without them the book says how to add them and shows what it can.
missing=()
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
[ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] || missing+=(musescore-general-soundfont-small)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo ">> installing soundfonts (apt-get): ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || echo "warning: could not install ${missing[*]}" >&2
    else
        echo "note: the soundfonts ${missing[*]} are not installed (apt-get install ${missing[*]});" >&2
        echo "      the unseen-timbre test set and the second training render need them." >&2
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo ">> creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo ">> installing latentsep and its pinned dependencies into $VENV"
# No wheel cache: PyTorch's Linux wheels bring ~3 GB of CUDA libraries, and a second copy
# in ~/.cache/pip once filled a CI machine's disk mid-install.
PIP=("$VENV/bin/python" -m pip install -q --no-cache-dir)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" -c requirements/lock.txt -e ".[book,dev]"
"${PIP[@]}" --no-deps -r requirements/no-deps.txt
"$VENV/bin/python" -c "import encodec, openunmix, musdb, tinysoundfont, latentsep; print('>> environment ready: latentsep', latentsep.__version__)"
