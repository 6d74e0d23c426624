"""Rendering a notice: a pure function of the template, the incident, the contact and
the time. Jinja2 runs sandboxed (templates come from configuration files), undefined
names are errors, and nothing is HTML-escaped: every channel here carries plain text.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from failover.domain import (
    Contact,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Template,
    TemplateText,
    Visibility,
)
from failover.durations import units
from failover.errors import TemplateError

__all__ = [
    "FALLBACK_LANGUAGE",
    "Alternatives",
    "LanguageGap",
    "RenderedNotice",
    "alternatives_in",
    "format_duration",
    "format_time",
    "in_language",
    "join_words",
    "language_gaps",
    "manual_message",
    "render_notice",
    "validate_template",
]

#: The language used when a contact's own has no text in a template.
FALLBACK_LANGUAGE = "en"

#: The "other ways to reach us" lines: one list for every language, or a list per language
#: (``{"fr": [...], "en": [...]}``), as ``Config.alternatives`` holds them.
Alternatives = Sequence[str] | Mapping[str, Sequence[str]]

_T = TypeVar("_T")

_MONTHS = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
}  # fmt: skip
_AT = {"en": "at", "fr": "à"}
_AND = {"en": "and", "fr": "et"}
_UNDER_A_MINUTE = {"en": "less than a minute", "fr": "moins d'une minute"}
_DAYS = {"en": ("day", "days"), "fr": ("jour", "jours")}


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderedNotice:
    """The text one contact receives, in the language it was rendered in."""

    subject: str
    body: str
    language: str


def _language_known(language: str, table: Mapping[str, object]) -> str:
    """``language``, else its base (``fr`` for ``fr-CA``), else the fallback language."""
    for candidate in (language, language.split("-", maxsplit=1)[0]):
        if candidate in table:
            return candidate
    return FALLBACK_LANGUAGE


def join_words(items: Iterable[str], *, language: str) -> str:
    """A list as a sentence says it: ``Facebook et WhatsApp``, ``A, B and C``."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    conjunction = _AND[_language_known(language, _AND)]
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


@jinja2.pass_context
def _join_words_filter(context: jinja2.runtime.Context, items: Iterable[object]) -> str:
    return join_words((str(item) for item in items), language=str(context.get("language", FALLBACK_LANGUAGE)))


# Compiled templates are kept per source text: a fan-out renders the same few
# sources thousands of times. The environment holds no state of ours.
_ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain text on every channel; escaping would garble it
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
#: ``{{ platforms | join_words }}``: "Facebook et WhatsApp" in French, "… and …" in English
_ENVIRONMENT.filters["join_words"] = _join_words_filter


#: where compiled templates outlive the process (see :func:`use_bytecode_cache`)
_bytecode_cache: jinja2.BytecodeCache | None = None


def use_bytecode_cache(cache: jinja2.BytecodeCache | None) -> None:
    """Keep compiled templates in ``cache`` from now on (None: in this process only)."""
    global _bytecode_cache  # noqa: PLW0603 - one cache for the process, like the environment
    _bytecode_cache = cache
    _compile.cache_clear()


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    cache = _bytecode_cache
    if cache is None:
        return _ENVIRONMENT.from_string(source)
    # named by the source itself: the cache checks the source's checksum, not its name
    name = hashlib.sha256(source.encode()).hexdigest()
    bucket = cache.get_bucket(_ENVIRONMENT, name, None, source)
    code = bucket.code
    if code is None:
        code = _ENVIRONMENT.compile(source)
        bucket.code = code
        cache.set_bucket(bucket)
    return _ENVIRONMENT.template_class.from_code(_ENVIRONMENT, code, _ENVIRONMENT.make_globals(None), None)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # config validates zones; should one vanish from the system, UTC is still
        # truthful because the zone's abbreviation is printed with the time
        return UTC


def format_time(moment: datetime, *, language: str, zone: str = "UTC") -> str:
    """``4 October 2021 at 17:40 CEST`` / ``1er octobre 2021 à 17:40 CEST``; ISO-like for
    languages without month names here."""
    local = moment.astimezone(_zone(zone))
    abbreviation = local.tzname() or "UTC"
    months = _MONTHS.get(language)
    if months is None:
        return f"{local:%Y-%m-%d %H:%M} {abbreviation}"
    day = "1er" if language == "fr" and local.day == 1 else str(local.day)
    return f"{day} {months[local.month - 1]} {local.year} {_AT[language]} {local:%H:%M} {abbreviation}"


def format_duration(span: timedelta, *, language: str) -> str:
    """As people say it, coarse: ``3 jours``, ``2 days and 3 h``, ``1 h``, ``2 h 5 min``,
    ``12 min``, ``moins d'une minute`` (days drop the minutes)."""
    language = _language_known(language, _DAYS)
    days, hours, minutes, _ = units(span)
    if days:
        one, many = _DAYS[language]
        spelt = f"{days} {one if days == 1 else many}"
        return f"{spelt} {_AND[language]} {hours} h" if hours else spelt
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return _UNDER_A_MINUTE[language]


def in_language(values: Mapping[str, _T], language: str) -> tuple[str, _T] | None:
    """The value written for ``language`` and the language it is in: its own, its base
    language's (``fr`` for ``fr-CA``), the fallback language's, else the first by language
    code (better another language than nothing); None when ``values`` is empty."""
    for candidate in (language, language.split("-", maxsplit=1)[0], FALLBACK_LANGUAGE):
        if candidate in values:
            return candidate, values[candidate]
    if values:
        first = min(values)
        return first, values[first]
    return None


def alternatives_in(alternatives: Alternatives, language: str) -> tuple[str, ...]:
    """The alternatives a reader of ``language`` is given: a plain list whatever the
    language; from a list per language, theirs, else as :func:`in_language` falls back
    (a language given an empty list has none, and falls back too)."""
    if isinstance(alternatives, Mapping):
        found = in_language({lang: lines for lang, lines in alternatives.items() if lines}, language)
        return tuple(found[1]) if found is not None else ()
    return tuple(alternatives)


def _message_in(message: str | Mapping[str, str], language: str) -> str:
    if isinstance(message, str):
        return message
    found = in_language({lang: text for lang, text in message.items() if text}, language)
    return found[1] if found is not None else ""


def manual_message(language: str, *, message: str = "", messages: Mapping[str, str] | None = None) -> str:
    """The operator's words a reader of ``language`` gets: the text written for their
    language (or its base language) in ``messages``, else ``message`` (the text for every
    language), else another language's as :func:`in_language` falls back (better another
    language than nothing); empty when there is no text at all."""
    written = {lang: text for lang, text in (messages or {}).items() if text}
    own = written.get(language) or written.get(language.split("-", maxsplit=1)[0])
    if own:
        return own
    if message:
        return message
    found = in_language(written, language)
    return found[1] if found is not None else ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LanguageGap:
    """Something written per language but not in ``language``: its readers get the text
    of ``used`` instead, or nothing when ``used`` is None. For a template (``what`` is
    ``"template"``), ``template`` names it."""

    language: str
    what: Literal["alternatives", "message", "template"]
    used: str | None
    template: str | None = None


def _gap(
    values: Mapping[str, Sequence[str]] | Mapping[str, str],
    language: str,
    what: Literal["alternatives", "message"],
) -> LanguageGap | None:
    written = {lang: value for lang, value in values.items() if value}
    if language in written or language.split("-", maxsplit=1)[0] in written:
        return None
    found = in_language(written, language)
    return LanguageGap(language=language, what=what, used=found[0] if found is not None else None)


def language_gaps(
    languages: Iterable[str],
    *,
    alternatives: Alternatives,
    message: str | Mapping[str, str] | None = None,
) -> tuple[LanguageGap, ...]:
    """What a preview warns about, for recipients of these languages: alternatives or a
    manual message not written in their language (and which one they get instead), and
    no alternatives at all. A plain list or a plain message is everyone's: no gap."""
    gaps: list[LanguageGap | None] = []
    for language in sorted(set(languages)):
        if isinstance(alternatives, Mapping):
            gaps.append(_gap(alternatives, language, "alternatives"))
        elif not alternatives:
            gaps.append(LanguageGap(language=language, what="alternatives", used=None))
        if isinstance(message, Mapping):
            gaps.append(_gap(message, language, "message"))
    return tuple(gap for gap in gaps if gap is not None)


def _pick_text(template: Template, language: str) -> tuple[str, TemplateText]:
    found = in_language(template.texts, language)
    if found is None:
        raise TemplateError(f"template {template.name!r} has no text")
    return found


def _variables(
    *,
    template: Template,
    language: str,
    incident: Incident,
    event: IncidentEvent,
    contact: Contact | None,
    now: datetime,
    alternatives: Alternatives,
    platform_names: Mapping[str, str],
    zone: str,
    message: str | Mapping[str, str] | None,
) -> dict[str, Any]:
    platforms = [platform_names.get(name, name) for name in incident.platforms]
    # a custom incident (a manual failover about "website") has no platforms: its name says
    # what it is about, so that no subject or sentence is about nothing
    names = (
        join_words(platforms, language=language)
        if platforms
        else incident.name[:1].upper() + incident.name[1:]
    )
    if message is None:
        message = (
            manual_message(language, message=incident.message, messages=dict(incident.messages))
            if incident.kind is IncidentKind.manual
            else ""
        )
    variables: dict[str, Any] = {
        "platforms": platforms,
        "platform": platforms[0] if platforms else incident.name,
        "names": names,
        "family": incident.name if incident.scope is IncidentScope.family else "",
        "event": str(event),
        "kind": str(incident.kind),
        "language": language,
        "started_at": format_time(incident.opened_at, language=language, zone=zone),
        "duration": format_duration(incident.duration(now), language=language),
        "message": _message_in(message, language),
        "alternatives": list(alternatives_in(alternatives, language)),
    }
    if template.visibility is Visibility.private and contact is not None:
        variables["contact_name"] = contact.name
    return variables


def render_notice(
    *,
    template: Template,
    language: str,
    incident: Incident,
    event: IncidentEvent,
    contact: Contact | None,
    now: datetime,
    alternatives: Alternatives,
    platform_names: Mapping[str, str],
    timezone: str | None = None,
    message: str | Mapping[str, str] | None = None,
) -> RenderedNotice:
    """Render one notice in ``language`` (or the closest the template has).

    Times are shown in the contact's time zone; ``timezone`` (the organisation's,
    ``daemon.timezone``) is used when there is no contact, and always for a public
    template: a public template never sees the contact, whatever is passed as
    ``contact`` (no ``contact_name``, not even its zone). ``alternatives`` and ``message``
    (which replaces a manual incident's own; given, it is shown for any incident) may be
    written per language: the reader's, else as :func:`in_language` falls back.

    Raises :class:`TemplateError` naming the template and language when it does not render.
    """
    if template.visibility is Visibility.public:
        contact = None
    used_language, text = _pick_text(template, language)
    variables = _variables(
        template=template,
        language=used_language,
        incident=incident,
        event=event,
        contact=contact,
        now=now,
        alternatives=alternatives,
        platform_names=platform_names,
        zone=contact.timezone if contact is not None else (timezone or "UTC"),
        message=message,
    )
    try:
        subject = _compile(text.subject).render(variables)
        body = _compile(text.body).render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {template.name!r} ({used_language}): {exc}") from exc
    except Exception as exc:
        # A template is the operator's code (1 // 0, "a" + 1 …). Only the kind is said:
        # the exception's own words may quote a contact's data.
        raise TemplateError(
            f"template {template.name!r} ({used_language}) failed: {type(exc).__name__}"
        ) from exc
    return RenderedNotice(subject=" ".join(subject.split()), body=body.strip() + "\n", language=used_language)


_SAMPLE_OPENED = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
_SAMPLE_NOW = _SAMPLE_OPENED + timedelta(hours=6, minutes=5)
_SAMPLE_FAMILY = Incident(
    key="sample",
    scope=IncidentScope.family,
    kind=IncidentKind.unreachable,
    name="meta",
    platforms=("whatsapp", "messenger"),
    opened_at=_SAMPLE_OPENED,
    confirmed_at=_SAMPLE_OPENED + timedelta(minutes=1),
)
_SAMPLE_DEGRADED = replace(
    _SAMPLE_FAMILY,
    scope=IncidentScope.platform,
    kind=IncidentKind.degraded,
    name="whatsapp",
    platforms=("whatsapp",),
)
_SAMPLE_MANUAL = replace(_SAMPLE_DEGRADED, kind=IncidentKind.manual, message="A sample message.")
_SAMPLE_CUSTOM = replace(_SAMPLE_MANUAL, scope=IncidentScope.custom, name="website", platforms=())
_OUTAGE_EVENTS = (
    IncidentEvent.opened,
    IncidentEvent.confirmed,
    IncidentEvent.updated,
    IncidentEvent.reminder,
)
#: every incident and event a template may be rendered for, tried when it is validated
_SAMPLES: tuple[tuple[Incident, tuple[IncidentEvent, ...]], ...] = (
    (_SAMPLE_FAMILY, _OUTAGE_EVENTS),
    (_SAMPLE_DEGRADED, (IncidentEvent.confirmed, IncidentEvent.reminder)),
    (_SAMPLE_MANUAL, (IncidentEvent.manual, IncidentEvent.reminder)),
    (_SAMPLE_CUSTOM, (IncidentEvent.manual,)),
)
_SAMPLE_CONTACT = Contact(name="Sample Contact", language="en", timezone="Europe/Paris")
_SAMPLE_ALTERNATIVES = ("e-mail: contact@example.org", "Signal: +33 6 00 00 00 00")
_SAMPLE_NAMES = {"whatsapp": "WhatsApp", "messenger": "Messenger"}


def _render_sample(
    template: Template, language: str, incident: Incident, event: IncidentEvent
) -> RenderedNotice:
    return render_notice(
        template=template,
        language=language,
        incident=incident,
        event=event,
        contact=_SAMPLE_CONTACT,
        now=_SAMPLE_NOW,
        alternatives=_SAMPLE_ALTERNATIVES,
        platform_names=_SAMPLE_NAMES,
        timezone="Europe/Paris",
    )


def validate_template(template: Template, *, events: Collection[IncidentEvent] = ()) -> None:
    """Render every language of ``template`` against sample incidents (a family outage, a
    degraded platform, manual failovers about a platform and about a custom name), for
    every event each may have, resolution included. Raises :class:`TemplateError` naming
    the template and language; for a public template, a reference to contact data fails.

    ``events``, those of the routes using the template: when it is used for ``resolved``
    and for another event, it must not read the same at recovery as for that event (a
    template of one's own is used for every event: it has to test ``event``)."""
    if not template.texts:
        raise TemplateError(f"template {template.name!r} has no text")
    for language, text in template.texts.items():
        for source in (text.subject, text.body):
            try:
                _compile(source)
            except jinja2.TemplateError as exc:
                raise TemplateError(f"template {template.name!r} ({language}): {exc}") from exc
        one = Template(name=template.name, visibility=template.visibility, texts={language: text})
        for incident, incident_events in _SAMPLES:
            resolved = replace(incident, resolved_at=_SAMPLE_NOW)
            recovery = _render_sample(one, language, resolved, IncidentEvent.resolved)
            for event in incident_events:
                rendered = _render_sample(one, language, incident, event)
                if IncidentEvent.resolved in events and event in events and rendered == recovery:
                    raise TemplateError(
                        f"template {template.name!r} ({language}) reads the same when an incident "
                        f"is resolved as when it is {event}: test `event` in it, e.g. "
                        "{% if event == 'resolved' %}…{% else %}…{% endif %}"
                    )
