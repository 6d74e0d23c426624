"""The one exception tree of failover. Only our own faults raise; a target being
down is an observation, never an exception.

    FailoverError
    ├── ConfigError            a configuration file, key or secret reference is wrong
    ├── StoreError             the database cannot be reached, migrated or written
    │   └── AlreadyRunningError  another daemon holds the database
    ├── NotifyError            a notice cannot be rendered or a channel is misconfigured
    │   └── TemplateError      a template does not render
    └── ContactImportError     an imported contacts file is malformed

Adapters translate library exceptions into these with ``raise ... from exc``; messages
never carry secrets or personal data.
"""

from __future__ import annotations

__all__ = [
    "AlreadyRunningError",
    "ConfigError",
    "ContactImportError",
    "FailoverError",
    "NotifyError",
    "StoreError",
    "TemplateError",
]


class FailoverError(Exception):
    """Base of every error failover raises on purpose."""


class ConfigError(FailoverError):
    """The configuration is invalid. ``key`` is the path (``contacts[2].channels[0]``),
    ``line`` the line of a syntax error, when known."""

    def __init__(
        self, message: str, *, key: str | None = None, line: int | None = None, source: str | None = None
    ) -> None:
        self.message = message
        self.key = key
        self.line = line
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.key:
            where.append(self.key)
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class StoreError(FailoverError):
    """The database failed us."""


class AlreadyRunningError(StoreError):
    """Another daemon already runs on this database."""


class NotifyError(FailoverError):
    """A notice cannot be prepared."""


class TemplateError(NotifyError):
    """A template does not render against its sample."""


class ContactImportError(FailoverError):
    """An imported contacts file is malformed; ``row`` is where, when known."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        self.message = message
        self.row = row
        super().__init__(f"row {row}: {message}" if row is not None else message)
