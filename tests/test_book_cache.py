"""The book executes a chapter only when its inputs changed: its text, the package's code,
the preset, the parameters or a file it declares; otherwise it reuses the executed notebook.
Tiny notebooks stand in for the chapters: each run appends a line to a log file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from myst import HEADER

from latentsep import cli
from latentsep.book import build

NOTEBOOK = (
    HEADER
    + """{front}---

```{{code-cell}} ipython3
:tags: [parameters]

preset = "cpu"
log = ""  # the file each run appends to
greeting = "hello"
```

```{{code-cell}} ipython3
with open(log, "a") as f:
    f.write(f"{{preset}} {{greeting}}\\n")
print("{text}")
```
"""
)


def chapter(folder: Path, text: str = "first", front: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "01_tiny.md"
    path.write_text(NOTEBOOK.format(text=text, front=front))
    return path


def runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``build`` of the tiny chapter into a temporary book, without the HTML."""
    monkeypatch.setenv("LATENTSEP_DATA", str(tmp_path / "data"))
    notebooks, log = tmp_path / "notebooks", tmp_path / "runs.log"

    def run(preset: str = "smoke", force: bool = False, **parameters) -> Path:
        return build.build(
            preset,
            html=False,
            book_dir=tmp_path / "book",
            notebooks=notebooks,
            parameters={"log": str(log), **parameters},
            force=force,
        )

    return run, notebooks, log


def test_a_second_build_reuses_and_a_change_executes_again(book, capsys):
    run, notebooks, log = book
    chapter(notebooks)
    out = run()
    assert runs(log) == ["smoke hello"]
    first = json.loads((out / "01_tiny.ipynb").read_text())["metadata"]["latentsep"]
    assert first["key"] and first["seconds"] > 0

    run()  # nothing changed
    assert len(runs(log)) == 1
    printed = capsys.readouterr().out
    assert f">> 01_tiny.md: reused (key {first['key'][:8]}, executed in" in printed
    timings = json.loads((out / "timings.json").read_text())
    assert timings["chapters"]["01_tiny"]["this build"] == "reused"
    assert timings["chapters"]["01_tiny"]["key"] == first["key"]
    assert "CPU cores" in timings["machine"]

    chapter(notebooks, text="second")  # the text
    run()
    assert len(runs(log)) == 2
    assert ">> 01_tiny.md: executed in" in capsys.readouterr().out

    run(preset="cpu")  # the preset
    assert runs(log)[-1] == "cpu hello"
    run(preset="cpu", greeting="hi")  # a parameter
    assert runs(log)[-1] == "cpu hi"
    run(preset="cpu", greeting="hi")
    assert len(runs(log)) == 4
    run(preset="cpu", greeting="hi", force=True)  # --force
    assert len(runs(log)) == 5


def test_a_declared_input_file_is_part_of_the_key(book):
    run, notebooks, log = book
    notebooks.mkdir()
    results = notebooks / "results.json"
    results.write_text("{}")
    chapter(notebooks, front="latentsep:\n  inputs: [results.json]\n")
    run()
    run()
    assert len(runs(log)) == 1
    results.write_text('{"new": 1}')
    run()
    assert len(runs(log)) == 2


def test_the_key_follows_the_code_preset_and_parameters(tmp_path: Path):
    source = chapter(tmp_path)
    key = build.chapter_key(source, {"preset": "smoke"}, code="a")
    assert key == build.chapter_key(source, {"preset": "smoke"}, code="a")
    assert key != build.chapter_key(source, {"preset": "smoke"}, code="b")
    assert key != build.chapter_key(source, {"preset": "cpu"}, code="a")
    assert key != build.chapter_key(source, {"preset": "smoke", "seed": 1}, code="a")
    overridden = {"preset": "smoke", "overrides": {"train.epochs": 2}}
    assert key != build.chapter_key(source, overridden, code="a")
    assert build.code_digest() == build.code_digest()


def test_a_failed_run_leaves_no_key_to_reuse(tmp_path: Path):
    source = chapter(tmp_path)
    source.write_text(source.read_text().replace('print("first")', "raise ValueError('no')"))
    out = tmp_path / "out.ipynb"
    with pytest.raises(build.ChapterError):
        build.run_chapter(source, out, {"preset": "smoke", "log": str(tmp_path / "l")})
    assert build.executed_record(out) is None


def test_the_reader_sees_one_parameters_box(book):
    run, notebooks, log = book
    chapter(notebooks)
    nb = nbformat.read(run(greeting="hi") / "01_tiny.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert not any("injected-parameters" in t for t in tags)
    (box,) = [c for c, t in zip(nb.cells, tags, strict=True) if "parameters" in t]
    assert box.source.splitlines() == [
        build.PARAMETERS_HEADER,
        'preset = "smoke"',
        f'log = "{log}"  # the file each run appends to',
        'greeting = "hi"',
    ]


def test_merge_parameters_keeps_comments_and_appends_new_names():
    defaults = "\n".join(
        ['preset = "cpu"  # a comment', "variants = {", '    "a": {},', "}", "if True:"]
        + ["    seed = 0", "n = 1"]
    )
    injected = '# Parameters\npreset = "smoke"\nvariants = {"b": {}}\nseed = 3\nextra = [1, 2]\n'
    assert build.merge_parameters(defaults, injected).splitlines() == [
        'preset = "smoke"  # a comment',
        'variants = {"b": {}}',
        "if True:",
        "    seed = 0",
        "n = 1",
        "seed = 3",
        "extra = [1, 2]",
    ]


def test_the_command_line_passes_force(monkeypatch: pytest.MonkeyPatch):
    seen = {}
    monkeypatch.setattr(build, "build", lambda *args, **kwargs: seen.update(kwargs))
    assert cli.main(["book", "--preset", "smoke", "--no-html", "--force"]) == 0
    assert seen["force"] is True
    assert cli.main(["book", "--preset", "smoke", "--no-html"]) == 0
    assert seen["force"] is False


def test_a_build_leaves_the_environment_as_it_found_it(tmp_path: Path, monkeypatch):
    """The kernels get LATENTSEP_DATA and the static-widgets switch; this process keeps
    what it had (nothing, here)."""
    from latentsep.book.plots import STATIC_ENV

    monkeypatch.delenv("LATENTSEP_DATA", raising=False)
    monkeypatch.delenv(STATIC_ENV, raising=False)
    log = tmp_path / "runs.log"
    chapter(tmp_path / "notebooks")
    build.build(
        "smoke",
        html=False,
        book_dir=tmp_path / "book",
        notebooks=tmp_path / "notebooks",
        parameters={"log": str(log)},
    )
    assert runs(log) == ["smoke hello"]
    assert "LATENTSEP_DATA" not in os.environ and STATIC_ENV not in os.environ


def test_a_chapter_key_follows_only_the_code_it_imports(tmp_path: Path):
    """A chapter's code digest covers the modules it imports, transitively: an edit to a
    module no chapter imports (the CLI) re-executes nothing; an edit to one it reaches
    through another module does."""
    import shutil

    from latentsep import paths

    package = tmp_path / "latentsep"
    shutil.copytree(Path(paths.__file__).parent, package)

    def digest() -> str:
        return paths.code_digest(package, paths.module_closure({"latentsep.book.plots"}, package))

    before = digest()
    (package / "cli.py").write_text((package / "cli.py").read_text() + "\n# an edit\n")
    assert digest() == before
    (package / "spectral.py").write_text((package / "spectral.py").read_text() + "\n# edit\n")
    assert digest() != before  # plots imports spectral


def test_the_book_chapters_do_not_import_the_command_line():
    files = set()
    for source in build.chapter_sources():
        imports = build.chapter_imports(source)
        assert imports is not None, source
        files |= build.module_closure(imports)
    names = {f.name for f in files}
    assert "cli.py" not in names and "sweep.py" not in names
    assert {"artifacts.py", "networks.py", "evaluations.py"} <= names  # pipeline/
