"""Structured logging, with secrets and personal data redacted before anything is written.

One line per event on stderr: JSON when the stream is not a terminal, a readable console line
when it is. Under systemd, when stderr is the journal (``$JOURNAL_STREAM`` names it), every
line starts with its syslog priority (``<6>`` for info, ``<4>`` for warning …), which
journald takes as the entry's priority (``SyslogLevelPrefix=``, on by default). Terminal
escapes (colours) are removed from every field, whoever logged it. The standard library's
loggers (uvicorn, apscheduler, alembic, …) go through the same processors, so the same
redaction applies to every line the process writes:

- configured secret values (``Redactor.add_secrets``) → ``***``
- URL userinfo: ``scheme://user:pass@host`` → ``scheme://***@host``
- apprise-style URLs (``tgram://``, ``signal://``, ``mailto://``, ``mastodons://`` …) →
  ``scheme://***``; http(s) URLs lose userinfo and any query naming a token, key or password,
  and a configured secret URL (a webhook) or any URL it begins → ``scheme://***``
- e-mail addresses (internationalised ones too) → ``<email>``; phone numbers → ``<phone>``

The cost of a line does not grow with the address book. ``Config.secrets`` holds every
contact's address, number and channel URL; they are not searched for one by one. An address
or number that the patterns above always catch whole is left to them; a URL is looked up in
a set when the URL pattern meets it; only what no pattern catches (passwords and tokens from
``${env:…}``/``${file:…}``, an address of an unusual shape) is searched for as text, and
that list holds the configuration's secrets, not its contacts.

This module stands alone: it imports nothing of failover's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["Redactor", "configure_logging", "get_logger", "logging_configured"]

_REDACTED = "***"

#: Schemes whose URLs keep their host and path (only userinfo and sensitive queries go).
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
#: Schemes whose URLs keep everything but the userinfo (database and file locations).
_LOCATION_SCHEME_PREFIXES = ("postgres", "sqlite", "mysql", "mariadb", "file", "unix")
#: Query parameter names (substrings, lower case) that make a query string secret.
_SENSITIVE_QUERY_WORDS = ("token", "key", "secret", "pass", "auth", "sig", "cred", "session")

_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30})://(?P<rest>[^\s\"'<>`]*)")
_TRAILING_PUNCTUATION = ".,;:!?)]}"
#: local part: RFC 5322 atext without the characters that delimit text in logs (= / ? & ' *
#: `), any letter (RFC 6531); domain: labels of letters, digits and '-', the last with a
#: letter (checked in the callback); greedy, so that a match never stops inside an address
_EMAIL = re.compile(r"(?<![\w.!#$%+^{|}~-])[\w.!#$%+^{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LETTER = re.compile(r"[^\W\d_]")
#: +33612345678, +33 6 12 34 56 78, +1 (555) 123-4567 (digits counted in the callback)
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{0,3}(?:[ .-]?\(?\d{1,4}\)?){1,6}(?![\d])")
#: 0612345678, 06 12 34 56 78, 06.12.34.56.78 (one separator throughout, so dates survive)
_FRENCH_PHONE = re.compile(r"(?<![\w.,:+-])0[1-9](?P<sep>[ .-]?)\d{2}(?:(?P=sep)\d{2}){3}(?![\w]|[.,:-]\d)")
#: what every match of _FRENCH_PHONE holds, found faster (no look-behind at each position)
_FRENCH_PHONE_START = re.compile(r"0[1-9](?:[ .-]\d\d|\d{8})")


def _split_trailing(rest: str) -> tuple[str, str]:
    stripped = rest.rstrip(_TRAILING_PUNCTUATION)
    return stripped, rest[len(stripped) :]


def _strip_userinfo(rest: str) -> str:
    end = len(rest)
    for mark in "/?#":
        position = rest.find(mark)
        if position >= 0:
            end = min(end, position)
    at = rest.rfind("@", 0, end)
    return f"{_REDACTED}@{rest[at + 1 :]}" if at >= 0 else rest


def _strip_sensitive_query(rest: str) -> str:
    base, question, query = rest.partition("?")
    if not question:
        return rest
    query, hash_mark, fragment = query.partition("#")
    names = (pair.partition("=")[0].lower() for pair in re.split(r"[&;]", query))
    if any(word in name for name in names for word in _SENSITIVE_QUERY_WORDS):
        query = _REDACTED
    return f"{base}?{query}{hash_mark}{fragment}"


def _redact_url(match: re.Match[str], secret_urls: _SecretUrls) -> str:
    scheme = match["scheme"]
    rest, trailing = _split_trailing(match["rest"])
    lowered = scheme.lower()
    if secret_urls.begins(match[0]):
        return f"{scheme}://{_REDACTED}{trailing}"
    if lowered in _WEB_SCHEMES:
        rest = _strip_sensitive_query(_strip_userinfo(rest))
    elif lowered.startswith(_LOCATION_SCHEME_PREFIXES):
        rest = _strip_userinfo(rest)
    else:
        # apprise URLs carry tokens, phone numbers and addresses anywhere in them
        rest = _REDACTED
    return f"{scheme}://{rest}{trailing}"


def _redact_email(match: re.Match[str]) -> str:
    # the pattern is greedy; the domain ends at its last label holding a letter
    # ("a@example.org.2" is an address followed by ".2")
    domain = match[0].rpartition("@")[2]
    labels = domain.split(".")
    while len(labels) > 2 and not _LETTER.search(labels[-1]):
        labels.pop()
    if not _LETTER.search(labels[-1]):
        return match[0]
    return "<email>" + domain[len(".".join(labels)) :]


def _redact_international_phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match[0])
    return "<phone>" if 8 <= digits <= 15 else match[0]


def _always_caught(value: str) -> bool:
    """Whether the e-mail or phone pattern replaces ``value`` whole wherever it appears."""
    if "@" in value:
        match = _EMAIL.fullmatch(value)
        return match is not None and _redact_email(match) == "<email>"
    if value.startswith("+"):
        match = _INTERNATIONAL_PHONE.fullmatch(value)
        return match is not None and _redact_international_phone(match) == "<phone>"
    return False


@dataclass(frozen=True, slots=True)
class _SecretUrls:
    """Configured URLs that must vanish whole: looked up, at each length that one has,
    as a prefix of a URL met in the text (a webhook with a path appended is still it)."""

    urls: frozenset[str] = frozenset()
    lengths: tuple[int, ...] = ()

    def begins(self, url: str) -> bool:
        for length in self.lengths:
            if length > len(url):
                return False
            if url[:length] in self.urls:
                return True
        return False


@dataclass(frozen=True, slots=True)
class _Known:
    """What the redactor looks for besides its patterns; replaced whole, never mutated,
    so that a line being redacted sees one consistent set."""

    #: secrets that no pattern catches, as one alternation (longest first)
    pattern: re.Pattern[str] | None = None
    #: the length of the shortest of them: a shorter text cannot hold one
    shortest: int = 0
    urls: _SecretUrls = field(default_factory=_SecretUrls)
    #: short texts found to hold nothing to redact against these secrets, returned as they
    #: are when met again (the same event names, outcomes and schemes come on every line);
    #: a new set of secrets starts an empty one, and only clean text is ever kept here
    clean: set[str] = field(default_factory=set)


#: how many clean texts a redactor remembers, and how long one may be
_CLEAN_TEXTS = 4096
_CLEAN_TEXT_LENGTH = 100


def _alternation(values: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(values, key=len, reverse=True)  # longest first: no partial leftovers
    return re.compile("|".join(map(re.escape, ordered)))


class Redactor:
    """Removes secrets and personal data from text; also a structlog processor that does so
    for every string of an event (recursively, exceptions included)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        #: secrets no pattern catches
        self._opaque: set[str] = set()
        #: values a pattern catches (addresses, numbers, URLs), kept to be checked against
        #: the opaque ones: an opaque secret replaced inside an address would break it
        #: before its pattern sees it, so such a value is searched for whole as well
        self._caught: set[str] = set()
        self._urls: set[str] = set()
        self._known = _Known()
        self.add_secrets(secrets)

    def add_secrets(self, values: Iterable[str]) -> None:
        """Redact these exact values from now on (e.g. ``Config.secrets``)."""
        with self._lock:
            opaque, caught, urls = len(self._opaque), len(self._caught), len(self._urls)
            for value in values:
                if not value or value in self._opaque or value in self._caught:
                    continue
                if _always_caught(value):
                    self._caught.add(value)
                elif "://" in value and (url := _URL.fullmatch(value)) is not None:
                    self._caught.add(value)
                    scheme = url["scheme"].lower()
                    if scheme in _WEB_SCHEMES or scheme.startswith(_LOCATION_SCHEME_PREFIXES):
                        self._urls.add(value)
                    # other schemes are redacted whole by the URL pattern
                else:
                    self._opaque.add(value)
            if (opaque, caught, urls) != (len(self._opaque), len(self._caught), len(self._urls)):
                self._known = self._compile()

    def _compile(self) -> _Known:
        searched = set(self._opaque)
        if self._opaque:
            inside = _alternation(self._opaque)
            searched.update(value for value in self._caught if inside.search(value))
        return _Known(
            pattern=_alternation(searched) if searched else None,
            shortest=min(map(len, searched), default=0),
            urls=_SecretUrls(urls=frozenset(self._urls), lengths=tuple(sorted({len(u) for u in self._urls}))),
        )

    def redact(self, text: str) -> str:
        known = self._known
        if text in known.clean:
            return text
        redacted = self._redact(text, known)
        if redacted == text and len(text) <= _CLEAN_TEXT_LENGTH:
            if len(known.clean) >= _CLEAN_TEXTS:
                known.clean.clear()  # bounded: the ones that come back come back soon
            known.clean.add(text)
        return redacted

    @staticmethod
    def _redact(text: str, known: _Known) -> str:
        # each pattern runs only on a text that holds what any match of it holds (a secret
        # is at least as long as the shortest one, a French number starts with "0" and two
        # digits more): most fields (names, outcomes, counters' text) meet no pattern at all
        if known.pattern is not None and len(text) >= known.shortest:
            text = known.pattern.sub(_REDACTED, text)
        if "://" in text:
            text = _URL.sub(lambda match: _redact_url(match, known.urls), text)
        if "@" in text:
            text = _EMAIL.sub(_redact_email, text)
        if "+" in text:
            text = _INTERNATIONAL_PHONE.sub(_redact_international_phone, text)
        if "0" in text and _FRENCH_PHONE_START.search(text):
            text = _FRENCH_PHONE.sub("<phone>", text)
        return text

    def redact_value(self, value: Any) -> Any:
        """Redact a log field: strings, containers of them, and anything else as its text."""
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(v) for v in value]
        # exceptions, paths, URLs objects…: their text is what would be written
        return self.redact(str(value))

    def __call__(self, _logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self.redact_value(value) for key, value in event_dict.items()}


def _drop_color_message(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    # uvicorn repeats the message with ANSI colours in an extra field
    event_dict.pop("color_message", None)
    return event_dict


#: an escape sequence (CSI such as colours, OSC such as a window title, or any other) or a
#: lone ESC: none may reach a log line, where it would garble a terminal or a JSON reader
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])?")


def _without_escapes(value: Any) -> Any:
    if isinstance(value, str):
        return _ESCAPE.sub("", value) if "\x1b" in value else value
    if isinstance(value, Mapping):
        return {k: _without_escapes(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_escapes(v) for v in value]
    return value


#: the fields the formatter sets from the record itself (_Formatter) just before they are
#: cleaned (the level's name, the logger's name, the time): nothing a caller passes or a
#: record carries can end up in them
_OWN_FIELDS = frozenset({"level", "logger", "timestamp"})


def _cleaner(redactor: Redactor) -> Processor:
    """The processor that redacts every field but the formatter's own, then removes
    terminal escapes from it, in one pass over the event."""
    redact = redactor.redact

    def clean(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
        cleaned: EventDict = {}
        for key, value in event_dict.items():
            if key in _OWN_FIELDS:
                cleaned[key] = value
            elif type(value) is str:  # most fields: the shortcut of redact_value's first case
                text = redact(value)
                cleaned[key] = _ESCAPE.sub("", text) if "\x1b" in text else text
            elif value is None or type(value) is int:  # and of its second
                cleaned[key] = value
            else:
                cleaned[key] = _without_escapes(redactor.redact_value(value))
        return cleaned

    return clean


#: syslog priorities (RFC 5424) of the logging levels, highest level first
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
_DEBUG_PRIORITY = 7


def _syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: critical 2, error 3, warning 4, info 6,
    debug 7 (a level in between takes the priority of the level below it)."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return _DEBUG_PRIORITY


def _is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether ``stream`` is the journal: systemd names the stream it connected in
    ``$JOURNAL_STREAM`` (``device:inode``); a process started from a service with its stderr
    redirected elsewhere inherits the variable, so the stream itself is compared."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (AttributeError, OSError, ValueError):  # no descriptor (io.StringIO), no variable
        return False


class _Handler(logging.StreamHandler[TextIO]):
    """Writes each formatted record as a line on a stream; without a stream, on whatever
    ``sys.stderr`` is when the line is written (a progress bar that redirects stderr above
    itself, a test runner that captures it). In ``journal`` mode every line starts with
    the record's syslog priority."""

    def __init__(self, stream: TextIO | None, *, journal: bool) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.follows_stderr = stream is None
        self.journal = journal

    def emit(self, record: logging.LogRecord) -> None:
        # StreamHandler.emit, but flushing without taking the lock again: emit is called
        # holding it
        if self.follows_stderr:
            self.stream = sys.stderr
        try:
            line = self.format(record) + self.terminator
            self.stream.write(line)
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 (as logging's handlers: a line lost is reported, not raised)
            self.handleError(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.journal:
            return text
        prefix = f"<{_syslog_priority(record.levelno)}>"
        # journald reads a prefix per line: a multi-line record (a console traceback) keeps
        # its priority on each of them
        return "\n".join(prefix + line for line in text.split("\n"))


def _json_fallback(value: Any) -> Any:
    # as structlog's JSONRenderer: what an object says it is in a log, else its repr
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


#: one encoder for every line (``json.dumps`` with an argument makes one per call)
_ENCODE = json.JSONEncoder(default=_json_fallback).encode


def _render_json(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> str:
    return _ENCODE(event_dict)


_STACK_INFO = structlog.processors.StackInfoRenderer()


def _tracebacks(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog's StackInfoRenderer and format_exc_info, called only when there is
    something for them (they change an event only when it holds their field)."""
    if "stack_info" in event_dict or "exc_info" in event_dict:
        event_dict = _STACK_INFO(logger, method_name, event_dict)
        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    return event_dict


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's ProcessorFormatter without its copy of every record (a new LogRecord per
    line, made so that other handlers see the record unchanged): this one changes nothing
    on the record (the event dictionary is copied, the processors only read the record)
    and returns the rendered line, which is all the base class's ``%(message)s`` format
    makes of it once it has taken the traceback and stack out of the copy. (Of the base
    class's options it follows only the processors and the foreign records' pre-chain:
    configure_logging sets no other.)

    It sets the fields it owns (``level``, ``logger``, ``timestamp``) from the record
    itself, after whatever a caller passed or a record carried, so that the processors
    after it may trust those three. The time is the record's, in UTC, written as
    structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it
    (``2024-05-01T12:00:00.250000Z``, no fraction on the second itself); the date and
    time of day are made once a second."""

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        method_name = getattr(record, "_name", None)
        logger = getattr(record, "_logger", None)
        event_dict: EventDict
        if method_name is not None and logger is not None:  # set by wrap_for_formatter
            event_dict = dict(cast("EventDict", record.msg))
        else:
            logger = None
            method_name = record.levelname.lower()
            event_dict = {"event": record.getMessage(), "_record": record, "_from_structlog": False}
            if record.exc_info:
                event_dict["exc_info"] = record.exc_info
            if record.stack_info:
                event_dict["stack_info"] = record.stack_info
            for processor in self.foreign_pre_chain or ():
                event_dict = cast("EventDict", processor(logger, method_name, event_dict))
            del event_dict["_record"], event_dict["_from_structlog"]
        event_dict = structlog.stdlib.add_log_level(logger, method_name, event_dict)
        event_dict["logger"] = record.name
        second, fraction = divmod(round(record.created * 1_000_000), 1_000_000)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        event_dict["timestamp"] = f"{cached[1]}.{fraction:06d}Z" if fraction else f"{cached[1]}Z"
        line: Any = event_dict
        for processor in self.processors:
            line = processor(logger, method_name, line)
        if not isinstance(line, str):
            raise TypeError(f"the last processor returned {type(line).__name__}, not the line")
        return line


def logging_configured() -> bool:
    """Whether :func:`configure_logging` has set up this process's logging: structlog's
    side too (left to its defaults, structlog prints every event on stdout, among a
    command's output)."""
    if not structlog.is_configured():
        return False
    # configured by someone, but handing events to the standard library as ours does? (a
    # test helper that restores structlog's defaults leaves it "configured", printing)
    settings = structlog.get_config()
    hands_over = structlog.stdlib.ProcessorFormatter.wrap_for_formatter in settings["processors"]
    to_stdlib = isinstance(settings["logger_factory"], structlog.stdlib.LoggerFactory)
    return hands_over and to_stdlib and any(isinstance(h, _Handler) for h in logging.getLogger().handlers)


#: the loggers of failover's own events (``get_logger("failover.…")``)
_OWN_LOGGERS = "failover"


def _numeric_level(level: str) -> int:
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r} (expected debug, info, warning or error)")
    return numeric


def configure_logging(
    *,
    level: str = "info",
    libraries: str | None = None,
    json: bool | None = None,
    stream: TextIO | None = None,
    journal: bool | None = None,
) -> Redactor:
    """Send structlog and standard-library logging to ``stream`` (by default stderr, as it
    is when each line is written) as JSON lines (not a terminal, or ``json=True``) or
    console lines, every field redacted and stripped of terminal escapes; each line prefixed
    with its syslog priority when the stream is the journal (``journal=None``: when
    ``$JOURNAL_STREAM`` names it). failover's own events are kept from ``level`` up, other
    libraries' from ``libraries`` up (default: ``level``).

    Returns the :class:`Redactor`, to which the caller adds the configuration's secrets.
    Calling it again replaces the previous set-up.
    """
    out = stream if stream is not None else sys.stderr
    as_json = json if json is not None else not (hasattr(out, "isatty") and out.isatty())
    to_journal = journal if journal is not None else _is_journal(out, os.environ)
    redactor = Redactor()
    numeric_level = _numeric_level(level)
    libraries_level = _numeric_level(libraries) if libraries is not None else numeric_level

    renderer: Processor = (
        _render_json
        if as_json
        else structlog.dev.ConsoleRenderer(colors=hasattr(out, "isatty") and out.isatty())
    )
    formatter = _Formatter(
        # the extras come in first, so that uvicorn's coloured copy of its message goes
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.ExtraAdder(),
            _drop_color_message,
        ],
        processors=[
            # tracebacks become text here, so that the redactor sees them
            _tracebacks,
            _cleaner(redactor),
            renderer,
        ],
    )
    handler = _Handler(stream, journal=to_journal)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(libraries_level)
    logging.getLogger(_OWN_LOGGERS).setLevel(numeric_level)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # loggers created at import time must follow a later reconfiguration
        cache_logger_on_first_use=False,
    )
    return redactor


def get_logger(name: str, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A structured logger named ``name`` (``failover.probes`` …)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial_values)
    return logger
