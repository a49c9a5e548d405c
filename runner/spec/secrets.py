"""What counts as a secret in a spec, and keeping it out of everything we print.

A value is secret when the environment variable it was read from has a secret-looking
name, or when the value itself looks like a credential (a URL with a password in it, a
storage account key, a SAS signature, a JWT). `plan` shows such values as ***, errors
never echo them, and a credential written literally in a spec is refused: specs live in
git, so it belongs in the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"

# Names: any part of the name. Over-matching (BYPASS, MONKEY) only hides a value from
# `plan`; under-matching prints a password.
_SECRET_NAME = re.compile(
    r"KEY|SECRET|TOKEN|PASS|PWD|CREDENTIAL|PRIVATE|CONN|DSN|SAS|AUTH|CERT|SIGNATURE",
    re.IGNORECASE)

# Values. A URL with user:password@ (DATABASE_URL, a broker URL).
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")
# A storage connection string's key, a SAS token's signature, a JSON Web Token.
_LITERALS = (
    (re.compile(r"AccountKey=[A-Za-z0-9+/]{16,}", re.IGNORECASE), "a storage account key (AccountKey=...)"),
    (re.compile(r"(?:^|[?&])sig=[A-Za-z0-9%+/=]{16,}"), "a SAS token signature (sig=...)"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "a JSON Web Token"),
    (re.compile(r"SharedAccessKey=[A-Za-z0-9+/]{16,}", re.IGNORECASE), "a shared access key"),
    (_URL_PASSWORD, "a URL with a password in it"),
)
# Shorter values are not searched for in messages: replacing "ab" everywhere would
# garble the text and hide nothing worth hiding.
_MIN_REDACTED = 4


def looks_secret(name: str) -> bool:
    """An environment variable name that suggests its value is a credential."""
    return bool(_SECRET_NAME.search(name))


def credential_kind(value: str) -> str | None:
    """What kind of credential `value` holds, or None."""
    for pattern, kind in _LITERALS:
        if pattern.search(value):
            return kind
    return None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value in it replaced by ***, longest first."""
    for value in sorted({s for s in secrets if len(s) >= _MIN_REDACTED}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
