"""Secrets where they would leak: written in the spec (it lives in git), or templated into
a value that becomes a name (`plan` masks a secret, but a run id, a folder or an Azure
experiment shows it as it is).
"""

from __future__ import annotations

from runner.spec.diagnostics import Diagnostic, Mark, Path_
from runner.spec.secrets import credential_kind, names_a_credential, redact
from runner.spec.templating import bindings
from runner.spec.tree import Mapping, Node, Scalar, Sequence, walk

_USE_ENV = "use \"{{ env.NAME }}\" to read it from the environment"
# Mappings whose keys the author names: a key there can say its value is a credential.
_NAMED_VALUES = ("environment_variables", "parameters", "tags")


def literal_secrets(tree: Mapping) -> list[Diagnostic]:
    """A credential written in the spec itself: the datastore's key fields, a value that
    looks like one anywhere, and a value under a name that says it is one (PASSWORD:
    hunter2, `--api-key hunter2`)."""
    out = []
    for path, node in walk(tree):
        if not isinstance(node, Scalar) or node.value is None or node.from_env:
            continue
        key_field = len(path) == 4 and path[:2] == ("azure", "datastores") and path[3] in ("account_key", "sas_token")
        kind = credential_kind(node.value) if isinstance(node.value, str) else None
        if key_field or kind:
            what = f"this looks like {kind}: " if kind else ""
            out.append(Diagnostic(_unechoed(node.mark), path,
                                  f"{what}secrets must not be written in a spec; {_USE_ENV}", hidden=_shown(node)))
        elif _under_credential_name(path, node):
            out.append(Diagnostic(_unechoed(node.mark), path,
                                  f"'{path[-1]}' names a secret, which must not be written in a spec; {_USE_ENV} "
                                  "(or rename it if it is no secret)", hidden=_shown(node)))
    out += _credential_arguments(tree)
    return out


def _shown(node: Node) -> tuple[str, ...]:
    """The value as the snippet would show it, to be hidden there."""
    return (str(node.value),) if isinstance(node, Scalar) and node.value not in (None, "") else ()


def _unechoed(mark: Mark) -> Mark:
    """A `--set PATH=VALUE` flag names the value it sets: shown as `--set PATH=***`."""
    if mark.line == 0 and "=" in mark.file:
        return Mark(mark.file.split("=", 1)[0] + "=***", 0, 0)
    return mark


def _literal_text(node: Scalar) -> bool:
    """A non-empty string written as it is (no template read it, no `${{ }}` binds it)
    that is not reported already by its look. A value bound from a parameter is checked
    where the parameter is set."""
    return (isinstance(node.value, str) and bool(node.value) and not node.from_env and not node.bound_from
            and not bindings(node.value)
            and credential_kind(node.value) is None)


def _under_credential_name(path: Path_, node: Scalar) -> bool:
    return (len(path) >= 2 and path[-2] in _NAMED_VALUES and isinstance(path[-1], str)
            and names_a_credential(path[-1]) and _literal_text(node))


def _credential_arguments(tree: Mapping) -> list[Diagnostic]:
    """`["--api-key", "hunter2"]` and `--api-key=hunter2` in a step's arguments."""
    out = []
    for path, node in walk(tree):
        if not (isinstance(node, Sequence) and path and path[-1] == "arguments"):
            continue
        for index, item in enumerate(node.items):
            if not (isinstance(item, Scalar) and isinstance(item.value, str) and item.value.startswith("-")):
                continue
            option, equals, inline = item.value.partition("=")
            value: Node
            if not names_a_credential(option):
                continue
            if equals:
                where, value, literal = index, item, bool(inline) and _literal_text(item)
            elif index + 1 < len(node.items):
                where, value = index + 1, node.items[index + 1]
                literal = (isinstance(value, Scalar) and _literal_text(value)
                           and not str(value.value).startswith("-"))
            else:
                continue
            if literal:
                out.append(Diagnostic(_unechoed(value.mark), (*path, where),
                                      f"'{option}' takes a secret, which must not be written in a spec; {_USE_ENV}",
                                      hidden=(inline,) if equals else _shown(value)))
    return out


# Values that become a name shown unmasked: the run id and its folders, Azure's experiment.
def _name_fields(path: Path_) -> bool:
    return (path in (("name",), ("experiment",))
            or (len(path) == 3 and path[0] == "steps" and path[2] == "name")
            or (len(path) == 4 and path[0] == "steps" and path[2:] in (("output", "name"),
                                                                         ("parallel_run", "append_row_file_name"))))


def secret_names(tree: Mapping) -> list[Diagnostic]:
    """A name that reads a secret variable or holds a secret's value: `plan` would show
    *** while `apply`, `runs` and every folder show the secret."""
    secrets = [str(node.value) for _, node in walk(tree) if isinstance(node, Scalar) and node.secret and node.value]
    out = []
    for path, node in walk(tree):
        if not (isinstance(node, Scalar) and isinstance(node.value, str) and _name_fields(path)):
            continue
        if node.secret or redact(node.value, secrets) != node.value:
            out.append(Diagnostic(node.mark, path, "a name must not hold a secret: it becomes the run's id, "
                                                   "folder and experiment names, which are shown as they are; "
                                                   "read a variable that is no secret"))
    return out
