"""Secret references: ``${env:NAME}`` and ``${file:/path}`` (a path may itself name a
variable) replaced in every string of the parsed file, ``$${`` for a literal ``${``; each
value substituted is remembered as a secret, for redaction."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from failover.config._problems import KeyPart, _config_error, _key
from failover.config._toml import _MAX_NESTING

_REFERENCE = re.compile(
    r"\$\$\{"  # an escaped literal "${"
    r"|\$\{(?P<kind>env|file):(?P<arg>(?:[^{}$]|\$\{env:[^{}]*\})*)\}"
    r"|\$\{"  # anything else that looks like a reference is a mistake
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NESTED_ENV = re.compile(r"\$\{env:([^{}]*)\}")


class _ReferenceError(Exception):
    pass


class _Resolver:
    """Replaces ``${env:NAME}`` and ``${file:/path}`` in every string of the parsed TOML,
    remembering each substituted value as a secret."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.secrets: set[str] = set()

    def tree(self, value: Any, path: tuple[KeyPart, ...], source: str) -> Any:
        if len(path) > _MAX_NESTING:
            # dotted keys nest without brackets; no configuration goes near this deep
            raise _config_error(
                f"nested more than {_MAX_NESTING} levels deep", key=_key(*path[:_MAX_NESTING]), source=source
            )
        if isinstance(value, str):
            try:
                return self.string(value)
            except _ReferenceError as exc:
                raise _config_error(str(exc), key=_key(*path), source=source) from None
        if isinstance(value, dict):
            return {k: self.tree(v, (*path, k), source) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, (*path, i), source) for i, v in enumerate(value)]
        return value

    def string(self, text: str) -> str:
        if "${" not in text:
            return text
        return _REFERENCE.sub(self._substitute, text)

    def _env(self, name: str) -> str:
        if not _ENV_NAME.fullmatch(name):
            raise _ReferenceError(f"invalid environment variable name in ${{env:{name}}}")
        if name not in self.env:
            raise _ReferenceError(f"environment variable '{name}' is not set")
        return self.env[name]

    def _substitute(self, match: re.Match[str]) -> str:
        if match[0] == "$${":
            return "${"
        kind = match["kind"]
        if kind is None:
            raise _ReferenceError(
                "unknown reference: expected ${env:NAME} or ${file:/path} ($${ for a literal)"
            )
        if kind == "env":
            value = self._env(match["arg"])
        else:
            # the path may itself name a variable, e.g. ${file:${env:CREDENTIALS_DIRECTORY}/smtp}
            path = _NESTED_ENV.sub(lambda m: self._env(m[1]), match["arg"])
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
                raise _ReferenceError(f"cannot read secret file '{path}': {reason}") from None
        if value:
            self.secrets.add(value)
        return value
