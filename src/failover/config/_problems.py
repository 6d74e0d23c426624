"""How a problem names where it is: key paths (``contacts[2].channels[0]``), the problems
found while building a configuration (first one wins), and the one-line :class:`ConfigError`
every reader raises."""

from __future__ import annotations

import json
import re

from failover.errors import ConfigError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
KeyPart = str | int


def _key(*parts: KeyPart) -> str:
    """``("contacts", 2, "channels", 0)`` → ``contacts[2].channels[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{text}" if out else text
    return out


class _Problems:
    """Semantic errors found while building the config, reported first-one-wins."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[str, str]] = []

    def add(self, key: str, message: str) -> None:
        self.found.append((key, message))

    def raise_if_any(self) -> None:
        if self.found:
            key, message = self.found[0]
            raise _config_error(message, key=key, source=self.source, more=len(self.found) - 1)


#: What may not appear as such in an error's one line: line breaks, control and format
#: characters (a right-to-left override would garble it), lone surrogates.
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def _one_line(text: str) -> str:
    """``text`` with each character of :data:`_UNPRINTABLE` written as an escape (``\\n``)."""
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _config_error(
    message: str, *, key: str | None = None, line: int | None = None, source: str, more: int = 0
) -> ConfigError:
    if more:
        message += f" (and {more} more)"
    # a key or a value quoted from the file may hold any character: the error stays one line
    return ConfigError(_one_line(message), key=_one_line(key) if key else None, line=line, source=source)
