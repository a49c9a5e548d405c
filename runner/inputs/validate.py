"""`runner validate` over files, folders and standard input, with a target's refusals.

Each spec is loaded (every problem at once, runner/spec/load.py) and then checked
against the target it would run on: `target` when given, else the spec's own. A folder
stands for every spec below it (runner/spec/discover.py says which YAML is a spec);
`-` for the text on standard input, named `<stdin>` in messages, whose relative paths
and `extends` are relative to the working directory.

Here, not in runner/plan: every step reads the file system (the specs, the folders, what
is at each dataset's path); the refusals themselves are runner/plan/targets.py's, pure.
With `files` (the default) the files `apply` cannot run without are looked for too
(runner/inputs/checks.py: missing_files): a spec that validates can run here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from runner.inputs.checks import datasets_on_disk, missing_files
from runner.plan.targets import check_target
from runner.spec.diagnostics import Diagnostic, Mark, SpecError, unique_sorted
from runner.spec.discover import find_specs
from runner.spec.load import LoadedSpec, load_spec

STDIN = "-"
STDIN_NAME = "<stdin>"


def validate_paths(paths: Sequence[str], sets: Sequence[str] = (), set_params: Sequence[str] = (),
                   environ: Mapping[str, str] | None = None, target: str | None = None,
                   stdin: bytes | None = None, files: bool = True) -> list[tuple[str, SpecError | None]]:
    """(file, its error or None) for each spec, in the order given (a folder's sorted).
    `files`: look for the files each spec names (False: a spec away from its data)."""
    results: list[tuple[str, SpecError | None]] = []
    for path, error in _expand(paths):
        if error is None:
            error = _check(path, sets, set_params, environ, target, stdin if path == STDIN_NAME else None, files)
        results.append((path, error))
    return results


def _expand(paths: Sequence[str]) -> list[tuple[str, SpecError | None]]:
    """Files as named (each once), `-` as <stdin>, a folder as its specs; a folder with
    none is an error of its own: a CI job that validates nothing should say so."""
    out: dict[str, SpecError | None] = {}
    for path in paths:
        if path == STDIN:
            out.setdefault(STDIN_NAME, None)
        elif os.path.isdir(path):
            found = find_specs(path)
            for spec in found:
                out.setdefault(os.path.normpath(spec), None)
            if not found:
                out[path] = _error(path, "no runner spec below this folder (*.yaml or *.yml with `steps:` "
                                         "or `extends:`; names starting with . or _ are skipped)")
        else:
            out.setdefault(path, None)
    return list(out.items())


def _check(path: str, sets: Sequence[str], set_params: Sequence[str], environ: Mapping[str, str] | None,
           target: str | None, stdin: bytes | None, files: bool) -> SpecError | None:
    text = None
    if path == STDIN_NAME:
        try:
            text = (stdin or b"").decode("utf-8")
        except UnicodeDecodeError as exc:
            return _error(path, f"cannot read spec: standard input is not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start})")
    try:
        refusals(load_spec(path, sets, set_params, environ, text=text, target=target), target, files)
    except SpecError as exc:
        return exc
    return None


def refusals(loaded: LoadedSpec, target: str | None, files: bool = True) -> None:
    """Raise SpecError for what `target` (default: the spec's own) cannot express, as
    `runner plan --target` does (build_plan), and with `files` for each file `apply`
    would find missing; every problem at once."""
    chosen = target or loaded.spec.target
    diags = []
    try:
        check_target(loaded, chosen, datasets_on_disk(loaded, os.getcwd()))
    except SpecError as exc:
        diags += exc.diagnostics
    if files:
        diags += missing_files(loaded, chosen)
    if diags:
        raise SpecError(unique_sorted(diags), loaded.sources)


def _error(path: str, message: str) -> SpecError:
    return SpecError([Diagnostic(Mark(path, 0, 0), (), message)])
