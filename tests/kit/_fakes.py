"""Fake HTTP APIs of the notification services, answering what apprise 2.2 sends.

- signal-cli-rest-api: apprise's ``signal://`` posts JSON ``{"message", "number",
  "text_mode", "recipients"}`` to ``/v2/send`` and accepts 200 or 201.
- Mastodon: apprise's ``mastodon://`` posts JSON ``{"status", "sensitive", "visibility"?,
  "spoiler_text"?, "language"?, "media_ids"?}`` to ``/api/v1/statuses`` with a Bearer token,
  reads ``account.username`` from the answer, and calls
  ``/api/v1/accounts/verify_credentials`` for direct messages without targets. failover
  posts the same JSON itself and keeps the answer's ``id``, which a retraction deletes
  with ``DELETE /api/v1/statuses/:id`` (200 with the status; 404 for one that is gone).

Both answer after ``latency_s`` (a real API's round trip), and count the requests they are
answering at the same time (``in_flight``, ``max_in_flight``), so that a test can see how
many sends a sender really keeps in flight; ``hold()`` keeps every answer back until
``release()``.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import trustme

from failover.testing import HttpServer, Request, Response

__all__ = ["FakeMastodon", "FakeSignal"]

_ACCOUNT = {"id": "1", "username": "failover", "acct": "failover", "display_name": "failover"}


def _json(status: int, payload: object) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json")


def _parse_body(request: Request) -> dict[str, Any] | None:
    """Parse a JSON or form-encoded body; None if it is neither."""
    content_type = request.headers.get("content-type", "")
    text = request.body.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in content_type:
        fields = parse_qs(text, keep_blank_values=True)
        # Rails convention: `media_ids[]=1&media_ids[]=2` is a list, a plain key a scalar.
        return {key: values if key.endswith("[]") else values[-1] for key, values in fields.items()}
    try:
        parsed = json.loads(text or "null")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class _StatusSwitch:
    """The forced answer status shared by the fakes (``set_status``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forced: int | None = None

    def set(self, code: int | None) -> None:
        with self._lock:
            self._forced = code

    def get(self) -> int | None:
        with self._lock:
            return self._forced


class _Pace:
    """How long the fakes take to answer, and how many requests they are answering at once."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self._lock = threading.Lock()
        #: answers go out while set; set and cleared on the server's loop only (see _Paced.hold)
        self.opened = asyncio.Event()
        self.opened.set()
        self.in_flight = 0
        self.max_in_flight = 0

    async def answer(self, respond: Callable[[], Awaitable[Response]]) -> Response:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            await self.opened.wait()
            return await respond()
        finally:
            with self._lock:
                self.in_flight -= 1


class _Paced(HttpServer):
    """A fake API whose answers take ``latency_s``, counted while they are being answered."""

    def __init__(self, *, tls: trustme.CA | None = None, latency_s: float = 0.0) -> None:
        super().__init__(tls=tls)
        self._pace = _Pace(latency_s)

    @property
    def in_flight(self) -> int:
        """Requests being answered now."""
        return self._pace.in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests answered at the same time so far."""
        return self._pace.max_in_flight

    def hold(self) -> None:
        """Keep every answer back (requests still arrive and count) until :meth:`release`."""
        self._loop.call(self._pace.opened.clear)

    def release(self) -> None:
        self._loop.call(self._pace.opened.set)

    async def respond(self, request: Request) -> Response:
        return await self._pace.answer(lambda: self.answer(request))

    async def answer(self, request: Request) -> Response:
        """The API's answer to ``request``, once its latency has passed."""
        raise NotImplementedError


class FakeSignal(_Paced):
    """A fake signal-cli-rest-api: ``POST /v2/send`` and ``GET /v1/about``.

    Every JSON body posted to ``/v2/send`` is recorded in ``requests`` (also when the answer
    is an error); ``received`` holds the raw requests, headers included.
    """

    def __init__(self, *, tls: trustme.CA | None = None, latency_s: float = 0.0) -> None:
        super().__init__(tls=tls, latency_s=latency_s)
        self.requests: list[dict[str, Any]] = []
        self._status = _StatusSwitch()

    def set_status(self, code: int | None) -> None:
        """Answer every send with ``code`` (e.g. 500) from now on; None restores 201."""
        self._status.set(code)

    async def answer(self, request: Request) -> Response:
        """Route the request like the real API's router does."""
        if request.method == "GET" and request.path == "/v1/about":
            return _json(
                200,
                {"versions": ["v1", "v2"], "build": 2, "mode": "normal", "version": "0.0.0-fake"},
            )
        if request.method != "POST" or request.path != "/v2/send":
            return Response(404, b"404 page not found")
        payload = _parse_body(request)
        if payload is None:
            return _json(400, {"error": "Couldn't process request - invalid request"})
        self.requests.append(payload)
        forced = self._status.get()
        if forced is not None and forced >= 300:
            return _json(forced, {"error": f"forced failure {forced} (fake)"})
        missing = [key for key in ("message", "number", "recipients") if not payload.get(key)]
        if missing or not isinstance(payload["recipients"], list):
            return _json(400, {"error": f"Couldn't process request - missing {', '.join(missing)}"})
        timestamp = str(int(datetime.now(UTC).timestamp() * 1000))
        return _json(forced or 201, {"timestamp": timestamp})


class FakeMastodon(_Paced):
    """A fake Mastodon instance: post and delete statuses, verify credentials.

    ``statuses`` records the parsed body of every status actually posted (not those refused
    by ``set_status`` or validation); ``posted`` the statuses still up, by id (a deletion
    takes one out, and ``deleted`` records its id); ``received`` holds every raw request.
    With ``token`` set, requests without ``Authorization: Bearer <token>`` get 401 like the
    real API.
    """

    def __init__(
        self, *, tls: trustme.CA | None = None, token: str | None = None, latency_s: float = 0.0
    ) -> None:
        super().__init__(tls=tls, latency_s=latency_s)
        self.token = token
        self.statuses: list[dict[str, Any]] = []
        self.posted: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self._status = _StatusSwitch()
        self._deletion_status = _StatusSwitch()
        self._ids = itertools.count(110_000_000_000_000_001)

    def set_status(self, code: int | None) -> None:
        """Answer every API call with ``code`` (e.g. 500 or 429) from now on; None restores."""
        self._status.set(code)

    def fail_deletions(self, code: int | None) -> None:
        """Answer every deletion with ``code`` (e.g. 500) from now on, posts still going
        through; None restores."""
        self._deletion_status.set(code)

    async def answer(self, request: Request) -> Response:
        """Route the request like the real API does."""
        route = (request.method, request.path)
        known = {("POST", "/api/v1/statuses"), ("GET", "/api/v1/accounts/verify_credentials")}
        status_id = request.path.removeprefix("/api/v1/statuses/")
        if request.method == "DELETE" and status_id != request.path and status_id.isdigit():
            return self._delete_status(request, status_id)
        if route not in known:
            return _json(404, {"error": "Record not found"})
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"error": "The access token is invalid"})
        forced = self._status.get()
        if forced is not None and forced >= 300:
            return _json(forced, {"error": f"forced failure {forced} (fake)"})
        if route[1] == "/api/v1/accounts/verify_credentials":
            return _json(200, {**_ACCOUNT, "url": f"{self.url}/@failover"})
        return self._post_status(request)

    def _delete_status(self, request: Request, status_id: str) -> Response:
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"error": "The access token is invalid"})
        forced = self._deletion_status.get() or self._status.get()
        if forced is not None and forced >= 300:
            return _json(forced, {"error": f"forced failure {forced} (fake)"})
        body = self.posted.pop(status_id, None)
        if body is None:
            return _json(404, {"error": "Record not found"})
        self.deleted.append(status_id)
        return _json(200, {**body, "text": html.unescape(body["content"][3:-4])})

    def _post_status(self, request: Request) -> Response:
        payload = _parse_body(request)
        if payload is None:
            return _json(400, {"error": "Unparseable request body"})
        text = str(payload.get("status") or "")
        media_ids = payload.get("media_ids") or payload.get("media_ids[]") or []
        if not text and not media_ids:
            return _json(422, {"error": "Validation failed: Text can't be blank"})
        self.statuses.append(payload)
        status_id = str(next(self._ids))
        body = {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "in_reply_to_id": payload.get("in_reply_to_id"),
            "sensitive": bool(payload.get("sensitive", False)),
            "spoiler_text": payload.get("spoiler_text", ""),
            "visibility": payload.get("visibility") or "public",
            "language": payload.get("language"),
            "uri": f"{self.url}/users/failover/statuses/{status_id}",
            "url": f"{self.url}/@failover/{status_id}",
            "content": f"<p>{html.escape(text)}</p>",
            "account": {**_ACCOUNT, "url": f"{self.url}/@failover"},
            "media_attachments": [{"id": str(media_id)} for media_id in media_ids],
        }
        self.posted[status_id] = body
        return _json(self._status.get() or 200, body)
