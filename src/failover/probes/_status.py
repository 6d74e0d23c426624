"""Pure readers of status sources: bytes in, a :class:`StatusReading` out, never an exception.

Three formats are understood:

* **Atlassian Statuspage v2** (``/api/v2/summary.json``). Without watched components the page's
  ``status.indicator`` decides (``none`` → ok, ``minor`` and ``maintenance`` → status_minor,
  ``major`` and ``critical`` → status_major). With watched components the worst of those
  decides (``operational`` → ok; ``degraded_performance``, ``partial_outage`` and
  ``under_maintenance`` → status_minor; ``major_outage`` → status_major). A partial outage
  counts as minor on purpose: the platform still answers some users, and a status page is
  corroborating evidence, not the verdict.
* **RSS 2.0 and Atom incident feeds.** Each item or entry is one incident. Its *latest
  update* is the first status word in its text (Statuspage and most generators write the
  newest update first: ``<strong>Resolved</strong> - …``), or, when no status word is
  found, its title. The incident is closed when that update says resolved, completed or
  postmortem; otherwise it is open. An open incident is status_major when its text speaks
  of a major, critical or full outage or of the service being unavailable, else
  status_minor. Entries older than ``max_age`` (when ``now`` is given and the entry is
  dated) are ignored: feeds keep history, and an undated announcement must not stay open
  forever. Feeds are parsed with defusedxml: a document declaring entities (the "billion
  laughs" bomb) or referring to external ones is refused (parse_error), whatever its
  encoding; a plain ``<!DOCTYPE>`` is allowed and never fetched.
* **Meta's status JSON** (``metastatus.com/data/orgs.json``, undocumented). Read strictly,
  as observed in public consumers of it: a non-empty JSON *array* of organisations, each an
  object with a string ``id`` (a slug such as ``whatsapp-business-api``), a string ``name``
  and a list ``services`` of objects with a string ``name`` and a string ``status``. Known
  statuses: ``No known issues`` and ``Resolved`` (ok), ``Low``/``Medium disruption(s)``
  (status_minor), ``High``/``Major disruption(s)`` and anything saying outage
  (status_major). Any other shape or status wording is a parse_error: the site answers 200
  with an HTML shell on a wrong path, and that must never read as "all fine".

Watched components are matched case-insensitively, surrounding blanks ignored. A watched
component that the source does not list is a parse_error: the configuration and the source
disagree, and silence about it is not good news.

Bodies are bytes as served, in the encodings the formats allow (JSON: UTF-8, -16 or -32,
with or without a byte order mark; XML: as its declaration or byte order mark says). A
reading's detail quotes the source, cleaned to one printable line.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from defusedxml import ElementTree as SafeET
from defusedxml import EntitiesForbidden, ExternalReferenceForbidden

from failover.domain import Outcome

__all__ = [
    "MAX_STATUS_BYTES",
    "StatusReading",
    "parse_feed",
    "parse_meta",
    "parse_statuspage",
]

#: Bodies above this size are refused unread; real summaries and feeds are far smaller.
MAX_STATUS_BYTES = 2 * 1024 * 1024

#: How long a feed entry stays relevant when the caller tells us the time.
DEFAULT_FEED_MAX_AGE = timedelta(hours=24)


#: What a detail quoting the source may not carry: control characters (NUL is refused by
#: PostgreSQL, a line break splits a log line), bidirectional overrides (they reorder what
#: a reader sees), lone surrogates (not UTF-8, refused by SQLite).
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]+"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusReading:
    """What a status source says: ok, status_minor, status_major or parse_error, and why.
    ``detail`` is one printable line, whatever the source wrote."""

    outcome: Outcome
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", _UNPRINTABLE.sub(" ", self.detail))


_SEVERITY = {Outcome.ok: 0, Outcome.status_minor: 1, Outcome.status_major: 2}


def _worst(outcomes: Iterable[Outcome]) -> Outcome:
    return max(outcomes, key=_SEVERITY.__getitem__, default=Outcome.ok)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _error(detail: str) -> StatusReading:
    return StatusReading(outcome=Outcome.parse_error, detail=detail)


def _load_json(body: bytes) -> tuple[object, str]:
    """Decode JSON, returning (value, "") or (None, reason)."""
    if len(body) > MAX_STATUS_BYTES:
        return None, f"body too large ({len(body)} bytes)"
    try:
        return json.loads(body), ""
    except RecursionError:
        return None, "not JSON: nested too deeply"
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        return None, f"not JSON: {exc}"[:200]


# --- Atlassian Statuspage v2 ---------------------------------------------------------------

_INDICATORS = {
    "none": Outcome.ok,
    "minor": Outcome.status_minor,
    "maintenance": Outcome.status_minor,
    "major": Outcome.status_major,
    "critical": Outcome.status_major,
}
_COMPONENT_STATES = {
    "operational": Outcome.ok,
    "degraded_performance": Outcome.status_minor,
    "partial_outage": Outcome.status_minor,
    "under_maintenance": Outcome.status_minor,
    "major_outage": Outcome.status_major,
}


def parse_statuspage(body: bytes, components: Sequence[str] = ()) -> StatusReading:
    """Read an Atlassian Statuspage v2 ``summary.json``."""
    document, why = _load_json(body)
    if why:
        return _error(why)
    if not isinstance(document, dict):
        return _error("summary is not a JSON object")
    status = document.get("status")
    indicator = status.get("indicator") if isinstance(status, dict) else None
    if not isinstance(indicator, str) or indicator not in _INDICATORS:
        return _error("summary has no known status.indicator")
    if not components:
        outcome = _INDICATORS[indicator]
        description = status.get("description") if isinstance(status, dict) else None
        text = description if isinstance(description, str) else ""
        return StatusReading(outcome=outcome, detail=f"indicator={indicator} {text}".strip()[:200])

    listed = document.get("components")
    if not isinstance(listed, list):
        return _error("summary has no components list")
    states: dict[str, str] = {}
    for item in listed:
        if not isinstance(item, dict):
            return _error("a component is not an object")
        name, state = item.get("name"), item.get("status")
        if not isinstance(name, str) or not isinstance(state, str):
            return _error("a component lacks a name or status")
        states.setdefault(_norm(name), state)
    findings: list[tuple[str, Outcome]] = []
    for wanted in components:
        state = states.get(_norm(wanted))
        if state is None:
            return _error(f"component not listed: {wanted[:80]}")
        if state not in _COMPONENT_STATES:
            return _error(f"component {wanted[:80]} has unknown status {state[:40]}")
        findings.append((f"{wanted}={state}", _COMPONENT_STATES[state]))
    return StatusReading(
        outcome=_worst(outcome for _, outcome in findings),
        detail=", ".join(text for text, _ in findings)[:500],
    )


# --- RSS 2.0 and Atom ------------------------------------------------------------------------

_ATOM = "{http://www.w3.org/2005/Atom}"
_TAGS = re.compile(r"<[^>]*>")
_STATUS_WORD = re.compile(
    r"\b(resolved|completed|postmortem|investigating|identified|monitoring|update|"
    r"scheduled|in progress|verifying)\b",
    re.IGNORECASE,
)
_CLOSED = {"resolved", "completed", "postmortem"}
_MAJOR = re.compile(
    r"\b(major|critical|full outage|complete outage|unavailable|inaccessible)\b", re.IGNORECASE
)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    title: str
    text: str
    when: datetime | None


def _child_text(element: ET.Element, *tags: str) -> str:
    for tag in tags:
        child = element.find(tag)
        if child is not None:
            return "".join(child.itertext())
    return ""


def _parse_when(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)  # RSS: RFC 822
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))  # Atom: RFC 3339
        except ValueError:
            return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when


def _entries(root: ET.Element) -> list[_Entry] | None:
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            return None
        return [
            _Entry(
                title=_child_text(item, "title"),
                text=_child_text(item, "description", "{http://purl.org/rss/1.0/modules/content/}encoded"),
                when=_parse_when(_child_text(item, "pubDate")),
            )
            for item in channel.iter("item")
        ]
    if root.tag == f"{_ATOM}feed":
        return [
            _Entry(
                title=_child_text(entry, f"{_ATOM}title"),
                text=_child_text(entry, f"{_ATOM}content", f"{_ATOM}summary"),
                when=_parse_when(_child_text(entry, f"{_ATOM}updated", f"{_ATOM}published")),
            )
            for entry in root.iter(f"{_ATOM}entry")
        ]
    return None


def _incident_state(entry: _Entry) -> Outcome:
    """ok when the latest update closes the incident, else its severity."""
    text = _TAGS.sub(" ", entry.text)
    latest = _STATUS_WORD.search(text) or _STATUS_WORD.search(entry.title)
    if latest is not None and latest.group(1).casefold() in _CLOSED:
        return Outcome.ok
    if _MAJOR.search(entry.title) or _MAJOR.search(text):
        return Outcome.status_major
    return Outcome.status_minor


def parse_feed(
    body: bytes,
    components: Sequence[str] = (),
    *,
    now: datetime | None = None,
    max_age: timedelta = DEFAULT_FEED_MAX_AGE,
) -> StatusReading:
    """Read an RSS 2.0 or Atom incident feed (heuristics in the module docstring)."""
    if len(body) > MAX_STATUS_BYTES:
        return _error(f"body too large ({len(body)} bytes)")
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=False)
    except EntitiesForbidden:
        return _error("feed declares entities; refused")
    except ExternalReferenceForbidden:
        return _error("feed refers to external entities; refused")
    except RecursionError:
        return _error("not XML: nested too deeply")
    except (ET.ParseError, ValueError, LookupError) as exc:  # a bad or unknown encoding included
        return _error(f"not XML: {exc}"[:200])
    entries = _entries(root)
    if entries is None:
        return _error(f"not an RSS 2.0 or Atom feed (root {root.tag[:60]})")
    wanted = [_norm(name) for name in components]
    open_incidents: list[tuple[str, Outcome]] = []
    for entry in entries:
        if now is not None and entry.when is not None and now - entry.when > max_age:
            continue
        if wanted:
            haystack = _norm(entry.title + " " + _TAGS.sub(" ", entry.text))
            if not any(name in haystack for name in wanted):
                continue
        state = _incident_state(entry)
        if state is not Outcome.ok:
            open_incidents.append((" ".join(entry.title.split())[:100], state))
    if not open_incidents:
        return StatusReading(outcome=Outcome.ok, detail=f"no open incident in {len(entries)} entries")
    return StatusReading(
        outcome=_worst(state for _, state in open_incidents),
        detail=("open: " + "; ".join(title for title, _ in open_incidents))[:500],
    )


# --- Meta (metastatus.com) -------------------------------------------------------------------

_META_OK = {"no known issues", "resolved"}
_META_MINOR = re.compile(r"^(low|medium) disruptions?$")
_META_MAJOR = re.compile(r"^(high|major) disruptions?$|outage")


def _meta_state(status: str) -> Outcome | None:
    text = _norm(status)
    if text in _META_OK:
        return Outcome.ok
    if _META_MINOR.search(text):
        return Outcome.status_minor
    if _META_MAJOR.search(text):
        return Outcome.status_major
    return None


def parse_meta(body: bytes, components: Sequence[str] = ()) -> StatusReading:
    """Read Meta's ``orgs.json`` strictly (shape in the module docstring).

    ``components`` name organisations (by ``id`` or ``name``) or single services (by
    ``name``); empty means every service of every organisation.
    """
    document, why = _load_json(body)
    if why:
        return _error(why)
    if not isinstance(document, list) or not document:
        return _error("orgs.json is not a non-empty JSON array")
    services: list[tuple[str, str, str, str]] = []  # (org id, org name, service, status)
    for org in document:
        if not isinstance(org, dict):
            return _error("an organisation is not an object")
        org_id, org_name, listed = org.get("id"), org.get("name"), org.get("services")
        if not isinstance(org_id, str) or not isinstance(org_name, str) or not isinstance(listed, list):
            return _error("an organisation lacks id, name or services")
        for service in listed:
            if not isinstance(service, dict):
                return _error(f"a service of {org_id[:60]} is not an object")
            name, status = service.get("name"), service.get("status")
            if not isinstance(name, str) or not isinstance(status, str):
                return _error(f"a service of {org_id[:60]} lacks a name or status")
            services.append((org_id, org_name, name, status))

    if components:
        chosen: list[tuple[str, str, str, str]] = []
        for wanted in components:
            key = _norm(wanted)
            matches = [s for s in services if key in (_norm(s[0]), _norm(s[1]))] or [
                s for s in services if _norm(s[2]) == key
            ]
            if not matches:
                return _error(f"component not listed: {wanted[:80]}")
            chosen.extend(matches)
    else:
        chosen = services
    if not chosen:
        return _error("orgs.json lists no services")

    findings: list[tuple[str, Outcome]] = []
    for org_id, _, name, status in chosen:
        state = _meta_state(status)
        if state is None:
            return _error(f"unknown status wording {status[:40]!r} for {org_id[:60]}/{name[:60]}")
        if state is not Outcome.ok:
            findings.append((f"{org_id}/{name}: {status}", state))
    if not findings:
        return StatusReading(outcome=Outcome.ok, detail=f"{len(chosen)} services without known issues")
    return StatusReading(
        outcome=_worst(state for _, state in findings),
        detail="; ".join(text for text, _ in findings)[:500],
    )
