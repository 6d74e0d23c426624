"""The HTTP surface: metrics, health, status, the journal, and the operator's write endpoints.

The app knows nothing of the daemon's inside. The composition root implements
:class:`ApiBackend` and hands it to :func:`create_app`; this module only parses requests,
checks the bearer token and shapes answers.

=======  ==============================  =====================================================
method   path                            answers
=======  ==============================  =====================================================
GET      /metrics                        200 text exposition (format 0.0.4), OpenMetrics
                                         1.0.0 when asked, gzip when accepted
GET      /healthz                        200 ``{"status": "ok"}`` · 503 when the loop stalled
GET      /readyz                         200 ready · 503 not ready, with reasons
GET      /api/v1/status                  200 the backend's status
GET      /api/v1/incidents               200 ``{"incidents": [...]}`` · 422 bad query
                                         (``?since=7d`` or an ISO-8601 time, ``&platform=P``)
POST     /api/v1/trigger                 202 incident opened or update queued · 200 a dry run,
                                         or attached to the open incident that covers the
                                         target (nothing sent) · 422 unknown target
POST     /api/v1/incidents/{id}/resolve  200 resolved · 404 unknown incident
POST     /api/v1/incidents/{id}/approve  200 approved: its notices go out · 403 the operator
                                         who triggered it · 404 unknown · 409 not awaiting
POST     /api/v1/incidents/{id}/reject   200 rejected: its notices withdrawn · 404 unknown ·
                                         409 not awaiting approval · 422 no reason
POST     /api/v1/incidents/{id}/retract  200 retracted: corrections queued, public posts
                                         deleted where possible · 404 unknown · 409
                                         retracted already · 422 no reason, a text refused
POST     /api/v1/alertmanager            200 (Alertmanager webhook, payload version 4)
GET      /api/v1/openapi.json            200 the OpenAPI 3.1 document describing every route,
                                         shipped in the package (:func:`openapi_document`)
=======  ==============================  =====================================================

The POST endpoints need ``Authorization: Bearer <daemon.api_token>``, or one of the named
``[[daemon.api_tokens]]`` (401 without it or with a wrong one; 403 when no token is
configured: never open by default). The journal of actions names the operator by the
token's name (``api`` for ``daemon.api_token``). A refused request
is answered ``{"error": reason, "detail": ["key.path: problem", ...]}``: 400 not JSON,
413 body over :data:`MAX_BODY_BYTES`, 415 not ``application/json``, 422 schema error,
404 unknown route. A failing backend gives a generic 500 and the server keeps serving.
Answers never echo the token or the values a client sent.

Bound to a loopback address (the default), the surface answers only requests whose
``Host`` names the machine itself (``127.0.0.1``, ``localhost``, ``::1`` or the address
listened on, any port) and refuses others with 400. A web page the operator visits could
otherwise rename its own site to 127.0.0.1 (DNS rebinding) and read the status and the
journal from the operator's browser. Bound to another address, any ``Host`` is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any, Literal, Protocol, TypeVar

import uvicorn
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from failover.config import parse_duration
from failover.domain import IncidentScope

__all__ = [
    "API_OPERATOR",
    "HTTP_CONNECTIONS_MAX",
    "HTTP_IDLE_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "METRICS_CONTENT_TYPE",
    "Alert",
    "AlertStatus",
    "AlertTarget",
    "AlertmanagerPayload",
    "ApiBackend",
    "NoteRequest",
    "ReadyReport",
    "RejectRequest",
    "RequestRefused",
    "RetractRequest",
    "TimelyH11Protocol",
    "TriggerRequest",
    "create_app",
    "create_server",
    "local_hosts",
    "openapi_document",
]

#: The largest request body accepted (Alertmanager groups stay far below it).
MAX_BODY_BYTES = 1024 * 1024
#: What ``/metrics`` answers a client that asks for no format in particular: the classic
#: text exposition format, which every Prometheus 2.x and 3.x reads. (Prometheus itself
#: asks for OpenMetrics and gets it; prometheus_client's app negotiates.)
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_log = logging.getLogger(__name__)

#: Names of platforms, families, groups and custom incidents, as the configuration spells them.
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(_NAME_PATTERN)
#: Field and label names shown in error paths (Prometheus label names fit too).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: Ids past this cannot be compared in a query (SQLite's integers are 64-bit; the store
#: itself answers "not found" past PostgreSQL's 32-bit ``integer``).
_MAX_ID = 2**63 - 1
#: At most this many problems are listed in a 422 answer.
_MAX_PROBLEMS = 20
_BEARER_REALM = 'Bearer realm="failover"'
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------ what comes in


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999, e.g. Go's zero time with an offset
        return _EARLIEST if value.year == 1 else _LATEST


_UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
_Name = Annotated[str, Field(pattern=_NAME_PATTERN)]


class _Incoming(BaseModel):
    # request bodies are validated in strict mode (a wrong JSON type is a 422: "30" is not a
    # number); code building these in Python (the service, tests) may pass plain values
    model_config = ConfigDict(frozen=True, populate_by_name=True, allow_inf_nan=False)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


_MessageText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]
#: a language code as contacts' languages are written (``fr``, ``en``, ``pt-BR``)
_LanguageCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}$")]


class TriggerRequest(_Incoming):
    """A manual failover, checked as ``failover trigger`` checks it: tell the people who
    hear of a platform or a family that it is down, in the operator's words.

    ``target`` names a configured platform or family; an unknown name is refused (a typo
    must not page everyone). Anything else that failed, e.g. ``phone-lines``, is a custom
    incident, asked for explicitly with ``custom: true`` and a ``name`` (the CLI's
    ``--custom NAME``). A message is required: ``message`` for every language, and/or
    ``messages`` with one text per language (``{"fr": "…", "en": "…"}``); each contact is
    sent the text of their language, else ``message``. A language no text can be written
    in is refused (422 naming it).

    When an open incident already covers the target, the trigger is attached to it
    (recorded in its journal, nothing sent); ``update: true`` sends the message to that
    incident's recipients as an update of it instead. A dry run says which it would be.
    """

    model_config = ConfigDict(extra="forbid")  # a typo in an operator's request is an error

    #: a configured platform or family (not with ``custom``)
    target: _Name | None = None
    #: a custom incident, about ``name``
    custom: bool = False
    name: _Name | None = None
    #: what the notices say, in the operator's words (to contacts of every language)
    message: _MessageText | None = None
    #: what the notices say to contacts of each language, by language code
    messages: dict[_LanguageCode, _MessageText] = Field(default_factory=dict, max_length=16)
    #: groups to tell; empty means the groups the routes name
    groups: tuple[_Name, ...] = Field(default=(), max_length=64)
    #: seconds during which the trigger can be cancelled before notices go; None: the daemon's default
    hold_seconds: float | None = Field(default=None, ge=0, le=86400)
    #: preview: answer what would be sent, record and send nothing
    dry_run: bool = False
    #: when an open incident covers the target, send the message as an update of it
    update: bool = False

    @property
    def what(self) -> str:
        """The name triggered: the custom incident's name, else the target."""
        return (self.name if self.custom else self.target) or ""

    def problems(self) -> list[str]:
        """``key: problem`` lines for fields that do not go together (empty: none)."""
        problems: list[str] = []
        if self.custom:
            if self.name is None:
                problems.append('name: required with "custom": true')
            if self.target is not None:
                problems.append('target: not with "custom": true (a custom incident has a "name")')
        else:
            if self.target is None:
                problems.append(
                    'target: required (a platform or a family; anything else: "custom": true and a "name")'
                )
            if self.name is not None:
                problems.append('name: only with "custom": true')
        if self.message is None and not self.messages:
            problems.append('message: required (or "messages", one text per language)')
        return problems


class NoteRequest(_Incoming):
    """A note for an incident's journal of actions (``failover note ID TEXT``): what was
    done, decided or learnt. The journal names its author (``api``); no notice carries it."""

    model_config = ConfigDict(extra="forbid")

    text: _MessageText


class RejectRequest(_Incoming):
    """Why a manual message awaiting approval is rejected (``failover reject ID --reason``)."""

    model_config = ConfigDict(extra="forbid")

    reason: _MessageText


class RetractRequest(_Incoming):
    """A retraction of an incident whose notices went out by mistake (``failover retract
    ID --reason TEXT``): its notices still waiting are withdrawn, whoever was told gets a
    correction (same channel, same language), its public posts are deleted where the
    channel allows it, and it is closed. ``reason`` enters its journal; ``message`` (every
    language) and ``messages`` (one text per language) are the operator's correction, put
    before the built-in one."""

    model_config = ConfigDict(extra="forbid")

    reason: _MessageText
    message: _MessageText | None = None
    messages: dict[_LanguageCode, _MessageText] = Field(default_factory=dict, max_length=16)


class AlertStatus(enum.StrEnum):
    firing = "firing"
    resolved = "resolved"


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertTarget:
    """What an alert says is affected: the ``label`` naming it, the name, and the scope
    that label implies (None: a platform or a family, the service decides by name;
    ``custom`` for ``failover_custom``). The name is the label's value, unchecked."""

    label: str
    scope: IncidentScope | None
    name: str

    @property
    def valid(self) -> bool:
        """The name follows the configuration's name rule."""
        return _NAME.fullmatch(self.name) is not None


#: Labels naming what an alert is about, in order of preference.
_TARGET_LABELS: tuple[tuple[str, IncidentScope | None], ...] = (
    ("failover_custom", IncidentScope.custom),
    ("failover_target", None),
    ("platform", IncidentScope.platform),
    ("family", IncidentScope.family),
)


class Alert(_Incoming):
    """One alert of an Alertmanager webhook; keys Alertmanager may add are accepted and dropped."""

    model_config = ConfigDict(extra="ignore")

    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: _UtcDatetime = Field(alias="startsAt")
    #: ``0001-01-01T00:00:00Z`` while the alert fires
    ends_at: _UtcDatetime = Field(alias="endsAt")
    #: stable per label set: the idempotency key of the incident the alert opens
    fingerprint: str = Field(min_length=1, max_length=128)
    generator_url: str = Field(default="", alias="generatorURL")

    @property
    def target(self) -> AlertTarget | None:
        """What this alert is about, from the first of ``failover_custom``,
        ``failover_target``, ``platform`` and ``family`` that is set; None if none is (the
        service ignores the alert, as it ignores one naming nothing it knows)."""
        for label, scope in _TARGET_LABELS:
            value = self.labels.get(label, "")
            if value:
                return AlertTarget(label=label, scope=scope, name=value)
        return None

    @property
    def message(self) -> str:
        """The ``summary`` annotation, else the ``description``, else empty."""
        return self.annotations.get("summary") or self.annotations.get("description") or ""


class AlertmanagerPayload(_Incoming):
    """An Alertmanager webhook body (payload version 4)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: AlertStatus
    alerts: tuple[Alert, ...]
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    group_labels: Mapping[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: Mapping[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: Mapping[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")


# ------------------------------------------------------------------------------ the port


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadyReport:
    """Whether the daemon can do its job; ``reasons`` say why not (no secrets, no personal data)."""

    ready: bool
    reasons: tuple[str, ...] = ()


#: the operator name of ``daemon.api_token``, in the journal of actions
API_OPERATOR = "api"


class ApiBackend(Protocol):
    """What the HTTP surface needs from the daemon; the service implements it.

    Every dict returned must be JSON-ready (datetimes and enums are converted on the way out).
    Exceptions are answered with a generic 500 and logged.
    """

    async def alive(self) -> bool:
        """The event loop runs (it does if this is called) and the scheduler ticked recently."""
        ...

    async def ready(self) -> ReadyReport:
        """The database answers and the scheduler runs."""
        ...

    async def status(self) -> dict[str, Any]:
        """Every platform's health, open incidents, the outbox."""
        ...

    async def incidents(self, since: datetime | None, platform: str | None) -> list[dict[str, Any]]:
        """The journal, newest first: incidents opened at or after ``since``, touching ``platform``."""
        ...

    async def trigger(self, request: TriggerRequest, actor: str = API_OPERATOR) -> dict[str, Any]:
        """Open a manual incident, queue an update of the open incident covering the target,
        or attach the trigger to it (answering ``attached_to``); or preview which, for a dry
        run. ``actor`` is the token's operator. Refuses an unknown target with
        :class:`RequestRefused` (422)."""
        ...

    async def resolve(self, incident_id: int) -> dict[str, Any] | None:
        """Resolve an open incident; None if there is no incident ``incident_id``."""
        ...

    async def note(self, incident_id: int, text: str) -> dict[str, Any] | None:
        """Add a note to an incident's journal of actions; None if there is no incident
        ``incident_id``."""
        ...

    async def approve(self, incident_id: int, actor: str) -> dict[str, Any] | None:
        """``actor``'s approval of a manual incident awaiting it; None if there is no
        incident ``incident_id``. Refuses (:class:`RequestRefused`) the operator who
        triggered it (403) and an incident not awaiting approval (409)."""
        ...

    async def reject(self, incident_id: int, reason: str, actor: str) -> dict[str, Any] | None:
        """``actor``'s rejection of a manual incident awaiting approval, for ``reason``;
        None if there is no incident ``incident_id``; 409 when not awaiting approval."""
        ...

    async def retract(self, incident_id: int, request: RetractRequest, actor: str) -> dict[str, Any] | None:
        """``actor``'s retraction of an incident whose notices were a mistake; None if there
        is no incident ``incident_id``; 409 when it was retracted already, 422 naming the
        field of a text refused."""
        ...

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, Any]:
        """Firing alerts open manual incidents (keyed by fingerprint) or attach to the open
        incident covering their target, resolved ones resolve what they opened; alerts
        naming nothing configured are ignored."""
        ...


# ------------------------------------------------------------------------------ answers


class RequestRefused(Exception):  # noqa: N818 (an answer, not a fault: the request was wrong)
    """A request answered with a 4xx. Raised below an endpoint, or by a backend that
    finds a well-formed request unusable (an unknown group, a target that does not
    exist): ``error`` is the reason, ``detail`` the key paths concerned."""

    def __init__(
        self, status: int, error: str, detail: Sequence[str] = (), headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = tuple(detail)
        self.headers = dict(headers or {})


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class _JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_jsonable
        ).encode("utf-8")


def _error(
    status: int, error: str, detail: Sequence[str] = (), headers: Mapping[str, str] | None = None
) -> Response:
    return _JSONResponse({"error": error, "detail": list(detail)}, status_code=status, headers=headers)


def _key_path(loc: Sequence[int | str]) -> str:
    """``("alerts", 0, "startsAt")`` → ``alerts[0].startsAt``, as config errors spell keys.

    A key that is not an identifier (an unknown key a client sent, which could be an
    address or a phone number) is shown as ``<key>``: answers never echo what was sent."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            text = part if _IDENTIFIER.fullmatch(part) else "<key>"
            path += f".{text}" if path else text
    return path or "(body)"


def _problems(exc: ValidationError) -> list[str]:
    # pydantic's ``msg`` names the expectation, never the input; ``input`` is left out on purpose
    problems = [f"{_key_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
    if len(problems) > _MAX_PROBLEMS:
        problems = [*problems[:_MAX_PROBLEMS], f"... and {len(problems) - _MAX_PROBLEMS} more"]
    return problems


_Model = TypeVar("_Model", bound=BaseModel)


async def _read_body(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise RequestRefused(415, "expected Content-Type: application/json")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestRefused(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise RequestRefused(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise RequestRefused(400, "client disconnected") from None
    return bytes(body)


def _nul_at(value: object, loc: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where a text in ``value`` (a key included) holds a NUL character, if anywhere."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    items: Iterator[tuple[int | str, object]]
    if isinstance(value, Mapping):
        items = iter(value.items())
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*loc, key)
        found = _nul_at(item, (*loc, key))
        if found is not None:
            return found
    return None


async def _parse_body(request: Request, model: type[_Model]) -> _Model:
    body = await _read_body(request)
    try:
        parsed = model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise RequestRefused(400, "request body is not valid JSON", [e["msg"] for e in errors]) from None
        raise RequestRefused(422, "invalid request body", _problems(exc)) from None
    # JSON may write a NUL (\u0000); no text of ours has a use for one, and PostgreSQL stores none
    where = _nul_at(parsed.model_dump(by_alias=True))
    if where is not None:
        raise RequestRefused(
            422, "invalid request body", [f"{_key_path(where)}: must not contain NUL (\\u0000)"]
        )
    return parsed


def _parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``24h``, ``7d`` (that long before ``now``) or an ISO-8601 time with an offset."""
    try:
        seconds = parse_duration(text, at_most=None)  # longer than the calendar: see below
    except ValueError:
        pass
    else:
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:  # longer ago than the calendar goes: the whole journal
            return _EARLIEST
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RequestRefused(
            422, "invalid query", ["since: expected a duration (30m, 24h, 7d) or an ISO-8601 time"]
        ) from None
    if moment.tzinfo is None:
        raise RequestRefused(422, "invalid query", ["since: an ISO-8601 time needs an offset (Z or +hh:mm)"])
    return _as_utc(moment)


# ------------------------------------------------------------------------------ the app

_Endpoint = Callable[[Request], Awaitable[Response]]


class _Api:
    def __init__(
        self,
        backend: ApiBackend,
        *,
        token: str | Callable[[], str | None] | None,
        clock: Callable[[], datetime],
        tokens: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._backend = backend
        self._token = token
        self._tokens = tokens
        self._clock = clock

    def _named_tokens(self) -> dict[str, bytes]:
        """Operator name → token, now (a reload changes them), ``api`` for ``api_token``."""
        named = self._tokens() if callable(self._tokens) else self._tokens
        found = {name: token.encode("utf-8") for name, token in (named or {}).items() if token}
        single = self._current_token()
        if single is not None:
            found[API_OPERATOR] = single
        return found

    def _current_token(self) -> bytes | None:
        """The token now: a daemon reloading its configuration revokes the old one at once."""
        token = self._token() if callable(self._token) else self._token
        # an empty token would let an empty Authorization through: treat it as none
        return token.encode("utf-8") if token else None

    def _authorize(self, request: Request) -> str:
        """The operator whose token the request carries (``api`` for ``daemon.api_token``)."""
        expected = self._named_tokens()
        if not expected:
            raise RequestRefused(403, "API token not configured")
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise RequestRefused(401, "bearer token required", headers={"WWW-Authenticate": _BEARER_REALM})
        # headers arrive latin-1 decoded: encoding back gives the bytes the client sent
        sent = presented.encode("latin-1")
        # every token is compared, so the time taken does not tell which one came close
        matches = [name for name, token in expected.items() if hmac.compare_digest(sent, token)]
        if not matches:
            raise RequestRefused(
                401,
                "invalid bearer token",
                headers={"WWW-Authenticate": f'{_BEARER_REALM}, error="invalid_token"'},
            )
        return matches[0]

    async def healthz(self, _request: Request) -> Response:
        if await self._backend.alive():
            return _JSONResponse({"status": "ok"})
        return _JSONResponse({"status": "stalled"}, status_code=503)

    async def readyz(self, _request: Request) -> Response:
        try:
            report = await self._backend.ready()
        except Exception:  # noqa: BLE001 (a failing readiness check means "not ready", not "broken API")
            _log.exception("api_readiness_failed")
            report = ReadyReport(ready=False, reasons=("readiness check failed",))
        body = {"status": "ready" if report.ready else "not ready", "reasons": list(report.reasons)}
        return _JSONResponse(body, status_code=200 if report.ready else 503)

    async def status(self, _request: Request) -> Response:
        return _JSONResponse(await self._backend.status())

    async def openapi(self, _request: Request) -> Response:
        return Response(openapi_document(), media_type="application/json")

    async def incidents(self, request: Request) -> Response:
        query = request.query_params
        since_text = query.get("since")
        since = _parse_since(since_text, self._clock()) if since_text else None
        platform = query.get("platform") or None
        if platform is not None and not _NAME.fullmatch(platform):
            raise RequestRefused(422, "invalid query", ["platform: expected a platform name"])
        return _JSONResponse({"incidents": await self._backend.incidents(since, platform)})

    async def trigger(self, request: Request) -> Response:
        actor = self._authorize(request)
        trigger = await _parse_body(request, TriggerRequest)
        problems = trigger.problems()
        if problems:
            raise RequestRefused(422, "invalid request body", problems)
        answer = await self._backend.trigger(trigger, actor)
        # attached to an open incident: recorded, nothing queued
        queued = not trigger.dry_run and answer.get("attached_to") is None
        return _JSONResponse(answer, status_code=202 if queued else 200)

    async def resolve(self, request: Request) -> Response:
        self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        answer = await self._backend.resolve(incident_id) if incident_id <= _MAX_ID else None
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return _JSONResponse(answer)

    async def note(self, request: Request) -> Response:
        self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        note = await _parse_body(request, NoteRequest)
        answer = await self._backend.note(incident_id, note.text) if incident_id <= _MAX_ID else None
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return _JSONResponse(answer, status_code=201)

    async def approve(self, request: Request) -> Response:
        actor = self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        answer = await self._backend.approve(incident_id, actor) if incident_id <= _MAX_ID else None
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return _JSONResponse(answer)

    async def reject(self, request: Request) -> Response:
        actor = self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        rejection = await _parse_body(request, RejectRequest)
        answer = (
            await self._backend.reject(incident_id, rejection.reason, actor)
            if incident_id <= _MAX_ID
            else None
        )
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return _JSONResponse(answer)

    async def retract(self, request: Request) -> Response:
        actor = self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        retraction = await _parse_body(request, RetractRequest)
        answer = (
            await self._backend.retract(incident_id, retraction, actor) if incident_id <= _MAX_ID else None
        )
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return _JSONResponse(answer)

    async def alertmanager(self, request: Request) -> Response:
        self._authorize(request)
        payload = await _parse_body(request, AlertmanagerPayload)
        return _JSONResponse(await self._backend.alertmanager(payload))


@functools.cache
def openapi_document() -> bytes:
    """The OpenAPI 3.1 document of the surface :func:`create_app` serves (JSON, UTF-8):
    every route, its request body, its answers and its errors, and the bearer token the
    POST endpoints need. Shipped in the package as ``failover/openapi.json``."""
    return resources.files("failover").joinpath("openapi.json").read_bytes()


def local_hosts(listen_host: str) -> frozenset[str] | None:
    """The names a ``Host`` header may carry when the surface listens on ``listen_host``:
    the machine's own names for a loopback address, None (any) otherwise."""
    host = listen_host.strip("[]").lower()
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None  # a name other than localhost: the operator decided who reaches it
    return frozenset({"127.0.0.1", "localhost", "::1", host})


def _host_name(header: str) -> str:
    """``Host`` without its port: ``[::1]:9464`` → ``::1``, ``localhost:9464`` → ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    name, _, _port = header.partition(":")
    return name.rstrip(".")


def _host_refusal(request: Request, hosts: Collection[str] | None) -> Response | None:
    """The 400 for a ``Host`` outside ``hosts`` (never echoing it); None when it is one."""
    if hosts is None or _host_name(request.headers.get("host", "")) in hosts:
        return None
    return _error(400, "unexpected Host header", [f"host: one of {', '.join(sorted(hosts))}"])


def _guarded(name: str, endpoint: _Endpoint, hosts: Collection[str] | None) -> _Endpoint:
    """Answer refusals as 4xx and any other exception as a generic 500, logged; refuse a
    ``Host`` outside ``hosts`` (never echoing it)."""

    async def guarded(request: Request) -> Response:
        refusal = _host_refusal(request, hosts)
        if refusal is not None:
            return refusal
        try:
            return await endpoint(request)
        except RequestRefused as refused:
            return _error(refused.status, refused.error, refused.detail, refused.headers)
        except Exception:  # noqa: BLE001 (the surface outlives a failing backend; the log keeps the cause)
            _log.exception("api_request_failed", extra={"endpoint": name})
            return _error(500, "internal error")

    return guarded


class _GuardedApp:
    """An ASGI app (the metrics exposition) behind the same guard as the endpoints: a
    foreign ``Host`` is refused, and a failure before the answer started is a logged 500."""

    def __init__(self, name: str, app: ASGIApp, hosts: Collection[str] | None) -> None:
        self._name = name
        self._app = app
        self._hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = _host_refusal(Request(scope), self._hosts)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, send_noting_start)
        except Exception:
            if started:  # half an answer cannot be taken back: let the server close it
                raise
            _log.exception("api_request_failed", extra={"endpoint": self._name})
            await _error(500, "internal error")(scope, receive, send)


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (unknown route, wrong method) as JSON."""
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail, headers=exc.headers)


def create_app(
    backend: ApiBackend,
    *,
    token: str | Callable[[], str | None] | None,
    metrics: ASGIApp,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    hosts: Collection[str] | None = None,
    tokens: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
) -> Starlette:
    """The ASGI app of the HTTP surface. ``token`` guards the POST endpoints (None: they
    answer 403; a callable is asked at each request, so a reload changes it); ``metrics``
    is the ASGI app serving ``/metrics`` (prometheus_client's own, from
    :func:`failover.metrics.exposition_app`: it negotiates OpenMetrics and gzip);
    ``clock`` anchors ``?since=7d``; ``hosts`` are the names a request's ``Host`` may
    carry (None: any; see :func:`local_hosts`); ``tokens`` are the named operators'
    tokens, by name (a callable is asked at each request)."""
    api = _Api(backend, token=token, clock=clock, tokens=tokens)
    routes = [
        ("/healthz", "healthz", api.healthz, "GET"),
        ("/readyz", "readyz", api.readyz, "GET"),
        ("/api/v1/status", "status", api.status, "GET"),
        ("/api/v1/incidents", "incidents", api.incidents, "GET"),
        ("/api/v1/trigger", "trigger", api.trigger, "POST"),
        ("/api/v1/incidents/{incident_id:int}/resolve", "resolve", api.resolve, "POST"),
        ("/api/v1/incidents/{incident_id:int}/notes", "note", api.note, "POST"),
        ("/api/v1/incidents/{incident_id:int}/approve", "approve", api.approve, "POST"),
        ("/api/v1/incidents/{incident_id:int}/reject", "reject", api.reject, "POST"),
        ("/api/v1/incidents/{incident_id:int}/retract", "retract", api.retract, "POST"),
        ("/api/v1/alertmanager", "alertmanager", api.alertmanager, "POST"),
        ("/api/v1/openapi.json", "openapi", api.openapi, "GET"),
    ]
    return Starlette(
        routes=[
            Route("/metrics", _GuardedApp("metrics", metrics, hosts), methods=["GET"], name="metrics"),
            *(
                Route(path, _guarded(name, endpoint, hosts), methods=[method], name=name)
                for path, name, endpoint, method in routes
            ),
        ],
        exception_handlers={HTTPException: _http_error},
    )


#: requests in progress (and open connections, counted when a request arrives) an HTTP
#: listener takes before answering 503
HTTP_CONNECTIONS_MAX = 128
#: how long a connection may stay without a request under way before it is closed: a
#: client that opens connections and never finishes a request's head holds none for long
HTTP_IDLE_TIMEOUT_S = 10.0


class TimelyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection on which no request got under way
    within :data:`HTTP_IDLE_TIMEOUT_S` (uvicorn's own keep-alive timeout only runs between
    requests, and stops at the first byte of the next one: a request head that never
    ends would hold its connection, and a file descriptor, for ever)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._unwatch()
        super().connection_lost(exc)

    def _watch(self, seen: object) -> None:
        self._idle_task = self.loop.call_later(HTTP_IDLE_TIMEOUT_S, self._check_idle, seen)

    def _unwatch(self) -> None:
        task = getattr(self, "_idle_task", None)
        if task is not None:
            task.cancel()

    def _check_idle(self, seen: object) -> None:
        cycle: object = self.cycle  # None until a first request gets under way
        busy = cycle is not None and not self.cycle.response_complete
        if cycle is seen and not busy:
            # no request started since the last look, and none under way
            if not self.transport.is_closing():
                self.transport.close()
            return
        self._watch(cycle)


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP
    and stops the server by setting ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def create_server(app: Starlette, *, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for ``app``, to run as a task of the daemon's loop (``await
    server.serve()``); set ``server.should_exit = True`` to stop it. Logs go through the
    process's logging setup (no uvicorn log config, no access log, no colours)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        use_colors=False,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
        # Connections past this many are answered 503 and closed at once: clients that open
        # connections and never finish a request cannot take every file descriptor of the
        # process, which the probes, the database and the outbox need.
        limit_concurrency=HTTP_CONNECTIONS_MAX,
        http=TimelyH11Protocol,
    )
    return _Server(config)
