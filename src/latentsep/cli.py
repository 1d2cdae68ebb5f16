"""Command line: ``latentsep <command> --preset NAME [--set section.field=value ...]``.

The notebooks call the same functions, so a papermill batch, the book and the CLI agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from latentsep import __version__
from latentsep.presets import PRESETS, Preset, PresetError, get_preset

Handler = Callable[[argparse.Namespace, Preset], int]
Arguments = Callable[[argparse.ArgumentParser], None]
COMMANDS: dict[str, tuple[str, Handler, Arguments | None]] = {}


def command(name: str, help_text: str, arguments: Arguments | None = None):
    """Register a subcommand: its handler gets the parsed args and the resolved preset."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help_text, fn, arguments)
        return fn

    return register


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise PresetError(f"--set expects section.field=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@command("presets", "print a preset's parameters as JSON")
def _presets(args: argparse.Namespace, preset: Preset) -> int:
    print(json.dumps(preset.to_dict(), indent=2))
    return 0


def _book_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chapter", action="append", help="only this notebook (file stem)")
    p.add_argument("--no-html", action="store_true", help="execute the notebooks only")
    p.add_argument(
        "--force", action="store_true", help="execute every chapter, even when its inputs match"
    )
    _timeout_arg(p)


def _timeout_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="limit per notebook cell (default: by preset, smoke 600, cpu 3600; "
        "or $LATENTSEP_CELL_TIMEOUT)",
    )


@command("book", "execute the notebooks with papermill and build the HTML book", _book_args)
def _book(args: argparse.Namespace, preset: Preset) -> int:
    from latentsep.book import build

    try:
        build.build(
            preset.name,
            chapters=args.chapter or None,
            html=not args.no_html,
            cell_timeout_s=args.cell_timeout,
            force=args.force,
        )
    except (build.ChapterError, ValueError) as err:
        print(f"latentsep: {err}", file=sys.stderr)
        return 1
    return 0


@command("data", "render the embedded dataset (reused when it already exists)")
def _data(args: argparse.Namespace, preset: Preset) -> int:
    from latentsep import pipeline

    print(pipeline.dataset(preset.data))
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--estimates", help="stage-1 estimates folder (train.target=openunmix)")


@command("train", "train the autoencoder on the embedded dataset (or reuse it)", _train_args)
def _train(args: argparse.Namespace, preset: Preset) -> int:
    from latentsep import pipeline
    from latentsep.data import musdb
    from latentsep.models import training

    rank, world = training.ddp_init()  # under torchrun: rank 0 renders the data, the others wait
    if rank == 0:
        root = pipeline.dataset(preset.data)
    if world > 1:
        training.dist.barrier()
        root = pipeline.dataset(preset.data, progress=False)
    tracks = musdb.load_tracks(root, "train")
    _, history, out = pipeline.train_or_load(
        preset,
        tracks,
        pipeline.autoencoder_artifact(preset).path,
        estimates_root=args.estimates,
    )
    best = min(history.epochs, key=lambda e: e["valid"])
    print(f"best epoch {best['epoch'] + 1}: validation loss {best['valid']:.4f}")
    print(out)
    return 0


def _separate_args(p: argparse.ArgumentParser) -> None:
    from latentsep.separation import DEFAULT_METHOD, method_names

    p.add_argument(
        "audio", nargs="?", help="the audio file to separate (any format libsndfile reads)"
    )
    p.add_argument("--out", help="folder for source_1.wav, source_2.wav, ...")
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=method_names(references=False),
        help="see --list-methods",
    )
    p.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    p.add_argument("--n-sources", type=int, default=None, help="default: estimated")
    p.add_argument(
        "--model",
        help="autoencoder checkpoint (default: the preset's, trained "
        "on the embedded dataset if it does not exist yet)",
    )
    p.add_argument("--seed", type=int, default=0)


@command("separate", "separate an audio file into sources", _separate_args)
def _separate(args: argparse.Namespace, preset: Preset) -> int:
    from pathlib import Path

    from latentsep import pipeline, separation
    from latentsep.models import training

    if args.list_methods:
        print(separation.describe())
        return 0
    if not args.audio or not args.out:
        print("latentsep: separate needs an audio file and --out", file=sys.stderr)
        return 2
    spec = separation.get_method(args.method)
    try:  # every check that needs no model first: training one can take minutes
        outputs = preset.separator.outputs if spec.learned else None
        separation.preflight(args.audio, args.out, args.method, args.n_sources, outputs=outputs)
        separator = pipeline.separator(preset, args.method)[0] if spec.learned else None
        if args.model:
            model = training.load_model(Path(args.model))[0]
        elif not spec.needs_model:
            model = None
        else:
            model = pipeline.trained_model(preset)
        paths, seconds = separation.separate_file(
            args.audio,
            args.out,
            model,
            args.method,
            args.n_sources,
            seed=args.seed,
            separator=separator,
        )
    except (ValueError, OSError) as err:  # AudioError is a ValueError
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
    print(f"{len(paths)} sources ({args.method}, {seconds:.1f} s) written to {args.out}")
    return 0


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", help="a notebook of notebooks/ (file stem or path)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=JSON_LIST",
        help="a notebook parameter and its values, e.g. --grid 'seed=[0, 1]'",
    )
    p.add_argument("--out", default="sweeps", help="folder for results.csv and results.png")
    p.add_argument("--jobs", type=int, default=2, help="notebooks run in parallel")
    p.add_argument("--metric", help="the recorded number to plot (default: the first)")
    _timeout_arg(p)


@command("sweep", "run a notebook over a parameter grid with papermill", _sweep_args)
def _sweep(args: argparse.Namespace, preset: Preset) -> int:
    from pathlib import Path

    from latentsep.book import sweep
    from latentsep.paths import repo_root

    source = Path(args.notebook)
    if not source.is_file():
        source = (repo_root() or Path(".")) / "notebooks" / f"{args.notebook}.md"
    if not source.is_file():
        print(f"latentsep: no notebook {args.notebook!r}", file=sys.stderr)
        return 2
    try:
        grid = sweep.parse_grid(args.grid)
    except ValueError as err:
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
    if args.overrides:  # --set applies to every run
        grid.setdefault("overrides", [_overrides(args.overrides)])
    table = sweep.run(
        source, grid, Path(args.out), args.preset, args.jobs, args.metric, args.cell_timeout
    )
    print(table.to_string(index=False))
    failed = int((table["status"] != "ok").sum())
    print(f"{len(table) - failed} runs ok, {failed} failed; {Path(args.out) / 'results.csv'}")
    return 1 if failed else 0


@command("colab", "rewrite notebooks/colab/*.ipynb from the text notebooks")
def _colab(args: argparse.Namespace, preset: Preset) -> int:
    from latentsep.book import colab
    from latentsep.paths import repo_root

    root = repo_root()
    if root is None:
        print("latentsep: needs the source checkout", file=sys.stderr)
        return 2
    for path in colab.sync(root / "notebooks"):
        print(f"wrote {path.relative_to(root)}")
    return 0


@command("status", "list the preset's cached artifacts: key, size, time to make")
def _status(args: argparse.Namespace, preset: Preset) -> int:
    from latentsep import pipeline
    from latentsep.paths import data_dir

    table = pipeline.status(preset)
    print(f"artifacts under {data_dir()} (preset {preset.name}):")
    print(table.to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentsep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"latentsep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _, arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override one preset value, e.g. --set train.epochs=3",
        )
        if arguments is not None:
            arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preset = get_preset(args.preset, _overrides(args.overrides))
    except PresetError as err:
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
    return COMMANDS[args.command][1](args, preset)
