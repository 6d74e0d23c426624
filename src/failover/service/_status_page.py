"""The public status site, wired: a snapshot read from the store and the judge, the
notifier's public words, the build of :mod:`failover.status_page`, and where the site goes.

* :func:`build_status_site` (``failover status-page build --to DIR``): one build from the
  database, written to a directory.
* :class:`StatusPagePublisher` (the daemon): builds at start, on every transition and every
  ``[status_page] publish_every``; serves the newest build from memory on its own listener
  (``[status_page] listen``, apart from the admin API, so that the page can face the public
  while the API stays on loopback) and writes it to ``[status_page] directory`` for any
  static host, which keeps serving the last state when the daemon or its machine is gone.

A directory is written file by file, each atomically (a temporary file renamed over the
old), pages last; unchanged files are left alone, and files of an earlier build that are
no longer part of the site are removed (the directory's ``.failover-site`` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from structlog.stdlib import BoundLogger

from failover.config import Config
from failover.detect import JudgeState, health_of
from failover.domain import Approval, Incident, IncidentEvent, IncidentKind, NoticeState, Visibility
from failover.errors import FailoverError
from failover.logs import get_logger
from failover.notify import builtin_template, format_duration, format_time, manual_message, render_notice
from failover.service._status_http import Listener, StatusPageListenError, StatusSiteApp, serve_site
from failover.status_page import (
    PlatformNow,
    PublicText,
    Site,
    SiteFile,
    Snapshot,
    build_site,
    window_days,
)
from failover.store import Store

__all__ = [
    "NotifierWording",
    "ObservedDays",
    "SiteReport",
    "StatusPageListenError",
    "StatusPagePublisher",
    "StatusSiteApp",
    "build_status_site",
    "private_values",
    "read_snapshot",
    "start_status_page",
    "write_site",
]

#: lists the files the last build wrote into a directory, so the next one removes its leftovers
MANIFEST = ".failover-site"
_HOUR = timedelta(hours=1)


# ----------------------------------------------------------------------------- the words


class NotifierWording:
    """:class:`failover.status_page.Wording` over the notifier's built-in public templates:
    the page says what a public post says, in the organisation's time zone. A manual
    message that carries a contact's name, address or number, a channel URL or a secret is
    left out (the rest of the text still says how to reach the organisation).

    The texts of resolved incidents, which no longer change, are kept from one build to the
    next: a daemon renders only what is new."""

    #: resolved incidents' texts kept, at most
    KEEP = 4096

    def __init__(self, config: Config) -> None:
        self._config = config
        self._names = {p.name: p.display_name for p in config.platforms}
        self._private = private_values(config)
        self._resolved: dict[tuple[Incident, IncidentEvent, str, bool], PublicText] = {}

    def incident_text(
        self, incident: Incident, event: IncidentEvent, *, language: str, now: datetime, alternatives: bool
    ) -> PublicText:
        if incident.resolved_at is None:
            return self._render(incident, event, language=language, now=now, alternatives=alternatives)
        key = (incident, event, language, alternatives)
        text = self._resolved.get(key)
        if text is None:
            if len(self._resolved) >= self.KEEP:
                self._resolved.clear()
            text = self._resolved[key] = self._render(
                incident, event, language=language, now=now, alternatives=alternatives
            )
        return text

    def _render(
        self, incident: Incident, event: IncidentEvent, *, language: str, now: datetime, alternatives: bool
    ) -> PublicText:
        # the operator's words written for this page's language, else for every language
        message = manual_message(language, message=incident.message, messages=dict(incident.messages))
        if message and any(value in message for value in self._private):
            message = ""
        rendered = render_notice(
            template=builtin_template(event, Visibility.public),
            language=language,
            incident=incident,
            event=event,
            contact=None,
            now=now,
            alternatives=self._config.alternatives if alternatives else (),
            platform_names=self._names,
            timezone=self._config.daemon.timezone,
            message=message,
        )
        return PublicText(subject=rendered.subject, body=rendered.body)

    def time(self, moment: datetime, *, language: str) -> str:
        return format_time(moment, language=language, zone=self._config.daemon.timezone)

    def duration(self, span: timedelta, *, language: str) -> str:
        return format_duration(span, language=language)


def private_values(config: Config) -> frozenset[str]:
    """What no public text may carry: every secret the configuration resolved (tokens,
    channel URLs, contacts' addresses and numbers) and every contact's name, except what
    the organisation publishes itself (its alternatives and public contact points)."""
    public = set(config.public_contact_points)
    public.update(line for lines in config.alternatives.values() for line in lines)
    values = {*config.secrets, *(name for _, name in config.contact_names())}
    return frozenset(v for v in values if v and not any(v in line for line in public))


# ----------------------------------------------------------------------------- the snapshot


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(slots=True)
class ObservedDays:
    """The days each platform was watched, as the hourly rollups show, read once and then
    only for the hours rolled up since (a daemon publishes every few minutes; the window is
    read in full only at its first build, and again when the time zone or the platforms
    change). The store answers one row per platform and day, not one per hour."""

    timezone: str = "UTC"
    targets: frozenset[str] = frozenset()
    days: dict[str, set[date]] = field(default_factory=dict)
    #: the hour after the newest rollup read: what comes later is not rolled up yet
    read_until: datetime | None = None

    def refresh(self, store: Store, *, since: datetime, timezone: str, targets: Collection[str]) -> None:
        wanted = frozenset(targets)
        if timezone != self.timezone or wanted != self.targets:
            self.timezone, self.targets, self.days, self.read_until = timezone, wanted, {}, None
        zone = _zone(timezone)
        start = since if self.read_until is None else max(since, self.read_until)
        newest = store.newest_watched_hour(since=start)
        if newest is not None:
            first, last = start.astimezone(zone).date(), newest.astimezone(zone).date()
            days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
            # each day from its midnight in the zone (the first from ``start``) to the next
            edges = [start, *(_midnight(day + timedelta(days=1), zone) for day in days)]
            for target, spans in store.watched_spans(wanted, edges=edges).items():
                self.days.setdefault(target, set()).update(days[index] for index in spans)
            until = newest + _HOUR
            self.read_until = until if self.read_until is None else max(self.read_until, until)
        first_day = since.astimezone(zone).date()
        for seen in self.days.values():
            seen.difference_update([day for day in seen if day < first_day])


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def read_snapshot(
    store: Store,
    config: Config,
    *,
    now: datetime,
    state: JudgeState | None,
    observed: ObservedDays | None = None,
) -> Snapshot:
    """What the site shows at ``now``: the judge's ``state`` (the store's last one if
    None), the journal of the history window, and the days each platform was watched."""
    if state is None:
        snapshot = store.load_state()
        state = JudgeState.from_json(snapshot) if snapshot is not None else JudgeState.initial()
    zone = _zone(config.daemon.timezone)
    first_day = window_days(now, days=config.status_page.history_days, zone=zone)[0]
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
    observed = observed if observed is not None else ObservedDays()
    observed.refresh(
        store, since=since, timezone=config.daemon.timezone, targets=[p.name for p in config.platforms]
    )
    platforms = []
    for platform in config.platforms:
        status = health_of(state, platform.name)
        platforms.append(PlatformNow(name=platform.name, health=status.health, since=status.since))
    incidents = [entry.incident for entry in store.incidents(since=since)]
    return Snapshot(
        now=now,
        platforms=platforms,
        incidents=[i for i in incidents if _public_yet(store, i, now=now)],
        transitions=store.transitions(since=since),
        observed_days=observed.days,
        watched_from=observed.read_until,
        first_seen=store.platforms(),
    )


def _public_yet(store: Store, incident: Incident, *, now: datetime) -> bool:
    """Whether the incident may be shown: a manual failover becomes public once its hold
    has passed (until then it can be cancelled, and nobody has been told), and one
    cancelled before any notice went out never does. Judged incidents always are, unless
    retracted: a retracted incident (manual or judged) never is."""
    if incident.retracted_at is not None:
        return False  # a mistake, corrected: its public posts are deleted where they can be
    if incident.kind is not IncidentKind.manual or incident.id is None:
        return True
    if incident.approval is Approval.awaiting:
        return False  # nobody approved it: nobody has been told
    notices = store.notices(incident.id)
    if not notices:
        return True  # nobody to tell: nothing to wait for
    return any(
        notice.state is not NoticeState.cancelled
        and not (notice.state is NoticeState.pending and notice.not_before and notice.not_before > now)
        for notice in notices
    )


# ----------------------------------------------------------------------------- the directory


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as out:
            out.write(content)
        # a public site: readable by the web server whatever the daemon's umask
        temporary.chmod(0o644)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _publish_order(site: Site) -> list[SiteFile]:
    """Pages last: when a page is new, what it links to is already there."""
    return sorted(
        site.files.values(), key=lambda f: (f.path.endswith(".html"), f.path == "index.html", f.path)
    )


def write_site(site: Site, directory: Path) -> int:
    """Write ``site`` into ``directory`` (created if needed): each changed file atomically,
    pages last, then remove what an earlier build left that this one has not. Returns the
    files written. A directory created here is readable by everyone (``UMask=0077`` in the
    systemd unit would hide it from the web server); an existing one keeps its mode."""
    if not directory.is_dir():
        directory.mkdir(parents=True)
        directory.chmod(0o755)
    written = 0
    for site_file in _publish_order(site):
        path = directory.joinpath(*site_file.path.split("/"))
        if path.parent != directory:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o755)
        with contextlib.suppress(OSError):
            if path.read_bytes() == site_file.content:
                continue
        _write_atomically(path, site_file.content)
        written += 1
    manifest = directory / MANIFEST
    try:
        earlier = set(manifest.read_text("utf-8").split("\n"))
    except (OSError, UnicodeDecodeError):
        earlier = set()
    for leftover in sorted(earlier - set(site.files)):
        # only names this publisher wrote: never a path outside the directory
        if leftover and ".." not in leftover.split("/") and not leftover.startswith("/"):
            directory.joinpath(*leftover.split("/")).unlink(missing_ok=True)
    _write_atomically(manifest, "\n".join(sorted(site.files)).encode("utf-8") + b"\n")
    return written


@dataclass(frozen=True, kw_only=True, slots=True)
class SiteReport:
    """What one build by hand did."""

    directory: Path
    files: int
    written: int
    bytes: int
    page_bytes: int
    open_incidents: int


def build_status_site(config: Config, *, to: Path, now: datetime) -> SiteReport:
    """``failover status-page build --to DIR``: one build from the database (the judge's
    last recorded state, the journal, the rollups), written to ``to``."""
    from failover.service._database import open_store

    with open_store(config) as store:
        snapshot = read_snapshot(store, config, now=now, state=None)
    site = build_site(snapshot, config=config, wording=NotifierWording(config))
    written = write_site(site, to)
    return SiteReport(
        directory=to,
        files=len(site.files),
        written=written,
        bytes=site.size,
        page_bytes=len(site["index.html"].content),
        open_incidents=sum(1 for i in snapshot.incidents if i.is_open),
    )


# ----------------------------------------------------------------------------- the publisher


class StatusPagePublisher:
    """The daemon's status site: built at start, on :meth:`publish_soon` (every transition)
    and every ``[status_page] publish_every``; served from memory on ``[status_page]
    listen`` and written to ``[status_page] directory``. A build or a write that fails is
    logged and tried again at the next occasion; the last good build stays served.

    ``listen`` and the switch on or off need a restart; everything else of ``[status_page]``
    is read again at each build."""

    def __init__(
        self,
        *,
        config: Callable[[], Config],
        store: Store,
        state: Callable[[], JudgeState | None],
        clock: Callable[[], datetime],
        log: BoundLogger | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._state = state
        self._clock = clock
        self._log = log or get_logger("failover.status_page")
        self.app = StatusSiteApp()
        self._observed = ObservedDays()
        self._wording: NotifierWording | None = None
        self._wording_for: Config | None = None
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        self._stopping = False
        #: builds served so far, and the newest
        self.builds = 0
        self.last_site: Site | None = None

    @property
    def address(self) -> str | None:
        """Where the site is served (``host:port``), if it is."""
        return self._listener.address if self._listener is not None else None

    def publish_soon(self) -> None:
        """Build and publish again as soon as the build in progress, if any, has ended."""
        self._wanted.set()

    async def __aenter__(self) -> StatusPagePublisher:
        await self.publish()
        listen = self._config().status_page.listen
        if listen is not None:
            self._listener = await serve_site(self.app, host=listen.host, port=listen.port)
            self._log.info("status_page_listening", address=self._listener.address)
        self._task = asyncio.create_task(self._loop(), name="failover-status-page")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task = self._task
        if task is not None:
            # a build in progress ends first (milliseconds): its thread reads the store
            self._stopping = True
            self._wanted.set()
            _, pending = await asyncio.wait([task], timeout=3.0)
            if pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._listener is not None:
            await self._listener.close()

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config().status_page.publish_every_s):
                    await self._wanted.wait()
            if not self._stopping:
                await self.publish()

    async def publish(self) -> Site | None:
        """Build now, serve the build and write it to the directory: the site, or None when
        the build or the write failed (logged; the last good build stays served)."""
        self._wanted.clear()
        config = self._config()
        state = self._state()
        now = self._clock()
        try:
            site = await asyncio.to_thread(self._build, config, state, now)
        except FailoverError as exc:
            self._log.warning("status_page_not_built", error=str(exc))
            return None
        except Exception:  # noqa: BLE001 - a fault of the status page never stops the daemon
            self._log.exception("status_page_not_built")
            return None
        # served even when the directory cannot be written: the listener still has news
        self.app.swap(site)
        self.builds += 1
        self.last_site = site
        written = 0
        directory = config.status_page.directory
        if directory is not None:
            try:
                written = await asyncio.to_thread(write_site, site, Path(directory))
            except OSError as exc:
                self._log.warning("status_page_not_written", directory=directory, error=str(exc))
                return None
        self._log.info("status_page_published", files=len(site.files), written=written, directory=directory)
        return site

    def _build(self, config: Config, state: JudgeState | None, now: datetime) -> Site:
        snapshot = read_snapshot(self._store, config, now=now, state=state, observed=self._observed)
        if self._wording is None or self._wording_for is not config:
            self._wording, self._wording_for = NotifierWording(config), config  # a reload renders anew
        return build_site(snapshot, config=config, wording=self._wording)


def status_page_wanted(config: Config) -> bool:
    """Whether ``[status_page]`` asks for the site at all (a listener or a directory)."""
    return config.status_page.listen is not None or config.status_page.directory is not None


async def start_status_page(
    stack: contextlib.AsyncExitStack,
    *,
    config: Callable[[], Config],
    store: Store,
    state: Callable[[], JudgeState | None],
    clock: Callable[[], datetime],
) -> StatusPagePublisher | None:
    """The daemon's publisher, built once and entered on ``stack``; None when ``[status_page]``
    names neither a listener nor a directory. ``config`` and ``state`` are read at every
    build (a reloaded file, the judge's latest state). Raises :class:`StatusPageListenError`
    when the listener cannot bind."""
    if not status_page_wanted(config()):
        return None
    publisher = StatusPagePublisher(config=config, store=store, state=state, clock=clock)
    return await stack.enter_async_context(publisher)
