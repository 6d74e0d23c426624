"""Delivery to one channel: apprise for every scheme, with one exception for e-mail.

Apprise plugin objects are built once per channel URL and kept; apprise's own
per-plugin pause is disabled (``request_rate_per_sec = 0``) because the dispatcher
applies our per-scheme token buckets. Every blocking send runs in a thread pool of ours,
sized from ``[notify] concurrency``, and apprise sends it in that very thread: apprise
2.3 hands any call that has a deadline (its ``service_timeout``, 60 s by default, or
``notify(timeout=…)``) to one process-wide ``ThreadPoolExecutor`` of ``min(32, cpu + 4)``
workers, which capped a fan-out at 6 sends in flight on a 2-core host whatever the
configured concurrency (measured: ``bench/fanout_api.py``). So our asset disables apprise's
deadline (``service_timeout=0``), ``async_mode=False`` keeps its other pool out, and the
time a send may take is bounded here (``timeout_s``: the send counts as a temporary failure
and its thread is left to end on its socket timeouts) and by each plugin's connect and read
timeouts (apprise's ``cto``/``rto`` URL options, 4 s by default).
apprise is imported at the first send, and then only the plugin module of each scheme
in use (:func:`~failover.notify._plugins.build_plugin`): a daemon that has notified
nobody yet holds none of it, and one that sends mail holds the e-mail plugin alone.

Why e-mail (``mailto://``, ``mailtos://``) does not go through apprise's plugin:
apprise 2.2 opens a new SMTP connection for every notification and builds a fresh
``ssl.create_default_context()`` for each one, even for plain SMTP. Loading the CA
store costs about 21 ms of CPU per message under the GIL, which caps a fan-out near
40 messages/s whatever the thread count (measured: ``bench/fanout.py``, naive column).
Here the URL is still parsed by apprise's own e-mail plugin (so every apprise mail
URL option means what apprise says: host, port, ``mode``, ``smtp=``, user, password,
``from``, ``verify``, ``cto``), but the message is sent by :mod:`smtplib` over one
long-lived SMTP connection per worker thread and server, with one TLS context per
server (:mod:`failover.notify._mail`, imported at the first e-mail). Each message has
exactly one recipient in its envelope and ``To:`` header; URLs with several recipients,
``cc`` or ``bcc`` are refused.

Errors returned are short and secret-free: a scheme, a status, an HTTP or SMTP code.
Never the URL, an address, a token or a server's text (which may echo them).

A failure is temporary unless the other side said no for good, by its protocol: an SMTP
5xx reply (4xx, a refused, dropped or timed-out connection are temporary); an HTTP 4xx
other than 408, 425 and 429 (5xx, those three and connection errors are temporary). Where
apprise's result is all there is (no HTTP status in its log), a failure is temporary:
the dispatcher retries it until ``give_up_after``, so a doubt never loses a notice.

Why Mastodon (``mastodon://``, ``mastodons://``, ``toot://``, ``toots://``) does not go
through apprise's plugin either: a retraction deletes the statuses its notices posted, by
their id, which apprise's plugin does not hand back. The URL is still read by apprise's
plugin and the status posted as apprise posts it (:mod:`failover.notify._mastodon`,
imported at the first toot); its id comes back as :attr:`SendResult.public_ref`.

Mastodon delivers a direct message to every account it mentions, and notifies every
account a public post mentions: an ``@someone@instance`` in an operator's words would
make ``someone`` a recipient. Every mention in a Mastodon notice's text is made inert
(:func:`inert_mentions`); the one live mention of a direct message is its recipient's,
which is put in front of the text as apprise puts it.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote

from failover.domain import Channel, Visibility
from failover.notify._channels import (
    ChannelRefusedError,
    channel_scheme,
    check_channel,
    ensure_may_carry,
    mastodon_visibility,
)
from failover.notify._plugins import build_plugin
from failover.notify._render import RenderedNotice

if TYPE_CHECKING:
    # imported at the first e-mail (see failover.notify._mail)
    from failover.notify._mail import MailRoute, SmtpPool

    # imported at the first toot (see failover.notify._mastodon)
    from failover.notify._mastodon import MastodonApi, MastodonRoute

__all__ = ["ApprisePlugins", "SendResult", "Sender", "inert_mentions"]

_MAIL_SCHEMES = frozenset({"mailto", "mailtos"})
#: channel URLs whose plugin or route is kept, the most recently used: a fan-out to an
#: address book of 100,000 uses each contact's URL once, and keeping them all would hold
#: one route per contact for the life of the daemon; shared channels stay, being used often
ROUTES_KEPT = 2048

_Kept = TypeVar("_Kept")


#: an address apprise reads as it is written: no name, list or quoting of its own
_PLAIN_ADDRESS = re.compile(r"[^\s,;<>\"'()\[\]]+@[^\s,;<>\"'()\[\]@]+")


def _one_recipient(url: str) -> tuple[str, str] | None:
    """A ``mailto`` URL naming its one recipient in ``to=``: the URL without it (the
    server, the sender) and the address; None for any other shape."""
    base, question, query = url.partition("?")
    if not question or "#" in query:
        return None
    kept: list[str] = []
    address = None
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name.lower() == "to":
            if address is not None:
                return None
            address = unquote(value)
        else:
            kept.append(part)
    if address is None or not _PLAIN_ADDRESS.fullmatch(address):
        return None
    return f"{base}?{'&'.join(kept)}", address


def _recall(cache: OrderedDict[str, _Kept], url: str) -> _Kept | None:
    """A kept plugin or route, now the most recently used."""
    kept = cache.get(url)
    if kept is not None:
        cache.move_to_end(url)
    return kept


def _keep(cache: OrderedDict[str, _Kept], url: str, kept: _Kept) -> _Kept:
    """Keep ``kept`` for ``url``, forgetting the least recently used past ``ROUTES_KEPT``."""
    cache[url] = kept
    while len(cache) > ROUTES_KEPT:
        cache.popitem(last=False)
    return kept


_MASTODON_SCHEMES = frozenset({"mastodon", "mastodons", "toot", "toots"})
_HTTP_CODE = re.compile(r"\berror=(\d{3})\b")
#: Where a Mastodon server reads a mention: an '@' that follows no letter, digit, '_', '='
#: or '/' (so an e-mail address or a profile's URL is none) and precedes a username's
#: first character. apprise's own mention detection is narrower.
_MASTODON_MENTION = re.compile(r"(?<![=/\w])@(?=[A-Za-z0-9_])")
#: U+2060 WORD JOINER: invisible, and no username character, so the '@' it follows starts
#: no mention while the text reads the same
_WORD_JOINER = "\u2060"


#: HTTP 4xx statuses that say "later", not "never"
_HTTP_TEMPORARY = frozenset({408, 425, 429})


@dataclass(frozen=True, kw_only=True, slots=True)
class SendResult:
    """The outcome of one delivery attempt. ``error`` is short and secret-free.
    ``refused`` means nothing was attempted and retrying this channel is pointless;
    ``permanent`` that the server refused the message for good (an SMTP 5xx, an HTTP 4xx).
    Any other failure is temporary: the channel may take the message later."""

    ok: bool
    error: str = ""
    refused: bool = False
    permanent: bool = False
    #: what the channel named the post it made (a Mastodon status's id), kept so that a
    #: retraction can delete it; None when it names none
    public_ref: str | None = None

    @property
    def final(self) -> bool:
        """A failure that no retry on this channel can mend."""
        return not self.ok and (self.refused or self.permanent)


class Sender(Protocol):
    """What the dispatcher needs from a delivery adapter."""

    async def send(self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility) -> SendResult:
        """Deliver ``notice`` through ``channel``; never raises for a delivery failure."""
        ...


def inert_mentions(text: str) -> str:
    """``text`` with every Mastodon mention made inert (a word joiner after its ``@``): it
    reads the same, and reaches and notifies nobody."""
    return _MASTODON_MENTION.sub("@" + _WORD_JOINER, text)


def _apprise_failure(scheme: str, result: Any) -> SendResult:
    """A failed apprise notification as a result: its status, and the HTTP status its
    plugin logged (``error=NNN``), which alone can make the failure permanent."""
    services = result.results
    status = (services[0].status if services else result.status).name.lower()
    code = None
    for entry in result.logs():
        match = _HTTP_CODE.search(entry.message)
        if match:
            code = int(match.group(1))
    permanent = code is not None and 400 <= code < 500 and code not in _HTTP_TEMPORARY
    error = f"{scheme}: {status}" + (f" (HTTP {code})" if code is not None else "")
    return SendResult(ok=False, error=error, permanent=permanent)


def _plugin_recipients(plugin: Any) -> int:
    """The recipients an apprise plugin was built with: its targets (or Slack channels,
    or topics), and the accounts a toot mentions on top of them."""
    named = 0
    for attribute in ("targets", "channels", "topics"):
        value = getattr(plugin, attribute, None)
        if isinstance(value, list | tuple | set):
            named += sum(1 for item in value if item is not None)
    pings = getattr(plugin, "ping", None)
    if isinstance(pings, list):
        named += sum(1 for ping in pings if isinstance(ping, str) and ping.startswith("@"))
    return named


class ApprisePlugins:
    """The delivery adapter: caches one apprise plugin (or mail route) per channel URL,
    runs blocking sends in a thread pool of ``max_workers`` threads (the sends it keeps in
    flight, for every scheme), and turns every outcome into a :class:`SendResult`. Use as
    an async context manager, or call :meth:`aclose`."""

    def __init__(self, *, max_workers: int = 16, timeout_s: float = 30.0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="failover-notify")
        self._max_workers = max_workers
        #: pools replaced by :meth:`resize`, ending the sends they had started
        self._retired: list[ThreadPoolExecutor] = []
        self._timeout_s = timeout_s
        self._asset: Any = None
        self._services: OrderedDict[str, Any] = OrderedDict()
        self._mail_routes: OrderedDict[str, MailRoute] = OrderedDict()
        #: a route for each server and sender, whose recipient is replaced
        self._mail_bases: OrderedDict[str, MailRoute] = OrderedDict()
        self._smtp: SmtpPool | None = None
        self._mastodon_routes: OrderedDict[str, MastodonRoute] = OrderedDict()
        self._mastodon: MastodonApi | None = None
        self._closed = False

    async def __aenter__(self) -> ApprisePlugins:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @property
    def max_workers(self) -> int:
        """How many sends may be in flight at the same time."""
        return self._max_workers

    def resize(self, max_workers: int) -> None:
        """Keep up to ``max_workers`` sends in flight from now on (a reloaded ``[notify]
        concurrency``); the sends in flight end in the threads they started in."""
        if max_workers == self._max_workers or self._closed:
            return
        retired = self._executor
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="failover-notify")
        self._max_workers = max_workers
        retired.shutdown(wait=False)
        self._retired.append(retired)

    @property
    def cached(self) -> int:
        """How many channel URLs have a built plugin or mail route."""
        return len(self._services) + len(self._mail_routes) + len(self._mastodon_routes)

    async def aclose(self) -> None:
        """Wait for sends in flight, then close every SMTP connection and the pool."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        for pool in (*self._retired, self._executor):
            pool.shutdown(wait=True)
        if self._smtp is not None:
            self._smtp.close()
        if self._mastodon is not None:
            self._mastodon.close()

    async def send(self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility) -> SendResult:
        scheme = channel_scheme(channel.url)
        try:
            ensure_may_carry(channel, visibility)
            if scheme in _MAIL_SCHEMES:
                route = self._mail_route(channel)  # it checks each URL it reads
                return await self._run(self._send_mail, self._smtp_pool(), route, notice)
            check_channel(channel)
            if scheme in _MASTODON_SCHEMES:
                # the subject is the status's first line
                notice = replace(
                    notice, subject=inert_mentions(notice.subject), body=inert_mentions(notice.body)
                )
                toot = self._mastodon_route(channel)
                return await self._run_bounded(scheme, self._send_mastodon, scheme, toot, notice)
            service = self._service(channel)
            return await self._run_bounded(scheme, self._send_apprise, scheme, service, notice)
        except ChannelRefusedError as exc:
            return SendResult(ok=False, error=str(exc), refused=True)

    async def _run(self, function: Any, *args: Any) -> SendResult:
        if self._closed:
            return SendResult(ok=False, error="sender closed")
        result: SendResult = await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        return result

    async def _run_bounded(self, scheme: str, function: Any, *args: Any) -> SendResult:
        """:meth:`_run`, waiting at most ``timeout_s``: past it the send is a temporary
        failure (it may still go out: a retry may then repeat it, as after any timeout)."""
        try:
            return await asyncio.wait_for(self._run(function, *args), self._timeout_s)
        except TimeoutError:
            return SendResult(ok=False, error=f"{scheme}: timeout")

    def _apprise_asset(self) -> Any:
        if self._asset is None:
            import apprise

            # a deadline would move the send to apprise's shared pool (see above)
            self._asset = apprise.AppriseAsset(
                app_id="failover",
                app_desc="failover",
                async_mode=False,
                storage_mode="memory",
                service_timeout=0,
            )
        return self._asset

    def _instantiate(self, channel: Channel) -> Any:
        try:
            plugin = build_plugin(channel.url, asset=self._apprise_asset())
        except Exception as exc:  # apprise raises assorted types for bad URLs
            raise ChannelRefusedError(f"{channel.ref}: apprise cannot use this URL") from exc
        if plugin is None:
            scheme = channel_scheme(channel.url)
            raise ChannelRefusedError(
                f"{channel.ref}: apprise cannot use this {scheme} URL (or lacks a library)"
            )
        # our token buckets pace each scheme; apprise's pause would only sleep a worker
        plugin.request_rate_per_sec = 0
        return plugin

    def _service(self, channel: Channel) -> Any:
        service = _recall(self._services, channel.url)
        if service is None:
            plugin = self._checked_plugin(channel)
            import apprise

            service = _keep(
                self._services, channel.url, apprise.Apprise(services=[plugin], asset=self._apprise_asset())
            )
        return service

    def _mastodon_route(self, channel: Channel) -> MastodonRoute:
        route = _recall(self._mastodon_routes, channel.url)
        if route is None:
            from failover.notify._mastodon import mastodon_route

            route = _keep(self._mastodon_routes, channel.url, mastodon_route(self._checked_plugin(channel)))
        return route

    def _checked_plugin(self, channel: Channel) -> Any:
        """The channel's apprise plugin, refused when it would not send one message to one
        recipient of the visibility the channel is for."""
        plugin = self._instantiate(channel)
        recipients = _plugin_recipients(plugin)
        if recipients > 1:
            # check_channel read the URL already; this is apprise's own reading of it
            raise ChannelRefusedError(
                f"{channel.ref}: apprise reads {recipients} recipients in it; one message per recipient"
            )
        scheme = channel_scheme(channel.url)
        if (
            scheme in _MASTODON_SCHEMES
            and channel.visibility is Visibility.public
            and mastodon_visibility(channel.url) == "default"
        ):
            # a public channel posts publicly, not with the account's default
            plugin.visibility = "public"
        if (
            scheme in _MASTODON_SCHEMES
            and channel.visibility is Visibility.private
            and plugin.visibility != "direct"
        ):
            raise ChannelRefusedError(f"{channel.ref}: a private Mastodon channel must send direct messages")
        return plugin

    def _smtp_pool(self) -> SmtpPool:
        if self._smtp is None:
            from failover.notify._mail import SmtpPool

            self._smtp = SmtpPool()
        return self._smtp

    def _mail_route(self, channel: Channel) -> MailRoute:
        """The route of a mail channel, its URL checked (:func:`check_channel`) when it is
        first read; a URL that differs from one read already by its one plain recipient
        reaches as that one does, and is not read again."""
        route = _recall(self._mail_routes, channel.url)
        if route is not None:
            return route
        # the contacts of an address book share one server and sender: a route made for
        # one of them serves the others with their own address (apprise reads the URL of
        # the first of each server; the address of the others is read as it read that one's)
        shared = _one_recipient(channel.url)
        if shared is not None:
            base, address = shared
            model = _recall(self._mail_bases, base)
            if model is not None:
                return _keep(self._mail_routes, channel.url, replace(model, to_addr=address))
        route = self._new_mail_route(channel)
        if shared is not None and shared[1] == route.to_addr and route.to_name is None:
            _keep(self._mail_bases, shared[0], route)
        return route

    def _new_mail_route(self, channel: Channel) -> MailRoute:
        check_channel(channel)
        plugin = self._instantiate(channel)
        if len(plugin.targets) != 1 or plugin.cc or plugin.bcc:
            raise ChannelRefusedError(f"{channel.ref}: a mail channel must name exactly one recipient")
        to_name, to_addr = plugin.targets[0]
        from_name, from_addr = plugin.from_addr
        from failover.notify._mail import MailRoute, SmtpServer

        route = MailRoute(
            server=SmtpServer(
                host=plugin.smtp_host,
                port=int(plugin.port),
                mode=str(plugin.secure_mode),
                user=plugin.user,
                password=plugin.password,
                verify=bool(plugin.verify_certificate),
                timeout_s=float(plugin.socket_connect_timeout or self._timeout_s),
            ),
            from_name=from_name or None,
            from_addr=from_addr,
            to_name=to_name or None,
            to_addr=to_addr,
            headers=tuple((str(k), str(v)) for k, v in plugin.headers.items()),
        )
        return _keep(self._mail_routes, channel.url, route)

    # Runs in a worker thread.
    def _send_mail(self, pool: SmtpPool, route: MailRoute, notice: RenderedNotice) -> SendResult:
        failure = pool.send(route, notice)
        if failure is None:
            return SendResult(ok=True)
        return SendResult(ok=False, error=failure.reason, permanent=failure.permanent)

    def _mastodon_api(self) -> MastodonApi:
        if self._mastodon is None:
            from failover.notify._mastodon import MastodonApi

            self._mastodon = MastodonApi()
        return self._mastodon

    # Runs in a worker thread.
    def _send_mastodon(self, scheme: str, route: MastodonRoute, notice: RenderedNotice) -> SendResult:
        try:
            answer = self._mastodon_api().post_status(route, subject=notice.subject, body=notice.body)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must be a failed delivery, not a crash
            return SendResult(ok=False, error=f"{scheme}: {type(exc).__name__}")
        if answer.ok:
            return SendResult(ok=True, public_ref=answer.status_id)
        code = answer.status
        permanent = code is not None and 400 <= code < 500 and code not in _HTTP_TEMPORARY
        # worded as apprise's failures are, so that a retry reads the same either way
        error = f"{scheme}: failure" + (f" (HTTP {code})" if code is not None else "")
        return SendResult(ok=False, error=error, permanent=permanent)

    # Runs in a worker thread.
    def _send_apprise(self, scheme: str, service: Any, notice: RenderedNotice) -> SendResult:
        try:
            # no timeout: a deadline would move the send to apprise's shared pool
            with service.notify(body=notice.body, title=notice.subject, body_format="text") as result:
                if result:
                    return SendResult(ok=True)
                return _apprise_failure(scheme, result)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must be a failed delivery, not a crash
            return SendResult(ok=False, error=f"{scheme}: {type(exc).__name__}")
