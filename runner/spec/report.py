"""Validation results for machines: JSON for scripts, workflow commands for GitHub Actions.

Each result is a spec file and its diagnostics (none: valid). A diagnostic's line 0
means it has no position in a file: the file as a whole (missing, too big), or the
command-line flag that set the value, which `file` then names (`--set x=1`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runner.spec.diagnostics import Diagnostic, format_path

Result = tuple[str, Sequence[Diagnostic]]
TITLE = "runner validate"


def message(d: Diagnostic) -> str:
    """The diagnostic without its position: `field.path: message (note)`."""
    text = f"{format_path(d.path)}: {d.message}" if d.path else d.message
    return f"{text} ({d.note})" if d.note else text


def as_json(results: Sequence[Result]) -> str:
    """[{file, ok, errors: [{file, line, col, path, message}]}], one entry per spec."""
    out: list[dict[str, Any]] = []
    for file, diags in results:
        errors = [{"file": d.mark.file, "line": d.mark.line, "col": d.mark.col, "path": format_path(d.path),
                   "message": d.message if not d.note else f"{d.message} ({d.note})"} for d in diags]
        out.append({"file": file, "ok": not errors, "errors": errors})
    return json.dumps(out, indent=2) + "\n"


def as_github(results: Sequence[Result]) -> str:
    """One `::error file=F,line=L,col=C::message` line per diagnostic, which GitHub Actions
    shows on the pull request's diff at that line; no line for a valid spec."""
    lines = []
    for file, diags in results:
        for d in diags:
            if d.mark.line > 0:
                props = {"file": d.mark.file, "line": str(d.mark.line), "col": str(d.mark.col)}
                text = message(d)
            else:  # no position: annotate the spec, and say which flag or file it was
                props = {"file": file}
                text = message(d) if d.mark.file == file else f"{d.mark.file}: {message(d)}"
            props["title"] = TITLE
            shown = ",".join(f"{key}={escape_property(value)}" for key, value in props.items())
            lines.append(f"::error {shown}::{escape_data(text)}")
    # A base's problem is every variant's too: one annotation on its line is enough.
    return "".join(line + "\n" for line in dict.fromkeys(lines))


def escape_data(text: str) -> str:
    """As GitHub's toolkit escapes a command's message: % first, then line breaks."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value also may not hold the separators of the command's properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
