"""Where a project's runs are kept: its `.runner/` folder, found as git finds `.git`, so
every command reads and writes the same runs from any folder of the project.

The rule, in order:

1. `RUNNER_HOME`, when set, is the folder itself (what `.runner/` is otherwise; a
   relative value is taken from the working directory); a file there is an error.
2. The nearest folder holding `.runner/`: the working directory, then each parent,
   stopping at the top of a git repository (a folder holding `.git`), so a stray
   `~/.runner` never captures a project in git.
3. Only `runner apply` makes runs where none are kept yet; it walks up from the spec's
   folder the same way: the nearest `.runner/` there, else the top of the spec's git
   repository.
4. Otherwise `.runner/` at the top of the working directory's git repository, or in the
   working directory when it is in none (where runner kept runs before this rule).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runner.runs.errors import RunError

ENV = "RUNNER_HOME"
FOLDER = ".runner"
RUNS = "runs"


def home(spec: str | Path | None = None, cwd: str | Path | None = None,
         environ: Mapping[str, str] | None = None) -> Path:
    """The folder runs are kept under (`<it>/runs/<run id>`), absolute. `spec`: the spec
    `apply` runs, relative to `cwd` (the working directory when None)."""
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    chosen = (os.environ if environ is None else environ).get(ENV, "")
    if chosen:
        folder = (here / Path(chosen).expanduser()).resolve()
        if folder.exists() and not folder.is_dir():  # else every command would say "no runs yet"
            raise RunError(f"{ENV}={chosen} is not a folder ({folder}); point it at the folder to keep runs in")
        return folder
    found, top = _walk(here)
    if found is not None:
        return found
    if spec is not None:
        spec_found, spec_top = _walk((here / spec).resolve().parent)
        if spec_found is not None:
            return spec_found
        if spec_top is not None:
            return spec_top / FOLDER
    return (top or here) / FOLDER


def runs_dir(spec: str | Path | None = None, cwd: str | Path | None = None,
             environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding one folder per run."""
    return home(spec, cwd, environ) / RUNS


def _walk(start: Path) -> tuple[Path | None, Path | None]:
    """(the nearest `.runner/` from `start` up, the top of the git repository the walk
    stopped at); both None when it reached the root of the file system."""
    for folder in (start, *start.parents):
        if (folder / FOLDER).is_dir():
            return folder / FOLDER, folder
        if (folder / ".git").exists():  # a folder, or a file in a worktree or submodule
            return None, folder
    return None, None
