"""The routes that read: liveness, readiness, the status, the journal of incidents and the
OpenAPI document. None needs a token."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from failover.api._answers import JSONAnswer, RequestRefused
from failover.api._port import ApiBackend, ReadyReport
from failover.api._requests import parse_since
from failover.domain import NAME

# the surface logs under one name, whichever of its modules logs
_log = logging.getLogger("failover.api")


class ReadRoutes:
    """The endpoints that read; ``clock`` anchors ``?since=7d``."""

    def __init__(self, backend: ApiBackend, *, clock: Callable[[], datetime]) -> None:
        self._backend = backend
        self._clock = clock

    async def healthz(self, _request: Request) -> Response:
        if await self._backend.alive():
            return JSONAnswer({"status": "ok"})
        return JSONAnswer({"status": "stalled"}, status_code=503)

    async def readyz(self, _request: Request) -> Response:
        try:
            report = await self._backend.ready()
        except Exception:  # noqa: BLE001 (a failing readiness check means "not ready", not "broken API")
            _log.exception("api_readiness_failed")
            report = ReadyReport(ready=False, reasons=("readiness check failed",))
        body = {"status": "ready" if report.ready else "not ready", "reasons": list(report.reasons)}
        return JSONAnswer(body, status_code=200 if report.ready else 503)

    async def status(self, _request: Request) -> Response:
        return JSONAnswer(await self._backend.status())

    async def openapi(self, _request: Request) -> Response:
        return Response(openapi_document(), media_type="application/json")

    async def incidents(self, request: Request) -> Response:
        query = request.query_params
        since_text = query.get("since")
        since = parse_since(since_text, self._clock()) if since_text else None
        platform = query.get("platform") or None
        if platform is not None and not NAME.fullmatch(platform):
            raise RequestRefused(422, "invalid query", ["platform: expected a platform name"])
        return JSONAnswer({"incidents": await self._backend.incidents(since, platform)})


@functools.cache
def openapi_document() -> bytes:
    """The OpenAPI 3.1 document of the surface :func:`create_app` serves (JSON, UTF-8):
    every route, its request body, its answers and its errors, and the bearer token the
    POST endpoints need. Shipped in the package as ``failover/openapi.json``."""
    return resources.files("failover").joinpath("openapi.json").read_bytes()
