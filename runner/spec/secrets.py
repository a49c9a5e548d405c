"""What counts as a secret in a spec, and keeping it out of everything we print.

A value is secret when the environment variable it was read from has a secret-looking
name, or when the value itself looks like a credential (a URL with a password in it, a
storage account key, a SAS signature, a JWT). `plan` shows such values as ***, errors
never echo them, and a credential written literally in a spec is refused: specs live in
git, so it belongs in the environment.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "***"

# Names: any part of the name. Over-matching (BYPASS, MONKEY) only hides a value from
# `plan`; under-matching prints a password.
_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASS", "PWD", "CREDENTIAL", "PRIVATE", "CONN", "DSN", "SAS",
                 "AUTH", "CERT", "SIGNATURE")

# Values, found with plain string operations: each is a literal marker (`AccountKey=`,
# `sig=`, `eyJ`, `://`) and a scan from it, so a 1 MiB scalar costs one pass. A regular
# expression here backtracked over long runs of letters (quadratic: 60 s for 200 KB).
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_SIG_CHARS = _KEY_CHARS | frozenset("%=")
_JWT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")
_MIN_KEY = 16
_MIN_JWT_PART = 8
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Shorter values are not searched for in messages: replacing "ab" everywhere would
# garble the text and hide nothing worth hiding.
_MIN_REDACTED = 4


def looks_secret(name: str) -> bool:
    """An environment variable name that suggests its value is a credential."""
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def credential_kind(value: str) -> str | None:
    """What kind of credential `value` holds, or None. Linear in len(value)."""
    # A storage key is a secret however short: a connection string with one is refused.
    if _has_key(value, "accountkey=", _KEY_CHARS, 1):
        return "a storage account key (AccountKey=...)"
    if _has_sas_signature(value):
        return "a SAS token signature (sig=...)"
    if _has_jwt(value):
        return "a JSON Web Token"
    if _has_key(value, "sharedaccesskey=", _KEY_CHARS, 1):
        return "a shared access key"
    if _has_url_password(value):
        return "a URL with a password in it"
    return None


def _run_length(text: str, start: int, chars: frozenset[str], enough: int = -1) -> int:
    """How many characters of `chars` follow `start` (counting stops at `enough` when >= 0)."""
    end = start
    while end < len(text) and text[end] in chars and end - start != enough:
        end += 1
    return end - start


def _has_key(value: str, marker: str, chars: frozenset[str], least: int = _MIN_KEY) -> bool:
    """`marker` (ASCII, any case) followed by at least `least` characters of `chars`."""
    lowered = value.translate(_ASCII_LOWER)  # str.lower() may change the length
    found = lowered.find(marker)
    while found >= 0:
        if _run_length(value, found + len(marker), chars, least) >= least:
            return True
        found = lowered.find(marker, found + 1)
    return False


def _has_sas_signature(value: str) -> bool:
    """`sig=` at the start or after `?` or `&`, with a long signature after it."""
    found = value.find("sig=")
    while found >= 0:
        if (found == 0 or value[found - 1] in "?&") and _run_length(value, found + 4, _SIG_CHARS, _MIN_KEY) >= _MIN_KEY:
            return True
        found = value.find("sig=", found + 1)
    return False


def _has_jwt(value: str) -> bool:
    """`eyJ<8+>.eyJ<8+>.` where a word starts: a JWT's base64url header and payload.
    Every `eyJ` in one run of base64url characters ends where the run ends, so the rest
    of the token is checked once per run, not once per `eyJ`."""
    if ".eyJ" not in value:
        return False
    found = value.find("eyJ")
    while found >= 0:
        end = found + 3 + _run_length(value, found + 3, _JWT_CHARS)
        if value.startswith(".eyJ", end):
            payload = _run_length(value, end + 4, _JWT_CHARS)
            if payload >= _MIN_JWT_PART and value.startswith(".", end + 4 + payload):
                start = found
                while 0 <= start <= end - 3 - _MIN_JWT_PART:
                    if start == 0 or not (value[start - 1].isalnum() or value[start - 1] == "_"):
                        return True
                    start = value.find("eyJ", start + 1)
        found = value.find("eyJ", end)
    return False


def _has_url_password(value: str) -> bool:
    """`scheme://user:password@`: a scheme (a letter, then letters, digits, + . -), and
    before the first `/`, `@` or space after `://`, a `:` with a non-empty password. The
    `@` and the last `/` before it are found with find/rfind, so a run of `://` without
    an `@` after it is passed over at once, not scanned from each `://`."""
    found, at = value.find("://"), -1
    while found >= 0:
        start = found + 3
        if at < start:
            at = value.find("@", start)
            if at < 0:
                return False  # no `@` after this `://`, nor after any later one
        slash = value.rfind("/", start, at)
        if slash >= 0:  # every `://` up to that `/` has it before the `@`
            found = value.find("://", max(slash - 2, start))
            continue
        userinfo = value[start:at]
        colon = userinfo.find(":")
        if 0 <= colon < len(userinfo) - 1 and "".join(userinfo.split()) == userinfo and _has_scheme(value, found):
            return True
        found = value.find("://", at)
    return False


def _has_scheme(value: str, end: int) -> bool:
    """Whether the run of scheme characters ending at `end` holds an ASCII letter (where a
    scheme can start)."""
    index = end - 1
    while index >= 0 and value[index] in _SCHEME_CHARS:
        if value[index].isalpha():
            return True
        index -= 1
    return False


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value in it replaced by ***, longest first."""
    for value in sorted({s for s in secrets if len(s) >= _MIN_REDACTED}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


# Words of a name that say its value is a credential, for refusing a value written in
# the spec under it. Whole words, not looks_secret's substrings: TOKENIZERS_PARALLELISM
# or AUTHOR are no credentials, and a literal value under them is fine.
_CREDENTIAL_WORDS = frozenset({"PASSWORD", "PASSWD", "PASSPHRASE", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN",
                               "TOKENS", "KEY", "KEYS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "SAS", "DSN",
                               "SIGNATURE", "CONNSTR"})
_CREDENTIAL_ENDINGS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "ACCESSKEY", "ACCOUNTKEY", "PRIVATEKEY")


def _words(name: str) -> list[str]:
    """'openaiApiKey' / 'OPENAI_API_KEY' / '--api-key' -> ['OPENAI', 'API', 'KEY']."""
    words, current = [], ""
    for index, char in enumerate(name):
        if not char.isalnum():
            words.append(current)
            current = ""
            continue
        if current and char.isupper() and name[index - 1].islower():
            words.append(current)
            current = ""
        current += char
    words.append(current)
    return [word.upper() for word in words if word]


def names_a_credential(name: str) -> bool:
    """A name (an environment variable, a parameter, an option) whose value is a credential."""
    words = _words(name)
    joined = "".join(words)
    return ("CONNECTIONSTRING" in joined
            or any(w in _CREDENTIAL_WORDS or w.endswith(_CREDENTIAL_ENDINGS) for w in words))
