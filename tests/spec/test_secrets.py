"""What counts as a secret, and that no view or message shows one."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.errors import ExitCode
from runner.inputs.checks import plan_here
from runner.render import plan_json, plan_text
from runner.spec.diagnostics import SpecError, render
from runner.spec.load import load_spec
from runner.spec.secrets import credential_kind, looks_secret, redact
from tests.conftest import BASE


@pytest.mark.parametrize("name", ["DB_PASS", "SMTP_PASSWORD", "MYSQL_PWD", "APP_PASSWD", "GCP_CREDENTIALS",
                                  "SSH_PRIVATE_KEY", "PG_CONN", "SQL_CONNECTION_STRING", "SENTRY_DSN",
                                  "API_TOKEN", "CLIENT_SECRET", "STORE_SAS", "BASIC_AUTH"])
def test_secret_looking_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["REGION", "BATCH_SIZE", "HOME", "MODEL_NAME"])
def test_plain_names(name: str) -> None:
    assert not looks_secret(name)


@pytest.mark.parametrize(("value", "kind"), [
    ("postgres://scorer:pa55@db.example.com/x", "a URL with a password in it"),
    ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFy==", "a storage account key"),
    ("https://a.blob.core.windows.net/c?sv=2022-11-02&sig=AbCdEfGhIjKlMnOpQr%3D", "a SAS token signature"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "a JSON Web Token"),
])
def test_credentials_by_their_look(value: str, kind: str) -> None:
    assert (credential_kind(value) or "").startswith(kind)


@pytest.mark.parametrize("value", ["https://example.com/data", "azureml://datastores/x/paths/y",
                                   "user@example.com", "key=value", "sig=short"])
def test_ordinary_values(value: str) -> None:
    assert credential_kind(value) is None


def test_redact_replaces_longest_first_and_leaves_short_values() -> None:
    assert redact("a secret-long and secret", ["secret", "secret-long", "ab"]) == "a *** and ***"


def test_values_from_widened_names_and_urls_are_hidden_by_plan(write) -> None:
    spec = write("s.yaml", BASE.replace("error_threshold: 5", "error_threshold: 5\n      environment_variables:\n"
                                        '        A: "{{ env.DB_PASS }}"\n'
                                        '        B: "{{ env.SMTP_PASSWORD }}"\n'
                                        '        C: "{{ env.DATABASE_URL }}"\n'
                                        '        D: "{{ env.REGION }}"'))
    environ = {"DB_PASS": "pass-value-1", "SMTP_PASSWORD": "smtp-value-2",
               "DATABASE_URL": "postgres://u:url-value-3@db/x", "REGION": "westeurope"}
    plan = plan_here(load_spec(spec, environ=environ))
    for text in (plan_text(plan), plan_json(plan), repr(plan)):
        assert not any(v in text for v in ("pass-value-1", "smtp-value-2", "url-value-3")), text
        assert "westeurope" in text


def test_no_error_echoes_a_secret(write) -> None:
    spec = write("s.yaml", BASE + 'experiment: "{{ env.MY_API_TOKEN }}"\ndescription: "{{ {}[env.DB_PASS] }}"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec, environ={"MY_API_TOKEN": "tok.en-value", "DB_PASS": "hunter2-hunter2"})
    text = render(info.value.diagnostics, with_snippets=False)
    assert "tok.en-value" not in text and "hunter2" not in text
    assert "'***' does not match" in text


def _env_vars(lines: str) -> str:
    return BASE.replace("error_threshold: 5", "error_threshold: 5\n      environment_variables:\n" + lines)


@pytest.mark.parametrize(("text", "where"), [
    (_env_vars("        PASSWORD: hunter2\n"), "steps[0].parallel_run.environment_variables.PASSWORD"),
    (_env_vars("        OPENAI_API_KEY: hunter2\n"), "steps[0].parallel_run.environment_variables.OPENAI_API_KEY"),
    (_env_vars("        dbPassword: hunter2\n"), "steps[0].parallel_run.environment_variables.dbPassword"),
    (_env_vars('        STORE: "DefaultEndpointsProtocol=https;AccountKey=hunter2"\n'),
     "steps[0].parallel_run.environment_variables.STORE"),
    (BASE.replace("  batch: 4", "  batch: 4\n  db_password: hunter2"), "parameters.db_password"),
    (BASE.replace('"--model", ', '"--model", "--api-token", hunter2, '), "steps[0].arguments[2]"),
    (BASE.replace('"--model", ', '"--model", "--client-secret=hunter2", '), "steps[0].arguments[1]"),
])
def test_a_literal_value_under_a_secret_name_is_refused_unprinted(write, text: str, where: str) -> None:
    spec = write("s.yaml", text)
    result = CliRunner().invoke(cli, ["plan", spec])
    assert result.exit_code == ExitCode.USAGE, result.output
    # The headline names the place; the snippet shows the spec's own line with *** for the value.
    headline = result.output.splitlines()[0]
    assert headline.startswith("s.yaml:") and f" {where}: " in headline, headline
    assert "hunter2" not in result.output and "***" in result.output, result.output


@pytest.mark.parametrize("lines", ['        TOKENIZERS_PARALLELISM: "false"\n', '        AUTHOR: someone\n',
                                   '        API_KEY: "{{ env.API_KEY }}"\n', '        DB_PASSWORD: ""\n'])
def test_names_that_are_no_credential_or_values_from_the_environment_pass(write, lines: str) -> None:
    load_spec(write("s.yaml", _env_vars(lines)), environ={"API_KEY": "from-the-environment"})


@pytest.mark.parametrize(("field", "template"), [
    ("name", "job-{{ env.RUN_TOKEN }}"),
    ("experiment", "exp-{{ env.RUN_TOKEN }}"),
    ("name", "job-{{ env.REGION }}"),  # REGION holds what a secret variable holds
])
def test_a_name_that_holds_a_secret_is_refused(write, field: str, template: str) -> None:
    text = BASE.replace("name: score-images\nparameters", f'name: "{template}"\nparameters', 1) if field == "name" \
        else BASE + f'{field}: "{template}"\n'
    text += 'description: "{{ env.RUN_TOKEN }}"\n'
    environ = {"RUN_TOKEN": "tok-3141592", "REGION": "tok-3141592"}
    with pytest.raises(SpecError) as info:
        load_spec(write("s.yaml", text), environ=environ)
    shown = render(info.value.diagnostics, with_snippets=False)
    assert f" {field}: a name must not hold a secret" in shown and "tok-3141592" not in shown, shown


@pytest.mark.parametrize(("value", "found"), [
    ("see a://b/c then redis://u:pw@host/0", True), ("x://u:p@h", True), ("1a+://u:p@h", True),
    ("a://x/y:p@h", False), ("://u:p@h", False), ("1://u:p@h", False), ("a://u p:x@h", False),
    ("a://u:@h", False), ("a://u@h", False), ("-eyJabcdefghi.eyJabcdefghi.x", True), ("eyJabcdefghi.eyJabc.x", False),
    ("AccountKey=k", True), ("accountkey=", False),
])
def test_credential_shapes_at_the_edges(value: str, found: bool) -> None:
    assert (credential_kind(value) is not None) is found, value


@pytest.mark.parametrize("assignment", ["steps[0].parallel_run.environment_variables.PASSWORD=hunter2",
                                        "description=postgres://u:hunter2@h/x"])
def test_a_secret_set_on_the_command_line_is_not_echoed(write, assignment: str) -> None:
    result = CliRunner().invoke(cli, ["validate", write("s.yaml", BASE), "--set", assignment])
    assert result.exit_code == ExitCode.USAGE and "hunter2" not in result.output, result.output
    assert "=***" in result.output


def test_a_secret_given_by_set_is_refused_without_echoing_it(write) -> None:
    spec = write("s.yaml", BASE)
    for assignment in ("steps[0].parallel_run.environment_variables.DB=postgres://me:hunter22@db/x",
                       "steps[0].parallel_run.environment_variables.API_TOKEN=AccountKey=" + "k" * 20 + "=="):
        with pytest.raises(SpecError) as info:
            load_spec(spec, sets=[assignment])
        text = render(info.value.diagnostics, with_snippets=False)
        assert "{{ env.NAME }}" in text and "hunter22" not in text and "k" * 20 not in text, text
        assert "--set steps[0].parallel_run.environment_variables." in text
