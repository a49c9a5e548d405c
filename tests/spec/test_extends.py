"""`extends:` names a spec inside the tree the chain starts in, and no error shows a word
of a file that is not a spec (`plan` runs on strangers' specs in pull requests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.errors import ExitCode
from runner.spec.diagnostics import SpecError
from runner.spec.load import load_spec
from tests.conftest import BASE

SECRET = "hunter2-ci-token-value"
COMMANDS = [["validate"], ["plan"], ["plan", "--format", "markdown"]]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository (a `.git` folder is what marks its top) as the working directory,
    beside a folder outside it that holds a secret."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "token.yaml").write_text(f"{SECRET}\n")
    (tmp_path / "outside" / "environ").write_bytes(f"CI_TOKEN={SECRET}\0HOME=/root\0".encode())
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "specs").mkdir()
    monkeypatch.chdir(root)
    return root


def _run(args: list[str], spec: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, spec])
    return result.exit_code, result.output


def _write(root: Path, name: str, text: str) -> str:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    return name


@pytest.mark.parametrize("args", COMMANDS)
@pytest.mark.parametrize("base", ["../../outside/environ", "../../outside/token.yaml", "ABSOLUTE"])
def test_a_base_outside_the_repository_is_refused_unread(repo: Path, args: list[str], base: str) -> None:
    target = str(repo.parent / "outside" / "environ") if base == "ABSOLUTE" else base
    spec = _write(repo, "specs/v.yaml", f"extends: {target}\n")
    code, output = _run(args, spec)
    assert code == ExitCode.USAGE, output
    assert SECRET not in output and "CI_TOKEN" not in output
    assert "extends must name a spec inside the spec's git repository" in output
    assert "specs/v.yaml:1:10" in output


def test_a_link_out_of_the_repository_is_refused(repo: Path) -> None:
    (repo / "specs" / "base.yaml").symlink_to(repo.parent / "outside" / "token.yaml")
    code, output = _run(["validate"], _write(repo, "specs/v.yaml", "extends: base.yaml\n"))
    assert code == ExitCode.USAGE and SECRET not in output and "outside it" in output


@pytest.mark.parametrize("args", COMMANDS)
@pytest.mark.parametrize(("name", "content"), [
    (".env", f"CI_TOKEN={SECRET}\n".encode()),  # not named as a spec: never read
    ("notes.yaml", f"{SECRET} is the token\n".encode()),  # YAML, but a string, not a mapping
    ("broken.yaml", f"token: [{SECRET}\n".encode()),  # not YAML
    ("binary.yaml", b"\x00\xff" + SECRET.encode()),  # not text
    ("environ.yaml", f"CI_TOKEN={SECRET}\0HOME=/root\0".encode()),  # what /proc/self/environ holds
])
def test_a_base_in_the_repository_that_is_not_a_spec_is_named_not_shown(
        repo: Path, args: list[str], name: str, content: bytes) -> None:
    (repo / name).write_bytes(content)
    code, output = _run(args, _write(repo, "specs/v.yaml", f"extends: ../{name}\n"))
    assert code == ExitCode.USAGE, output
    assert SECRET not in output and "CI_TOKEN" not in output, output
    assert name in output and "specs/v.yaml:1:10" in output


def test_a_variant_may_extend_a_base_anywhere_in_its_repository(repo: Path) -> None:
    _write(repo, "base.yaml", BASE)
    loaded = load_spec(_write(repo, "specs/variants/gpu.yaml", "extends: ../../base.yaml\nparameters: {batch: 2}\n"))
    assert loaded.chain == ["base.yaml", "specs/variants/gpu.yaml"]


def test_outside_git_the_working_directory_is_the_tree(write, tmp_path: Path) -> None:
    write("base.yaml", BASE)
    assert load_spec(write("a/b/v.yaml", "extends: ../../base.yaml\n")).chain == ["base.yaml", "a/b/v.yaml"]
    (tmp_path.parent / f"{tmp_path.name}-base.yaml").write_text(BASE)
    with pytest.raises(SpecError, match="inside the spec's folder"):
        load_spec(write("v.yaml", f"extends: ../{tmp_path.name}-base.yaml\n"))


def test_a_base_in_an_error_still_shows_where(repo: Path) -> None:
    # A spec file with a mistake in it (it parses as a mapping) is shown as any spec is.
    _write(repo, "base.yaml", BASE.replace("  batch: 4", "  batch: 4\n  batch: 5"))
    code, output = _run(["validate"], _write(repo, "specs/v.yaml", "extends: ../base.yaml\n"))
    assert code == ExitCode.USAGE and "base.yaml:6:3" in output and "  6 |   batch: 5" in output


def test_a_misspelt_base_gets_a_suggestion(repo: Path) -> None:
    _write(repo, "specs/base.yaml", BASE)
    code, output = _run(["validate"], _write(repo, "specs/v.yaml", "extends: bsae.yaml\n"))
    assert code == ExitCode.USAGE and "did you mean 'base.yaml'?" in output, output


@pytest.mark.parametrize("args", COMMANDS)
def test_a_spec_that_links_out_of_its_repository_is_not_read(repo: Path, args: list[str]) -> None:
    (repo / "specs" / "pr.yaml").symlink_to(repo.parent / "outside" / "environ")
    code, output = _run(args, "specs/pr.yaml")
    assert code == ExitCode.USAGE and SECRET not in output and "CI_TOKEN" not in output, output
    assert "specs/pr.yaml: the spec is a link to a file outside its git repository" in output
