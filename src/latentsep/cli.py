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
#: Earlier names of commands, still accepted.
ALIASES: dict[str, tuple[str, ...]] = {}


def command(
    name: str, help_text: str, arguments: Arguments | None = None, aliases: tuple[str, ...] = ()
):
    """Register a subcommand: its handler gets the parsed args and the resolved preset."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (help_text, fn, arguments)
        ALIASES[name] = aliases
        return fn

    return register


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["section.field=value", ...]`` (the `--set` options) as a dict of overrides."""
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
    p.add_argument(
        "--real-stems",
        metavar="DIR",
        help="a folder of real multitrack stems: the results chapter scores every method on them",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="ignore the shipped trained artifacts: make every one of them here",
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
    import os

    from latentsep.book import build

    if args.retrain:  # the chapters' kernels inherit it
        os.environ["LATENTSEP_RETRAIN"] = "1"
    try:
        build.build(
            preset.name,
            chapters=args.chapter or None,
            html=not args.no_html,
            cell_timeout_s=args.cell_timeout,
            force=args.force,
            real_stems=args.real_stems,
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
    _, history, out = pipeline.train_or_load(preset, tracks, estimates_root=args.estimates)
    best = min(history.epochs, key=lambda e: e["valid"])
    print(f"best epoch {best['epoch'] + 1}: validation loss {best['valid']:.4f}")
    print(out)
    return 0


def _train_stem_models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train from nothing even when a trained or shipped network matches",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")


@command(
    "train-stem-models",
    "train what is learned from rendered stems: the stem network (classmask, "
    "deepclustering) and the dictionaries (supervisednmf, notenmf), or reuse them",
    _train_stem_models_args,
    aliases=("train-separator",),
)
def _train_stem_models(args: argparse.Namespace, preset: Preset) -> int:
    import contextlib

    import torch

    from latentsep import pipeline
    from latentsep.data.synth import SoundfontError

    if args.threads:
        torch.set_num_threads(args.threads)
    fresh = pipeline.without_shipped() if args.retrain else contextlib.nullcontext()
    if args.retrain:
        nets = [pipeline.stemnet_artifact(p) for p in (preset, pipeline.refined_from(preset)) if p]
        dicts = (
            pipeline.dictionaries_artifact(preset),
            pipeline.note_dictionaries_artifact(preset),
        )
        for art in (*nets, *dicts):  # and what it refines
            pipeline.forget(art)
    try:
        with fresh:  # with --retrain, shipped copies are not restored either
            _, history, out = pipeline.stemnet_model(preset)
            pipeline.dictionaries(preset)
            pipeline.note_dictionaries(preset)
    except SoundfontError as err:
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
    last = history[-1]
    print(f"{last['step']} steps, {last['seconds'] / 60:.1f} min: loss {last['loss']:.4f}")
    print(out)
    return 0


@command(
    "ship",
    "copy the preset's trained models and their evaluation tables into shipped/ (checksummed)",
)
def _ship(args: argparse.Namespace, preset: Preset) -> int:
    from latentsep import pipeline

    shipped = 0
    for art, files, made_by in pipeline.shippable(preset) + pipeline.shippable_evaluations(preset):
        if not all((art.path / f).is_file() for f in files):
            print(f"not made yet, not shipped: {art.name} ({art.shipped_name})")
            continue
        pipeline.ship(art, files, made_by)
        print(f"shipped {art.name}: shipped/{art.shipped_name}")
        shipped += 1
    for name in pipeline.prune(pipeline.current_shipped()):
        print(f"removed, no current code uses it: shipped/{name}")
    return 0 if shipped else 1


def _separate_args(p: argparse.ArgumentParser) -> None:
    from latentsep.separation import DEFAULT_METHOD, get_method, method_names

    p.add_argument(
        "audio", nargs="?", help="the audio file to separate (any format libsndfile reads)"
    )
    p.add_argument("--out", help="folder for source_1.wav, source_2.wav, ...")
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        help=f"an identifier of --list-methods (default: {DEFAULT_METHOD}); one of "
        + ", ".join(get_method(n).id for n in method_names(references=False)),
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

    from latentsep import device, pipeline, separation
    from latentsep.models import training

    if args.list_methods:
        print(separation.describe())
        return 0
    if not args.audio or not args.out:
        print("latentsep: separate needs an audio file and --out", file=sys.stderr)
        return 2
    try:  # every check that needs no model first: training one can take minutes
        spec = separation.get_method(args.method)
        if spec.needs_references:
            raise ValueError(f"{spec.id} needs the true sources: `latentsep evaluate` scores it")
        outputs = pipeline.method_limit(preset, spec.name) if spec.learned else None
        separation.preflight(args.audio, args.out, spec.name, args.n_sources, outputs=outputs)
        separator = pipeline.network(preset, args.method)[0] if spec.learned else None
        if args.model:
            model = training.load_model(Path(args.model))[0]
        elif not spec.needs_model:
            model = None
        else:
            model = pipeline.trained_model(preset)
        device.keep_freed_memory()  # the same numbers, ~15 % sooner on a long file
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


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", nargs="?", help="one folder per piece, one audio file per instrument")
    p.add_argument("--dataset", help="a mirdata dataset instead of a folder (e.g. slakh)")
    p.add_argument("--data-home", help="where the mirdata dataset lies (nothing is downloaded)")
    p.add_argument(
        "--methods",
        help="comma-separated method identifiers (see `latentsep separate --list-methods`), or "
        "'all' (default: the references and every method that needs no autoencoder; learned "
        "ones when made or shipped)",
    )
    p.add_argument(
        "--out",
        default="evaluation",
        help="folder for scores.csv, runs.csv, counts.csv, skipped.csv, summary.csv (and the "
        "finished parts a rerun reuses)",
    )
    p.add_argument("--no-count", action="store_true", help="skip the runs that estimate the count")
    p.add_argument("--limit", type=int, default=0, help="only the first N pieces")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--segment",
        type=float,
        metavar="SECONDS",
        help="score each piece as excerpts this long (full songs); a piece's score is the "
        "median of its excerpts'",
    )
    p.add_argument(
        "--hop", type=float, metavar="SECONDS", help="between excerpts (default: --segment)"
    )
    p.add_argument("--jobs", type=int, default=1, help="pieces scored at once, in processes")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a silent or empty stem, stems at other rates or a few samples longer, "
        "instead of leaving out or adjusting them with a note",
    )


def method_list(text: str) -> list[str]:
    """Registered names from a comma-separated list of identifiers or names; a name that
    holds a comma ("NMF, oracle grouping") is found by joining neighbouring items."""
    from latentsep.separation import get_method

    items = [t.strip() for t in text.split(",")]
    names, k = [], 0
    while k < len(items):
        if not items[k]:
            k += 1
            continue
        for j in range(len(items), k, -1):  # the longest run of items that names a method
            try:
                names.append(get_method(", ".join(items[k:j])).name)
            except ValueError:
                continue
            k = j
            break
        else:
            get_method(items[k])  # the one-line error naming it
    return list(dict.fromkeys(names))


def default_evaluation_methods(preset: Preset) -> list[str]:
    """The references, then every registered method that needs neither the true sources
    nor the autoencoder; learned ones only when their network is made or shipped (nothing
    trains unasked)."""
    from latentsep import pipeline
    from latentsep.evaluation import scoring
    from latentsep.separation import METHODS

    blind = [
        m.name
        for m in METHODS.values()
        if not m.needs_references
        and not m.needs_model
        and (not m.learned or pipeline.ready(preset, m.name))
    ]
    refs = [*scoring.REFERENCES, scoring.NMF_CEILING]
    return [*refs, *(n for n in blind if n not in refs)]


@command(
    "evaluate",
    "score methods on real multitrack stems (a folder, or a mirdata dataset)",
    _evaluate_args,
)
def _evaluate(args: argparse.Namespace, preset: Preset) -> int:
    from pathlib import Path

    from latentsep import pipeline
    from latentsep.evaluation import multitrack
    from latentsep.separation import METHODS

    try:  # every check of the input and the request before any work
        if args.methods in (None, ""):
            names = default_evaluation_methods(preset)
        elif args.methods == "all":
            names = [m for m in METHODS if not pipeline.evaluation_problem(preset, m)]
        else:
            names = method_list(args.methods)
            for n in names:
                if reason := pipeline.evaluation_problem(preset, n):
                    raise ValueError(reason)
        if bool(args.folder) == bool(args.dataset):
            raise ValueError("give a folder of stems or --dataset NAME --data-home DIR (one)")
        for flag, value in (("--segment", args.segment), ("--hop", args.hop)):
            if value is not None and value <= 0:
                raise ValueError(f"{flag} must be a positive number of seconds, got {value:g}")
        if args.hop and not args.segment:
            raise ValueError("--hop needs --segment")
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: exists and is not a folder")
        if args.dataset:
            pieces = multitrack.read_mirdata(
                args.dataset, args.data_home, args.limit, strict=args.strict
            )
        else:
            pieces = multitrack.read_folder(args.folder, args.strict)[: args.limit or None]
        excerpts = multitrack.excerpts(pieces, args.segment, args.hop)
        if not excerpts:
            raise ValueError(
                f"{args.folder or args.data_home}: no piece has two sounding instrument stems"
            )
    except ValueError as err:  # MultitrackError and AudioError are ValueErrors
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
    for p in pieces:
        for note in p.notes:
            print(f"note: {note}", file=sys.stderr)
        if p.skipped:
            print(f"skipped: {p.name}: {p.skipped}", file=sys.stderr)
    audio = sum(e.window.frames / e.piece.rate for e in excerpts)
    print(
        f"{len(excerpts)} excerpts ({audio:.0f} s of audio) × {len(names)} methods"
        f"{' and their counting runs' if not args.no_count else ''}, {args.jobs} at a time",
        file=sys.stderr,
    )
    tables = pipeline.evaluate_real(
        preset, excerpts, names, out, count=not args.no_count, seed=args.seed, jobs=args.jobs
    )
    summary, skipped = tables["summary"], tables["skipped"]
    n = tables["scores"].groupby("track")["source"].nunique().sum() if len(tables["scores"]) else 0
    scored = sum(not p.skipped for p in pieces)
    print(f"{scored} pieces, {n} instruments; median SI-SDRi (dB) with the true count:")
    print(summary.round(2).to_string())
    if len(skipped):
        print(f"{len(skipped)} runs skipped or failed (why: {out / 'skipped.csv'}):")
        print(skipped.to_string(index=False))
    print(f"tables in {out}/")
    return 1 if len(skipped) and skipped["why"].str.contains("Error:").any() else 0


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
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run each grid point as a task on a Dask cluster: tcp://host:8786, or local:N "
        "for a LocalCluster of N workers (pip install 'latentsep[cluster]')",
    )
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
        grid.setdefault("overrides", [parse_overrides(args.overrides)])
    try:
        table = sweep.run(
            source,
            grid,
            Path(args.out),
            args.preset,
            args.jobs,
            args.metric,
            args.cell_timeout,
            scheduler=args.scheduler,
        )
    except sweep.SweepError as err:
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
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
        p = sub.add_parser(name, help=help_text, aliases=ALIASES.get(name, ()))
        p.set_defaults(command=name)
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
        preset = get_preset(args.preset, parse_overrides(args.overrides))
    except PresetError as err:
        print(f"latentsep: {err}", file=sys.stderr)
        return 2
    return COMMANDS[args.command][1](args, preset)
