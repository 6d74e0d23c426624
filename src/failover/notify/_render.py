"""Rendering a notice: a pure function of the template, the incident, the contact and
the time. Jinja2 runs sandboxed (templates come from configuration files), undefined
names are errors, and nothing is HTML-escaped: every channel here carries plain text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
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
from failover.errors import TemplateError

__all__ = ["FALLBACK_LANGUAGE", "RenderedNotice", "format_duration", "format_time", "render_notice"]

#: The language used when a contact's own has no text in a template.
FALLBACK_LANGUAGE = "en"

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
_UNDER_A_MINUTE = {"en": "less than a minute", "fr": "moins d'une minute"}
_DAY_UNIT = {"en": "d", "fr": "j"}


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderedNotice:
    """The text one contact receives, in the language it was rendered in."""

    subject: str
    body: str
    language: str


# Compiled templates are kept per source text: a fan-out renders the same few
# sources thousands of times. The environment holds no state of ours.
_ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain text on every channel; escaping would garble it
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(source)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # config validates zones; should one vanish from the system, UTC is still
        # truthful because the zone's abbreviation is printed with the time
        return UTC


def format_time(moment: datetime, *, language: str, zone: str = "UTC") -> str:
    """``4 October 2021 at 17:40 CEST`` / ``4 octobre 2021 à 17:40 CEST``; ISO-like for
    languages without month names here."""
    local = moment.astimezone(_zone(zone))
    abbreviation = local.tzname() or "UTC"
    months = _MONTHS.get(language)
    if months is None:
        return f"{local:%Y-%m-%d %H:%M} {abbreviation}"
    return f"{local.day} {months[local.month - 1]} {local.year} {_AT[language]} {local:%H:%M} {abbreviation}"


def format_duration(span: timedelta, *, language: str) -> str:
    """``2 j 3 h`` / ``6 h 5 min`` / ``12 min``: coarse, as people say it."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} {_DAY_UNIT.get(language, 'd')} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return _UNDER_A_MINUTE.get(language, _UNDER_A_MINUTE[FALLBACK_LANGUAGE])


def _pick_text(template: Template, language: str) -> tuple[str, TemplateText]:
    for candidate in (language, language.split("-", maxsplit=1)[0], FALLBACK_LANGUAGE):
        text = template.texts.get(candidate)
        if text is not None:
            return candidate, text
    if template.texts:
        # a template written in one other language only: better that than nothing
        first = next(iter(sorted(template.texts)))
        return first, template.texts[first]
    raise TemplateError(f"template {template.name!r} has no text")


def _variables(
    *,
    template: Template,
    language: str,
    incident: Incident,
    event: IncidentEvent,
    contact: Contact | None,
    now: datetime,
    alternatives: Sequence[str],
    platform_names: Mapping[str, str],
) -> dict[str, Any]:
    zone = contact.timezone if contact is not None else "UTC"
    platforms = [platform_names.get(name, name) for name in incident.platforms]
    variables: dict[str, Any] = {
        "platforms": platforms,
        "platform": platforms[0] if platforms else "",
        "family": incident.name if incident.scope is IncidentScope.family else "",
        "event": str(event),
        "started_at": format_time(incident.opened_at, language=language, zone=zone),
        "duration": format_duration(incident.duration(now), language=language),
        "message": incident.message if incident.kind is IncidentKind.manual else "",
        "alternatives": list(alternatives),
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
    alternatives: Sequence[str],
    platform_names: Mapping[str, str],
) -> RenderedNotice:
    """Render one notice. A public template never sees the contact: whatever is passed
    as ``contact``, it renders without it (times in UTC, no ``contact_name``).

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
    )
    try:
        subject = _compile(text.subject).render(variables)
        body = _compile(text.body).render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {template.name!r} ({used_language}): {exc}") from exc
    return RenderedNotice(subject=" ".join(subject.split()), body=body.strip() + "\n", language=used_language)


_SAMPLE_OPENED = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
_SAMPLE_INCIDENT = Incident(
    key="sample",
    scope=IncidentScope.family,
    kind=IncidentKind.unreachable,
    name="meta",
    platforms=("whatsapp", "messenger"),
    opened_at=_SAMPLE_OPENED,
    confirmed_at=_SAMPLE_OPENED + timedelta(minutes=1),
    message="A sample message.",
)
_SAMPLE_CONTACT = Contact(name="Sample Contact", language="en", timezone="Europe/Paris")


def validate_template(template: Template) -> None:
    """Render every language of ``template`` against a sample incident (as a manual
    incident too, so ``message`` is exercised). Raises :class:`TemplateError` naming the
    template and language; for a public template, a reference to contact data fails."""
    if not template.texts:
        raise TemplateError(f"template {template.name!r} has no text")
    for language, text in template.texts.items():
        for source in (text.subject, text.body):
            try:
                _compile(source)
            except jinja2.TemplateError as exc:
                raise TemplateError(f"template {template.name!r} ({language}): {exc}") from exc
        for kind, event in (
            (IncidentKind.unreachable, IncidentEvent.confirmed),
            (IncidentKind.manual, IncidentEvent.manual),
        ):
            incident = Incident(
                key=_SAMPLE_INCIDENT.key,
                scope=_SAMPLE_INCIDENT.scope,
                kind=kind,
                name=_SAMPLE_INCIDENT.name,
                platforms=_SAMPLE_INCIDENT.platforms,
                opened_at=_SAMPLE_INCIDENT.opened_at,
                confirmed_at=_SAMPLE_INCIDENT.confirmed_at,
                message=_SAMPLE_INCIDENT.message,
            )
            render_notice(
                template=Template(name=template.name, visibility=template.visibility, texts={language: text}),
                language=language,
                incident=incident,
                event=event,
                contact=_SAMPLE_CONTACT,
                now=_SAMPLE_OPENED + timedelta(hours=6, minutes=5),
                alternatives=("e-mail: contact@example.org", "Signal: +33 6 00 00 00 00"),
                platform_names={"whatsapp": "WhatsApp", "messenger": "Messenger"},
            )
