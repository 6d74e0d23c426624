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

Inside: the request bodies (``_models``), the port the service implements (``_port``),
answers and refusals (``_answers``), reading a request (``_requests``), the bearer tokens
(``_auth``), the guard every route stands behind (``_guard``), the routes that read
(``_read_routes``) and those that write (``_write_routes``), the app factory (``_app``) and
the uvicorn server (``_server``).
"""

from failover.api._answers import RequestRefused
from failover.api._app import METRICS_CONTENT_TYPE, create_app
from failover.api._guard import local_hosts
from failover.api._models import (
    Alert,
    AlertmanagerPayload,
    AlertStatus,
    AlertTarget,
    NoteRequest,
    RejectRequest,
    RetractRequest,
    TriggerRequest,
)
from failover.api._port import API_OPERATOR, ApiBackend, ReadyReport
from failover.api._read_routes import openapi_document
from failover.api._requests import MAX_BODY_BYTES
from failover.api._server import HTTP_CONNECTIONS_MAX, HTTP_IDLE_TIMEOUT_S, TimelyH11Protocol, create_server

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
