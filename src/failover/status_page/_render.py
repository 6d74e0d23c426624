"""One build of the status site: the snapshot and the configuration in, files out.

Every file says only what is public: platform names and states, times, the public texts of
incidents, the organisation's alternatives and the page's own words. Nothing of an
incident's evidence, cause or notices, and nothing of a contact or a channel, is read here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from markupsafe import Markup, escape

from failover.config import Config
from failover.domain import Health, Incident, IncidentEvent, IncidentKind, Platform, Transition
from failover.status_page._history import (
    Day,
    availability,
    daily_history,
    day_edges,
    feed_events,
    incident_id,
    shown_incidents,
    started_event,
    window_days,
)
from failover.status_page._model import PlatformNow, PublicText, Site, SiteFile, Snapshot, Wording
from failover.status_page._words import Words, words

__all__ = [
    "FEED_ENTRIES",
    "HISTORY_ROWS",
    "MEDIA_TYPES",
    "SCHEMA_PATH",
    "build_site",
    "feed_path",
    "page_path",
    "page_policy",
    "status_schema",
]

#: the feed's entries, newest first
FEED_ENTRIES = 50
#: the page's history rows, newest first (status.json has every incident of the window)
HISTORY_ROWS = 100
#: where the JSON Schema of status.json is, in the site and in the package
SCHEMA_PATH = "status.schema.json"

MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".atom": "application/atom+xml; charset=utf-8",
    ".svg": "image/svg+xml",
}

_LEVEL_CSS = {"down": "d", "degraded": "g", "none": "n", "up": ""}
_BADGE_COLOURS = {
    Health.up: "#1a7f37",
    Health.degraded: "#9a5b00",
    Health.down: "#b3261e",
    Health.unknown: "#5c5c5c",
}
_FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<circle cx="8" cy="8" r="7" fill="{colour}"/></svg>\n'
)
_FEED_NAMESPACE = uuid.UUID("0b5e3c52-93a4-5d0f-8f6b-6a1a4f7c9e21")


#: where compiled templates outlive the process (see :func:`use_bytecode_cache`)
_bytecode_cache: jinja2.BytecodeCache | None = None


def use_bytecode_cache(cache: jinja2.BytecodeCache | None) -> None:
    """Keep the compiled page templates in ``cache`` from now on (None: in this process only)."""
    global _bytecode_cache  # noqa: PLW0603 - one cache for the process, like the environment
    _bytecode_cache = cache
    _environment.cache_clear()


@functools.cache
def _environment() -> jinja2.Environment:
    # our own templates, not the operator's: no sandbox, but everything escaped
    return jinja2.Environment(
        loader=jinja2.PackageLoader("failover.status_page", "templates"),
        bytecode_cache=_bytecode_cache,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _css() -> tuple[str, str]:
    """The page's style sheet and its CSP hash (the page allows that style and nothing else)."""
    text = resources.files("failover.status_page").joinpath("templates/style.css").read_text("utf-8")
    text = text.strip()
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


@functools.cache
def status_schema() -> bytes:
    """The JSON Schema of ``status.json``, as shipped in the package."""
    return resources.files("failover.status_page").joinpath(SCHEMA_PATH).read_bytes()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC  # config validates zones; times still carry their abbreviation


def page_policy(style_hash: str) -> str:
    """The page's Content-Security-Policy: its own inline style, images of its own site
    (the icon), nothing else; no script at all."""
    return f"default-src 'none'; style-src {style_hash}; img-src 'self'; base-uri 'none'; form-action 'none'"


def page_path(language: str) -> str:
    return f"index.{language}.html"


def feed_path(language: str) -> str:
    return f"feed.{language}.atom"


def _join(names: Sequence[str], language: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    conjunction = " et " if language == "fr" else " and "
    return ", ".join(names[:-1]) + conjunction + names[-1]


@dataclass(slots=True)
class _Build:
    """What one build shares between its languages and files."""

    config: Config
    snapshot: Snapshot
    wording: Wording
    zone: tzinfo
    days: tuple[date, ...]
    names: Mapping[str, str]
    history: Mapping[str, tuple[Day, ...]]
    platforms: tuple[tuple[Platform, PlatformNow], ...]
    incidents: tuple[Incident, ...]
    texts: dict[tuple[str, IncidentEvent, str, bool], PublicText] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.snapshot.now

    def text(
        self, incident: Incident, event: IncidentEvent, language: str, *, alternatives: bool
    ) -> PublicText:
        key = (incident.key, event, language, alternatives)
        found = self.texts.get(key)
        if found is None:
            found = self.texts[key] = self.wording.incident_text(
                incident, event, language=language, now=self.now, alternatives=alternatives
            )
        return found

    def time(self, moment: datetime, language: str) -> str:
        return self.wording.time(moment, language=language)

    def title(self, language: str) -> str:
        return self.config.status_page.title or words(language).title

    def alternatives(self, language: str) -> tuple[str, ...]:
        """The organisation's alternatives in ``language``, else in another of its languages."""
        given = self.config.alternatives
        for candidate in (language, *self.config.status_page.languages, *sorted(given)):
            if given.get(candidate):
                return tuple(given[candidate])
        return ()

    def what(self, incident: Incident, language: str) -> str:
        names = [self.names.get(name, name) for name in incident.platforms]
        subject = _join(names, language) if names else incident.name[:1].upper() + incident.name[1:]
        colon = "\u00a0:" if language == "fr" else ":"
        return f"{words(language).kind(incident.kind)}{colon} {subject}"

    def level(self) -> str:
        open_incidents = [i for i in self.incidents if i.is_open]
        healths = [now.health for _, now in self.platforms]
        if Health.down in healths or any(i.kind is IncidentKind.unreachable for i in open_incidents):
            return "down"
        if Health.degraded in healths or open_incidents:
            return "degraded"
        if healths and all(h is Health.unknown for h in healths):
            return "unknown"
        return "up"


def build_site(snapshot: Snapshot, *, config: Config, wording: Wording) -> Site:
    """Render the whole site for ``snapshot``: a page and a feed per language of
    ``[status_page] languages`` (the first one's also as ``index.html`` and ``feed.atom``),
    ``status.json`` and its schema, a badge per platform and language, and the icon."""
    settings = config.status_page
    zone = _zone(config.daemon.timezone)
    days = window_days(snapshot.now, days=settings.history_days, zone=zone)
    edges = day_edges(days, zone=zone)
    window_start = edges[0]
    judged = {p.name: p for p in snapshot.platforms}
    platforms = tuple(
        (platform, judged.get(platform.name) or PlatformNow(name=platform.name, health=Health.unknown))
        for platform in config.platforms
    )
    by_platform: dict[str, list[Transition]] = {}
    for transition in snapshot.transitions:
        by_platform.setdefault(transition.platform, []).append(transition)
    history = {
        platform.name: daily_history(
            judged_now,
            transitions=by_platform.get(platform.name, ()),
            observed=snapshot.observed_days.get(platform.name, ()),
            first_seen=snapshot.first_seen.get(platform.name),
            watched_from=snapshot.watched_from,
            now=snapshot.now,
            days=days,
            edges=edges,
        )
        for platform, judged_now in platforms
    }
    build = _Build(
        config=config,
        snapshot=snapshot,
        wording=wording,
        zone=zone,
        days=days,
        names={p.name: p.display_name for p in config.platforms},
        history=history,
        platforms=platforms,
        incidents=shown_incidents(snapshot.incidents, since=window_start),
    )
    files: list[SiteFile] = []
    languages = settings.languages
    for language in languages:
        page = _page(build, language).encode("utf-8")
        feed = _feed(build, language).encode("utf-8")
        files.append(_file(page_path(language), page))
        files.append(_file(feed_path(language), feed))
        if language == languages[0]:
            files.append(_file("index.html", page))
            files.append(_file("feed.atom", feed))
        for platform, judged_now in platforms:
            badge = _badge(platform.display_name, judged_now.health, words(language)).encode("utf-8")
            files.append(_file(f"badges/{platform.name}.{language}.svg", badge))
            if language == languages[0]:
                files.append(_file(f"badges/{platform.name}.svg", badge))
    files.append(_file("status.json", _status_json(build)))
    files.append(_file(SCHEMA_PATH, status_schema()))
    colour = _BADGE_COLOURS[
        {"up": Health.up, "degraded": Health.degraded, "down": Health.down}.get(build.level(), Health.unknown)
    ]
    files.append(_file("favicon.svg", _FAVICON.format(colour=colour).encode("ascii")))
    return Site(
        files={f.path: f for f in files},
        generated_at=snapshot.now,
        default_language=languages[0],
        pages={language: page_path(language) for language in languages},
    )


def _file(path: str, content: bytes) -> SiteFile:
    suffix = path[path.rfind(".") :]
    return SiteFile(path=path, content=content, media_type=MEDIA_TYPES[suffix])


# ---------------------------------------------------------------------------------- the page


def _page(build: _Build, language: str) -> str:
    w = words(language)
    settings = build.config.status_page
    css, css_hash = _css()
    alternatives = build.alternatives(language)
    level = build.level()
    banner = {
        "up": w.banner_up,
        "unknown": w.banner_unknown,
    }.get(level, w.banner_trouble_reach if alternatives else w.banner_trouble)
    open_incidents = [i for i in build.incidents if i.is_open]
    history = build.incidents[:HISTORY_ROWS]
    days = len(build.days)
    context = {
        "lang": language,
        "w": w,
        "title": build.title(language),
        # a style element's text is not HTML: never escaped (its CSP hash is of this very text)
        "css": Markup(css),  # noqa: S704 - our own style sheet, shipped in the package
        "csp": page_policy(css_hash),
        "feed": feed_path(language),
        "languages": [
            {
                "lang": other,
                "name": words(other).language_name,
                "href": page_path(other),
                "current": other == language,
            }
            for other in settings.languages
        ],
        "generated": build.time(build.now, language),
        "generated_iso": _iso(build.now),
        "banner": {"level": level, "text": banner},
        "incidents": [_open_incident(build, incident, language) for incident in open_incidents],
        "alternatives": alternatives,
        "platforms": [_platform(build, platform, now, language) for platform, now in build.platforms],
        "history": [
            {
                "id": incident_id(incident),
                "start": build.time(incident.opened_at, language),
                "start_iso": _iso(incident.opened_at),
                "what": build.what(incident, language),
                "duration": build.wording.duration(incident.duration(build.now), language=language)
                + ("" if incident.resolved_at else f" ({w.ongoing})"),
            }
            for incident in history
        ],
        "history_more": w.format("history_more", count=len(build.incidents) - len(history))
        if len(build.incidents) > len(history)
        else "",
        "history_none": w.format("history_none", days=days),
        "refresh": w.format("refresh", every=w.every(settings.publish_every_s)),
    }
    return _environment().get_template("page.html.j2").render(context)


def _open_incident(build: _Build, incident: Incident, language: str) -> dict[str, str]:
    w = words(language)
    text = build.text(incident, started_event(incident), language, alternatives=False)
    return {
        "id": incident_id(incident),
        "kind": incident.kind.value,
        "subject": text.subject,
        "body": text.body.strip(),
        "started": w.format("started", time=build.time(incident.opened_at, language)),
        "so_far": w.format(
            "so_far", duration=build.wording.duration(incident.duration(build.now), language=language)
        ),
    }


def _platform(build: _Build, platform: Platform, now: PlatformNow, language: str) -> dict[str, Any]:
    w = words(language)
    history = build.history[platform.name]
    days = len(history)
    share = availability(history, now=build.now, zone=build.zone)
    # 90 bars per platform: written here rather than by the template, which is ten times slower
    bars = []
    counts = dict.fromkeys(("up", "down", "degraded", "none"), 0)
    for day in history:
        level = day.level
        counts[level] += 1
        if level == "up":
            bars.append("<li></li>")
        elif level == "none":
            bars.append('<li class="n"></li>')
        else:
            down = level == "down"
            minutes = _minutes(build, day.down_minutes if down else day.degraded_minutes, language)
            title = w.format("day_down" if down else "day_degraded", day=w.day(day.day), minutes=minutes)
            bars.append(f'<li class="{_LEVEL_CSS[level]}" title="{escape(title)}"></li>')
    return {
        "name": platform.name,
        "display_name": platform.display_name,
        "health": now.health.value,
        "health_text": w.health(now.health),
        "since": w.format("since", time=build.time(now.since, language)) if now.since else w.not_checked,
        "bars": Markup("".join(bars)),  # noqa: S704 - built above, every text escaped
        "bars_label": w.format(
            "bars_label",
            days=days,
            down=counts["down"],
            degraded=counts["degraded"],
            unwatched=counts["none"],
        ),
        "availability": w.format("availability", percent=w.percent(share), days=days)
        if share is not None
        else w.format("no_data", days=days),
        "badge": f"{platform.name}.{language}.svg",
    }


def _minutes(build: _Build, minutes: int, language: str) -> str:
    return build.wording.duration(timedelta(minutes=minutes), language=language)


# ---------------------------------------------------------------------------------- the feed


def _feed(build: _Build, language: str) -> str:
    w = words(language)
    settings = build.config.status_page
    entries = []
    for event in feed_events(build.incidents, limit=FEED_ENTRIES):
        text = build.text(event.incident, event.event, language, alternatives=True)
        entries.append(
            {
                "id": event.id,
                "incident_id": incident_id(event.incident),
                "title": text.subject,
                "body": text.body.strip(),
                "at": _iso(event.at),
                "kind": event.incident.kind.value,
                "kind_text": w.kind(event.incident.kind),
                "event": event.event.value,
            }
        )
    title = build.title(language)
    updated = entries[0]["at"] if entries else _iso(build.now)
    feed_id = uuid.uuid5(_FEED_NAMESPACE, f"{settings.base_url or ''}|{title}|{language}")
    return (
        _environment()
        .get_template("feed.atom.j2")
        .render(
            {
                "lang": language,
                "w": w,
                "base_url": settings.base_url,
                "feed_id": feed_id,
                "title": title,
                "updated": updated,
                "page": page_path(language),
                "self_href": feed_path(language),
                "entries": entries,
            }
        )
    )


# -------------------------------------------------------------------------------- the badges


def _text_width(text: str) -> int:
    """About how wide ``text`` is in 11 px Verdana (wide letters count more)."""
    wide = sum(1 for c in text if c in "mwMWOQGDHNU@%")
    narrow = sum(1 for c in text if c in "ilIj.,:;'!| ()[]ft")
    return round(7 * len(text) + 2.5 * wide - 3 * narrow)


def _badge(label: str, health: Health, w: Words) -> str:
    value = w.format(f"badge_{health.value}")
    label_width = _text_width(label) + 12
    value_width = _text_width(value) + 12
    return (
        _environment()
        .get_template("badge.svg.j2")
        .render(
            {
                "label": label,
                "value": value,
                "color": _BADGE_COLOURS[health],
                "width": label_width + value_width,
                "label_width": label_width,
                "value_width": value_width,
                "label_x": label_width / 2,
                "value_x": label_width + value_width / 2,
            }
        )
    )


# ------------------------------------------------------------------------------- status.json


def _incident_json(build: _Build, incident: Incident) -> dict[str, Any]:
    """The public shape of an incident: its name, times and the texts shown to everyone,
    never the API's ``incident_json`` (evidence, cause, operators' messages and keys are
    for the operators; a public site gets a number that says nothing of them)."""
    event = started_event(incident) if incident.is_open else IncidentEvent.resolved
    texts = {}
    for language in build.config.status_page.languages:
        text = build.text(incident, event, language, alternatives=False)
        texts[language] = {"subject": text.subject, "body": text.body.strip()}
    return {
        "id": incident_id(incident),
        "kind": incident.kind.value,
        "scope": incident.scope.value,
        # a platform's, a family's or a manual failover's own name (``website``)
        "name": incident.name,
        "platforms": list(incident.platforms),
        "started_at": _iso(incident.opened_at),
        "resolved_at": _iso(incident.resolved_at) if incident.resolved_at else None,
        "duration_s": int(incident.duration(build.now).total_seconds()),
        "open": incident.is_open,
        "text": texts,
    }


def _status_json(build: _Build) -> bytes:
    settings = build.config.status_page
    platforms = []
    for platform, now in build.platforms:
        history = build.history[platform.name]
        share = availability(history, now=build.now, zone=build.zone)
        platforms.append(
            {
                "name": platform.name,
                "display_name": platform.display_name,
                "family": platform.family,
                "state": now.health.value,
                "since": _iso(now.since) if now.since else None,
                "badge": f"badges/{platform.name}.svg",
                "availability": round(share, 6) if share is not None else None,
                "history": {
                    "first_day": build.days[0].isoformat(),
                    "down_minutes": [day.down_minutes for day in history],
                    "degraded_minutes": [day.degraded_minutes for day in history],
                    "watched": [day.watched for day in history],
                },
            }
        )
    document = {
        "version": 1,
        "generated_at": _iso(build.now),
        "publish_every_s": settings.publish_every_s,
        "timezone": build.config.daemon.timezone,
        "languages": list(settings.languages),
        "title": {language: build.title(language) for language in settings.languages},
        "state": build.level(),
        "platforms": platforms,
        "incidents": [_incident_json(build, incident) for incident in build.incidents],
        "alternatives": {language: list(build.alternatives(language)) for language in settings.languages},
        "pages": {language: page_path(language) for language in settings.languages},
        "feeds": {language: feed_path(language) for language in settings.languages},
        "schema": SCHEMA_PATH,
    }
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
