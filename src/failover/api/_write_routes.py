"""The operator's routes, which write: trigger, resolve, note, approve, reject, retract,
and the Alertmanager webhook. Each one names the operator whose token the request carries."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from failover.api._answers import JSONAnswer, RequestRefused
from failover.api._models import (
    AlertmanagerPayload,
    NoteRequest,
    RejectRequest,
    RetractRequest,
    TriggerRequest,
)
from failover.api._port import ApiBackend
from failover.api._requests import parse_body

#: Ids past this cannot be compared in a query (SQLite's integers are 64-bit; the store
#: itself answers "not found" past PostgreSQL's 32-bit ``integer``).
_MAX_ID = 2**63 - 1


class WriteRoutes:
    """The endpoints that write; ``authorize`` answers the operator whose token a request
    carries, or refuses it."""

    def __init__(self, backend: ApiBackend, *, authorize: Callable[[Request], str]) -> None:
        self._backend = backend
        self._authorize = authorize

    async def trigger(self, request: Request) -> Response:
        actor = self._authorize(request)
        trigger = await parse_body(request, TriggerRequest)
        problems = trigger.problems()
        if problems:
            raise RequestRefused(422, "invalid request body", problems)
        answer = await self._backend.trigger(trigger, actor)
        # attached to an open incident: recorded, nothing queued
        queued = not trigger.dry_run and answer.get("attached_to") is None
        return JSONAnswer(answer, status_code=202 if queued else 200)

    async def resolve(self, request: Request) -> Response:
        self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        answer = await self._backend.resolve(incident_id) if incident_id <= _MAX_ID else None
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return JSONAnswer(answer)

    async def note(self, request: Request) -> Response:
        self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        note = await parse_body(request, NoteRequest)
        answer = await self._backend.note(incident_id, note.text) if incident_id <= _MAX_ID else None
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return JSONAnswer(answer, status_code=201)

    async def approve(self, request: Request) -> Response:
        actor = self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        answer = await self._backend.approve(incident_id, actor) if incident_id <= _MAX_ID else None
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return JSONAnswer(answer)

    async def reject(self, request: Request) -> Response:
        actor = self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        rejection = await parse_body(request, RejectRequest)
        answer = (
            await self._backend.reject(incident_id, rejection.reason, actor)
            if incident_id <= _MAX_ID
            else None
        )
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return JSONAnswer(answer)

    async def retract(self, request: Request) -> Response:
        actor = self._authorize(request)
        incident_id: int = request.path_params["incident_id"]
        retraction = await parse_body(request, RetractRequest)
        answer = (
            await self._backend.retract(incident_id, retraction, actor) if incident_id <= _MAX_ID else None
        )
        if answer is None:
            raise RequestRefused(404, "incident not found")
        return JSONAnswer(answer)

    async def alertmanager(self, request: Request) -> Response:
        self._authorize(request)
        payload = await parse_body(request, AlertmanagerPayload)
        return JSONAnswer(await self._backend.alertmanager(payload))
