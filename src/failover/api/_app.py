"""The app factory: every route, in the order the OpenAPI document lists them, each behind
the guard, with Starlette's own refusals answered as JSON."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp

from failover.api._answers import http_error
from failover.api._auth import Operators
from failover.api._guard import GuardedApp, guarded_endpoint
from failover.api._port import ApiBackend
from failover.api._read_routes import ReadRoutes
from failover.api._write_routes import WriteRoutes

#: What ``/metrics`` answers a client that asks for no format in particular: the classic
#: text exposition format, which every Prometheus 2.x and 3.x reads. (Prometheus itself
#: asks for OpenMetrics and gets it; prometheus_client's app negotiates.)
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
    operators = Operators(token=token, tokens=tokens)
    reads = ReadRoutes(backend, clock=clock)
    writes = WriteRoutes(backend, authorize=operators.authorize)
    routes = [
        ("/healthz", "healthz", reads.healthz, "GET"),
        ("/readyz", "readyz", reads.readyz, "GET"),
        ("/api/v1/status", "status", reads.status, "GET"),
        ("/api/v1/incidents", "incidents", reads.incidents, "GET"),
        ("/api/v1/trigger", "trigger", writes.trigger, "POST"),
        ("/api/v1/incidents/{incident_id:int}/resolve", "resolve", writes.resolve, "POST"),
        ("/api/v1/incidents/{incident_id:int}/notes", "note", writes.note, "POST"),
        ("/api/v1/incidents/{incident_id:int}/approve", "approve", writes.approve, "POST"),
        ("/api/v1/incidents/{incident_id:int}/reject", "reject", writes.reject, "POST"),
        ("/api/v1/incidents/{incident_id:int}/retract", "retract", writes.retract, "POST"),
        ("/api/v1/alertmanager", "alertmanager", writes.alertmanager, "POST"),
        ("/api/v1/openapi.json", "openapi", reads.openapi, "GET"),
    ]
    return Starlette(
        routes=[
            Route("/metrics", GuardedApp("metrics", metrics, hosts), methods=["GET"], name="metrics"),
            *(
                Route(path, guarded_endpoint(name, endpoint, hosts), methods=[method], name=name)
                for path, name, endpoint, method in routes
            ),
        ],
        exception_handlers={HTTPException: http_error},
    )
