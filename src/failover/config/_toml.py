"""TOML text → a table: tomllib behind a guard against nesting deep enough to exhaust
its recursion, and its syntax errors turned into a :class:`ConfigError` naming the line."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from failover.config._problems import _config_error

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$|\s*\(at end of document\)\s*$")


#: How deep tables, arrays and inline tables may nest; the deepest real key is 4 levels down.
_MAX_NESTING = 32
#: What opens or closes a nesting level, starts a string or a comment, or ends a line.
_TOML_TOKEN = re.compile(r"""\"\"\"|'''|["'#\[\]{}\n]""")
#: The rest of a string once its opening quotes are read.
_TOML_STRING_REST = {
    '"""': re.compile(r'(?:[^\\]|\\.)*?""""{0,2}', re.DOTALL),  # """a"""" ends in a quote
    "'''": re.compile(r".*?''''{0,2}", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
}


def _too_deep(text: str) -> int | None:
    """The line where arrays and inline tables nest deeper than :data:`_MAX_NESTING`, if
    any: tomllib reads them by recursion, and a few hundred ``[`` exhaust the stack."""
    depth, line, pos = 0, 1, 0
    while (token := _TOML_TOKEN.search(text, pos)) is not None:
        pos = token.end()
        kind = token[0]
        if kind == "\n":
            line += 1
        elif kind == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif kind in _TOML_STRING_REST:
            rest = _TOML_STRING_REST[kind].match(text, pos)
            if rest is None:
                return None  # an unterminated string: tomllib names its line
            line += text.count("\n", pos, rest.end())
            pos = rest.end()
        elif kind in "[{":
            depth += 1
            if depth > _MAX_NESTING:
                return line
        else:
            depth = max(0, depth - 1)
    return None


def _parse_toml(text: str, *, source: str) -> dict[str, Any]:
    deep_line = _too_deep(text)
    if deep_line is not None:
        raise _config_error(f"nested more than {_MAX_NESTING} levels deep", line=deep_line, source=source)
    try:
        return tomllib.loads(text)
    except RecursionError:  # nesting _too_deep did not see, should there be any
        raise _config_error(f"nested more than {_MAX_NESTING} levels deep", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        if match and match[1]:
            line: int | None = int(match[1])
        else:  # "at end of document": the last line that has something on it
            line = max(1, len(text.rstrip().splitlines()))
        if match:
            message = message[: match.start()]
        raise _config_error(message or "invalid TOML", line=line, source=source) from None
