"""Mastodon statuses, posted by failover itself so that each status's id is kept, and
deleted by that id when the notice that made it is retracted.

apprise's Mastodon plugin posts a status and forgets its answer, so a retraction could not
name the status to delete. The URL is still read by apprise's own plugin (so every apprise
option means what apprise says: token, host, port, ``visibility``, ``spoiler``, ``key``,
``language``, ``sensitive``, ``verify``, ``cto``/``rto``, ``redirect``, targets and
``ping``), and the status is posted as apprise 2.x posts it: the same JSON fields
(``status``, ``sensitive``, then ``visibility``, ``spoiler_text``, ``Idempotency-Key`` and
``language`` when set), the subject as the first line (``subject\\r\\nbody``), a direct
message's recipient in front of the text, the URL's hashtags and pings after it, and the
same headers. What differs: the answer's ``id`` is read and handed back.

Requests are blocking (the sender runs them in its worker threads); one
:class:`httpx.Client` per server settings is kept, so a fan-out of direct messages does
not build a TLS context per message. Answers are reduced to a status code and an id:
never the server's text, which may echo the token or an account.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from failover.domain import Channel
from failover.notify._channels import channel_scheme
from failover.notify._plugins import build_plugin

__all__ = [
    "MASTODON_SCHEMES",
    "MastodonAnswer",
    "MastodonApi",
    "MastodonRoute",
    "PostDeletion",
    "delete_post",
    "deletion_problem",
    "mastodon_route",
    "status_payload",
]

MASTODON_SCHEMES = frozenset({"mastodon", "mastodons", "toot", "toots"})
#: what apprise accepts as a posted status
_ACCEPTED = frozenset({200, 201, 202})
_STATUSES = "/api/v1/statuses"
#: a status id as Mastodon writes them (digits; other servers use letters too): anything
#: else is not put in a URL's path
_STATUS_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True, kw_only=True, slots=True)
class MastodonRoute:
    """Where and how a channel's statuses are posted, read from its URL by apprise."""

    #: ``https://host[:port]``
    api_url: str
    token: str = field(repr=False)
    user_agent: str
    verify: bool
    connect_timeout_s: float
    read_timeout_s: float
    follow_redirects: bool
    #: ``default`` (the account's: the field is not sent), ``public``, ``unlisted``,
    #: ``private``, ``direct``
    visibility: str
    sensitive: bool
    spoiler: str | None = None
    idempotency_key: str | None = field(default=None, repr=False)
    language: str | None = None
    #: mentions in front of a direct message's text: its recipients
    recipients: tuple[str, ...] = ()
    #: the hashtags and pings apprise adds after the text (``" #tag @someone"``)
    suffix: str = ""


def mastodon_route(plugin: Any) -> MastodonRoute:
    """The route apprise's ``NotifyMastodon`` plugin (built from a channel's URL, its
    visibility possibly set by the sender) would post through."""
    direct = plugin.visibility == "direct"
    recipients = tuple(plugin.targets) if direct else ()
    tags = [*plugin.targets, *plugin.hashtags, *plugin.ping]
    tokens: list[str] = []
    if tags:
        # apprise leaves out of the tail the recipients a direct message names in front
        seen = {recipient.casefold() for recipient in recipients}
        tokens = plugin.ping_tokens(" ".join(tags), normalize=True, seen=seen)
    connect_s, read_s = plugin.request_timeout
    return MastodonRoute(
        api_url=str(plugin.api_url),
        token=str(plugin.token),
        user_agent=str(plugin.app_id),
        verify=bool(plugin.verify_certificate),
        connect_timeout_s=float(connect_s),
        read_timeout_s=float(read_s),
        follow_redirects=bool(plugin.redirects),
        visibility=str(plugin.visibility),
        sensitive=bool(plugin.sensitive),
        spoiler=plugin.spoiler or None,
        idempotency_key=plugin.idempotency_key or None,
        language=plugin.language or None,
        recipients=recipients,
        suffix=str(plugin.ping_payload(tokens)),
    )


def status_payload(route: MastodonRoute, *, subject: str, body: str) -> dict[str, Any]:
    """The JSON apprise posts for a text status: the subject as the first line (apprise's
    Mastodon plugin has no title), the recipients in front, hashtags and pings after."""
    title = subject.strip()
    text = body.rstrip()
    status = f"{title}\r\n{text}" if title else text
    if route.recipients:
        status = f"{' '.join(route.recipients)} {status}"
    payload: dict[str, Any] = {"status": status + route.suffix, "sensitive": route.sensitive}
    if route.visibility != "default":
        payload["visibility"] = route.visibility
    if route.spoiler:
        payload["spoiler_text"] = route.spoiler
    if route.idempotency_key:
        # where apprise puts it (Mastodon reads the header of that name; apprise sends a field)
        payload["Idempotency-Key"] = route.idempotency_key
    if route.language:
        payload["language"] = route.language
    return payload


@dataclass(frozen=True, kw_only=True, slots=True)
class MastodonAnswer:
    """What came of one request: ``ok``, the HTTP status (None: no answer came: a refused,
    dropped or timed-out connection) and, for a status posted, its id when the answer
    named one."""

    ok: bool
    status: int | None = None
    status_id: str | None = None


def _status_id(response: httpx.Response) -> str | None:
    try:
        answer = json.loads(response.content or b"null")
    except ValueError:
        return None
    found = answer.get("id") if isinstance(answer, dict) else None
    text = str(found) if isinstance(found, str | int) and not isinstance(found, bool) else ""
    return text if _STATUS_ID.fullmatch(text) else None


class MastodonApi:
    """Blocking calls to Mastodon servers, safe to make from several threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[bool, float, float, bool], httpx.Client] = {}

    def _client(self, route: MastodonRoute) -> httpx.Client:
        key = (route.verify, route.connect_timeout_s, route.read_timeout_s, route.follow_redirects)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                timeout = httpx.Timeout(route.read_timeout_s, connect=route.connect_timeout_s)
                client = httpx.Client(
                    verify=route.verify,
                    timeout=timeout,
                    follow_redirects=route.follow_redirects,
                    # the sender's thread pool bounds the calls in flight ([notify] concurrency);
                    # httpx's own cap of 100 connections must not lower it silently
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                )
                self._clients[key] = client
            return client

    def _headers(self, route: MastodonRoute) -> dict[str, str]:
        return {"User-Agent": route.user_agent, "Authorization": f"Bearer {route.token}"}

    def post_status(self, route: MastodonRoute, *, subject: str, body: str) -> MastodonAnswer:
        """Post a status; its id comes back when the server named it."""
        payload = status_payload(route, subject=subject, body=body)
        headers = {**self._headers(route), "Content-Type": "application/json"}
        try:
            response = self._client(route).post(
                route.api_url + _STATUSES, content=json.dumps(payload).encode(), headers=headers
            )
        except httpx.HTTPError:
            return MastodonAnswer(ok=False)
        if response.status_code not in _ACCEPTED:
            return MastodonAnswer(ok=False, status=response.status_code)
        return MastodonAnswer(ok=True, status=response.status_code, status_id=_status_id(response))

    def delete_status(self, route: MastodonRoute, status_id: str) -> MastodonAnswer:
        """Delete the status ``status_id`` (``DELETE /api/v1/statuses/:id``)."""
        if not _STATUS_ID.fullmatch(status_id):
            return MastodonAnswer(ok=False)
        try:
            response = self._client(route).delete(
                f"{route.api_url}{_STATUSES}/{status_id}", headers=self._headers(route)
            )
        except httpx.HTTPError:
            return MastodonAnswer(ok=False)
        return MastodonAnswer(ok=response.status_code in _ACCEPTED, status=response.status_code)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


@dataclass(frozen=True, kw_only=True, slots=True)
class PostDeletion:
    """What came of deleting the post a notice made: ``deleted``, else why not, short and
    secret-free (a scheme, an HTTP status)."""

    deleted: bool
    reason: str = ""


def deletion_problem(channel: Channel, public_ref: str | None) -> str | None:
    """Why the post a notice made on ``channel`` cannot be deleted by failover (short and
    secret-free), or None when it can be asked to: a Mastodon status whose id was kept."""
    scheme = channel_scheme(channel.url)
    if scheme not in MASTODON_SCHEMES:
        return f"{scheme or 'this channel'}: failover cannot delete its posts"
    if not public_ref:
        return f"{scheme}: the status's id was not kept"
    return None


def delete_post(channel: Channel, public_ref: str | None) -> PostDeletion:
    """Delete the post a sent notice made on ``channel``, named by the channel's
    ``public_ref`` (a Mastodon status's id), with the channel's own token. Blocking.

    Only Mastodon statuses can be deleted; any other channel, or a status whose id was not
    kept, is a :class:`PostDeletion` saying why not. Never raises for the server's answer."""
    problem = deletion_problem(channel, public_ref)
    if problem is not None or public_ref is None:
        return PostDeletion(deleted=False, reason=problem or "")
    scheme = channel_scheme(channel.url)
    import apprise

    asset = apprise.AppriseAsset(
        app_id="failover", app_desc="failover", async_mode=False, storage_mode="memory"
    )
    try:
        plugin = build_plugin(channel.url, asset=asset)
    except Exception:  # noqa: BLE001 - apprise raises assorted types for bad URLs
        plugin = None
    if plugin is None:
        return PostDeletion(deleted=False, reason=f"{scheme}: apprise cannot use this URL")
    api = MastodonApi()
    try:
        answer = api.delete_status(mastodon_route(plugin), public_ref)
    finally:
        api.close()
    if answer.ok:
        return PostDeletion(deleted=True)
    why = f"HTTP {answer.status}" if answer.status is not None else "no answer"
    return PostDeletion(deleted=False, reason=f"{scheme}: {why}")
