"""`runner init`: a new project that validates and runs as it is written.

A spec and a variant (with the editor's schema line, the schema written beside them,
as `runner schema` would), an entry script with init()/run() that uses Azure ML's own
helpers (EntryScript's logger, Model.get_model_path), a few sample inputs and a small
"model", the ignore files and a pre-commit hook. `--tabular` makes the same with CSV
rows and a pandas entry script. Existing files are never overwritten unless `force`:
every file is checked before any is written, so a refusal changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runner.examples import scaffold_files as files
from runner.runs.errors import RunError
from runner.spec.schema import SPEC_SCHEMA_FILE, VARIANT_SCHEMA_FILE, dumps, spec_schema, variant_schema
from runner.spec.types import NAME_PATTERN

DEFAULT_NAME = "batch-inference"


@dataclass
class Scaffold:
    folder: Path
    name: str
    spec: Path  # the spec to apply
    written: list[Path]
    note: str = ""  # why the spec is not named as the folder is, when it is not


RULE = "3-32 lowercase letters, digits or dashes, starting with a letter"


def project_name(folder: Path, name: str | None) -> tuple[str, str]:
    """A spec name (lowercase letters, digits, dashes; 3-32) from --name or the folder's,
    and, where it is not the folder's name, which name was picked and why."""
    if name is not None:
        if not (3 <= len(name) <= 32 and re.fullmatch(NAME_PATTERN, name)):
            raise RunError(f"--name '{name}' is not a step name Azure ML accepts: {RULE}")
        return name, ""
    given = folder.resolve().name
    slug = re.sub(r"[^a-z0-9]+", "-", given.lower())
    slug = re.sub(r"^[^a-z]+", "", slug)[:32].strip("-")
    chosen = slug if len(slug) >= 3 else DEFAULT_NAME
    if chosen == given:
        return chosen, ""
    why = "too short for a spec name" if len(given) < 3 else "not a name Azure ML accepts"
    return chosen, f"named the spec '{chosen}': the folder's name '{given}' is {why} ({RULE}); --name picks another"


def contents(name: str, tabular: bool) -> dict[str, str]:
    """Every file of the project, by path relative to its folder."""
    kind = files.TABULAR if tabular else files.FILES
    out = {f"specs/{name}.yaml": kind.spec, f"specs/{name}.{kind.variant_suffix}.yaml": kind.variant,
           "entry_scripts/score.py": kind.script, **kind.data,
           SCHEMA_DIR + "/" + SPEC_SCHEMA_FILE: dumps(spec_schema()),
           SCHEMA_DIR + "/" + VARIANT_SCHEMA_FILE: dumps(variant_schema()),
           ".amlignore": files.AMLIGNORE, ".gitignore": files.GITIGNORE,
           ".pre-commit-config.yaml": files.PRE_COMMIT_CONFIG}
    return {path: text.replace("__NAME__", name) for path, text in out.items()}


SCHEMA_DIR = "schema"  # where `runner schema` writes by default, so it regenerates them in place


def scaffold(folder: str | Path, tabular: bool = False, force: bool = False, name: str | None = None) -> Scaffold:
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise RunError(f"{root} is a file, not a folder")
    chosen, note = project_name(root, name)
    planned = {root / path: text for path, text in contents(chosen, tabular).items()}
    existing = [path for path in planned if path.exists() or path.is_symlink()]
    if existing and not force:
        shown = "\n".join(f"  {path}" for path in existing)
        raise RunError(f"runner init would overwrite {len(existing)} file(s); nothing was written "
                       f"(--force overwrites them):\n{shown}")
    for path in planned:
        _check_room(root, path)
    for path, text in planned.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():  # --force replaces the link, never writes through it
                path.unlink()
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    return Scaffold(root, chosen, root / "specs" / f"{chosen}.yaml", list(planned), note)


def _check_room(root: Path, path: Path) -> None:
    """A folder where a file goes, or a file where a folder goes: refused before writing."""
    if path.is_dir() and not path.is_symlink():
        raise RunError(f"a folder stands where runner init writes a file: {path}")
    for parent in path.relative_to(root).parents:
        if (root / parent).exists() and not (root / parent).is_dir():
            raise RunError(f"a file stands where runner init makes a folder: {root / parent}")
