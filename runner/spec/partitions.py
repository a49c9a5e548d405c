"""Azure's partition_format: `/{Department}/{PartitionDate:yyyy/MM/dd}/data.csv`.

`{name}` takes one path segment (or part of one) as text; `{name:format}` takes a date
and time written with yyyy, MM, dd, HH, mm and ss (Azure makes it a datetime column;
locally the value is its ISO text, 2019-01-31 or 2019-01-31T10:30:00). The spec keeps the
format as written, so Azure gets it unchanged; here it is checked once and turned into
the regex the local engine matches paths with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKENS = {"yyyy": ("%Y", r"\d{4}"), "MM": ("%m", r"\d{2}"), "dd": ("%d", r"\d{2}"),
           "HH": ("%H", r"\d{2}"), "mm": ("%M", r"\d{2}"), "ss": ("%S", r"\d{2}")}
_TOKEN = re.compile("|".join(_TOKENS))
_TIME_TOKENS = ("HH", "mm", "ss")


@dataclass(frozen=True)
class Placeholder:
    name: str
    date_format: str | None = None  # "yyyy/MM/dd" for {name:yyyy/MM/dd}

    def pattern(self) -> str:
        """The regex a path part must match: one segment, or the date's own layout."""
        if self.date_format is None:
            return f"(?P<{self.name}>[^/]+)"
        parts, last = [], 0
        for token in _TOKEN.finditer(self.date_format):
            parts.append(re.escape(self.date_format[last:token.start()]) + _TOKENS[token.group()][1])
            last = token.end()
        parts.append(re.escape(self.date_format[last:]))
        return f"(?P<{self.name}>{''.join(parts)})"

    def value(self, text: str) -> str | None:
        """The key's value from the matched text: the text, or the date as ISO text (None
        when the digits are not a real date, such as month 13)."""
        if self.date_format is None:
            return text
        strptime = _TOKEN.sub(lambda t: _TOKENS[t.group()][0], self.date_format.replace("%", "%%"))
        try:
            moment = datetime.strptime(text, strptime)
        except ValueError:
            return None
        timed = any(token in self.date_format for token in _TIME_TOKENS)
        return moment.isoformat() if timed else moment.date().isoformat()


def placeholders(partition_format: str) -> list[Placeholder]:
    """The keys of a partition_format, in order; ValueError says what is wrong with it."""
    found: list[Placeholder] = []
    for match in _PLACEHOLDER.finditer(partition_format):
        name, colon, date_format = match.group(1).partition(":")
        if not _NAME.match(name):
            raise ValueError(f"'{{{match.group(1)}}}' is not a partition key: a key is a name of letters, "
                             "digits and _ not starting with a digit, optionally with a date format "
                             "({PartitionDate:yyyy/MM/dd})")
        if any(p.name == name for p in found):
            raise ValueError(f"partition key '{name}' appears twice")
        if colon:
            _check_date_format(name, date_format)
        found.append(Placeholder(name, date_format if colon else None))
    rest = _PLACEHOLDER.sub("", partition_format)
    if "{" in rest or "}" in rest:
        raise ValueError("unbalanced '{' or '}': write each key as {name} or {name:yyyy/MM/dd}")
    if not found:
        raise ValueError("no {key} in partition_format, e.g. /{year}/{month}/{name}.csv")
    return found


def _check_date_format(name: str, date_format: str) -> None:
    tokens = _TOKEN.findall(date_format)
    rest = _TOKEN.sub("", date_format)
    if not tokens or any(ch.isalnum() for ch in rest):
        raise ValueError(f"the format of '{name}' ({date_format!r}) must be built from yyyy, MM, dd, HH, mm "
                         "and ss with separators between them, e.g. yyyy/MM/dd")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"the format of '{name}' ({date_format!r}) repeats a part")


def check(partition_format: str | None) -> str | None:
    """Validator for the spec field: the format unchanged when it is valid."""
    if partition_format is not None:
        keys = placeholders(partition_format)
        undated = {f"{{{key.name}}}" for key in keys if key.date_format is None}
        # Each undated {key} is a wildcard of its own, even beside another: `{a}{b}` is two.
        problem = wildcard_problem(_PLACEHOLDER.sub(lambda m: "*\0" if m.group(0) in undated else "",
                                                    partition_format))
        if problem:
            raise ValueError(problem)
    return partition_format


# Parts of a pattern that match any number of characters (`*`, an undated {key}) are
# matched by a regular expression, which backtracks: k of them in one folder name cost
# about n**k steps on a name of n characters (six took minutes on a 120-character name),
# and folder names that each match in several ways multiply. One wildcard in a folder
# name matches one way; one folder name may have two; `**` may appear twice.
MAX_WILDCARDS = 2
MAX_DEEP = 2


def _wildcards(part: str) -> int:
    return sum(1 for i, c in enumerate(part) if c == "*" and (i == 0 or part[i - 1] != "*"))


def wildcard_problem(pattern: str) -> str | None:
    """Why matching `pattern` (a glob or a partition_format) could take unbounded time, or None."""
    if pattern.count("**") > MAX_DEEP:
        return f"more than {MAX_DEEP} '**' in one pattern: matching it could take minutes; narrow it down"
    parts = [part.replace("**", "") for part in pattern.replace("\\", "/").split("/")]
    crowded = [part for part in parts if _wildcards(part) > 1]
    if len(crowded) > 1 or any(_wildcards(part) > MAX_WILDCARDS for part in crowded):
        shown = "', '".join(part[:40].replace("*\0", "*") for part in crowded)
        return (f"too many wildcards ('*' or a {{key}}) in '{shown}': one folder name may have "
                f"{MAX_WILDCARDS}, the others one each; matching it could take minutes; narrow it down")
    return None


def partition_regex(partition_format: str) -> re.Pattern[str]:
    """The format as a regex over a path relative to the dataset's folder; `*` matches
    within one segment."""
    text = partition_format.lstrip("/")
    keys = iter(placeholders(text))
    out, last = [], 0
    for match in _PLACEHOLDER.finditer(text):
        out.append(re.escape(text[last:match.start()]).replace(r"\*", "[^/]*"))
        out.append(next(keys).pattern())
        last = match.end()
    out.append(re.escape(text[last:]).replace(r"\*", "[^/]*"))
    return re.compile("".join(out))
