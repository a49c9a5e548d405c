"""What counts as a secret, and that no view or message shows one."""

from __future__ import annotations

import pytest

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


def test_a_secret_given_by_set_is_refused_without_echoing_it(write) -> None:
    spec = write("s.yaml", BASE)
    for assignment in ("steps[0].parallel_run.environment_variables.DB=postgres://me:hunter22@db/x",
                       "steps[0].parallel_run.environment_variables.API_TOKEN=AccountKey=" + "k" * 20 + "=="):
        with pytest.raises(SpecError) as info:
            load_spec(spec, sets=[assignment])
        text = render(info.value.diagnostics, with_snippets=False)
        assert "{{ env.NAME }}" in text and "hunter22" not in text and "k" * 20 not in text, text
        assert "--set steps[0].parallel_run.environment_variables." in text
