"""The HTTP surface, over real HTTP on 127.0.0.1: uvicorn serves the app, httpx calls it,
and a fake backend records what reached the daemon."""

from __future__ import annotations

import asyncio
import enum
import hmac
import json
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, make_asgi_app
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from failover.api import (
    MAX_BODY_BYTES,
    METRICS_CONTENT_TYPE,
    Alert,
    AlertmanagerPayload,
    AlertStatus,
    AlertTarget,
    ReadyReport,
    RequestRefused,
    TriggerRequest,
    create_app,
    create_server,
    local_hosts,
)
from failover.domain import IncidentScope
from tests.kit import LOOPBACK, LoopThread

TOKEN = "test-token-0123456789abcdef"
NOW = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
WRITE_ENDPOINTS = ("/api/v1/trigger", "/api/v1/incidents/7/resolve", "/api/v1/alertmanager")


class Colour(enum.Enum):
    """A plain (not str) enum, as a backend might put in its answers."""

    red = "red"


class BackendFailedError(Exception):
    """What the fake backend raises when told to fail; its text must never reach a client."""


class FakeBackend:
    """Answers like the service would and records every call; ``failing`` names methods that raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failing: set[str] = set()
        self.is_alive = True
        self.readiness = ReadyReport(ready=True)
        self.incident_ids = {7}

    def _record(self, method: str, argument: Any = None) -> None:
        self.calls.append((method, argument))
        if method in self.failing:
            raise BackendFailedError(f"{method} exploded: alice@example.org")

    def called(self, method: str) -> list[Any]:
        return [argument for name, argument in self.calls if name == method]

    async def alive(self) -> bool:
        self._record("alive")
        return self.is_alive

    async def ready(self) -> ReadyReport:
        self._record("ready")
        return self.readiness

    async def status(self) -> dict[str, Any]:
        self._record("status")
        return {
            "platforms": {"whatsapp": "down"},
            "checked_at": NOW,
            "scope": IncidentScope.family,
            "colour": Colour.red,
            "confirm_after": timedelta(seconds=2.5),
            "families": frozenset({"meta"}),
        }

    async def incidents(self, since: datetime | None, platform: str | None) -> list[dict[str, Any]]:
        self._record("incidents", (since, platform))
        return [{"id": 7, "name": "meta", "opened_at": NOW - timedelta(hours=1)}]

    async def trigger(self, request: TriggerRequest, actor: str = "api") -> dict[str, Any]:
        self._record("trigger", request)
        return {"id": 8, "key": "manual:phone-lines", "notices": 3}

    async def resolve(self, incident_id: int) -> dict[str, Any] | None:
        self._record("resolve", incident_id)
        return {"id": incident_id, "resolved": True} if incident_id in self.incident_ids else None

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, Any]:
        self._record("alertmanager", payload)
        return {"opened": [a.fingerprint for a in payload.alerts if a.status is AlertStatus.firing]}


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on an ephemeral 127.0.0.1 port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    server = create_server(app, host=LOOPBACK, port=port)
    loop = LoopThread("api-server")
    loop.start()
    try:
        serving_done = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop.loop)
        deadline = time.monotonic() + 10
        while not server.started:
            if serving_done.done() or time.monotonic() > deadline:
                serving_done.result(0)  # raises what stopped it
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        yield f"http://{LOOPBACK}:{port}"
        server.should_exit = True
        serving_done.result(10)
    finally:
        server.should_exit = True
        loop.stop()
        sock.close()


@dataclass
class Api:
    backend: FakeBackend
    client: httpx.Client

    def post(self, path: str, body: Any, *, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            return self.client.post(path, content=body, headers=headers, **kwargs)
        return self.client.post(path, json=body, headers=headers, **kwargs)


def metrics_registry() -> Any:
    """prometheus_client's ASGI app over a registry holding one series."""
    registry = CollectorRegistry()
    Gauge("failover_platform_up", "1 if the platform is up", ["platform"], registry=registry).labels(
        platform="whatsapp"
    ).set(0)
    return make_asgi_app(registry)


@contextmanager
def running_api(token: str | None = TOKEN) -> Iterator[Api]:
    backend = FakeBackend()
    app = create_app(backend, token=token, metrics=metrics_registry(), clock=lambda: NOW)
    with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
        yield Api(backend, client)


class CurrentBackend:
    """Forwards to ``current``: one server serves the module, each test gets a fresh backend."""

    def __init__(self) -> None:
        self.current = FakeBackend()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[CurrentBackend, str]]:
    backend = CurrentBackend()
    app = create_app(backend, token=TOKEN, metrics=metrics_registry(), clock=lambda: NOW)
    with serving(app) as url:
        yield backend, url


@pytest.fixture
def api(shared_server: tuple[CurrentBackend, str]) -> Iterator[Api]:
    """The module's server with a fresh fake backend and a fresh client."""
    backend, url = shared_server
    backend.current = FakeBackend()
    with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
        yield Api(backend.current, client)


def alertmanager_payload(status: str = "firing") -> dict[str, Any]:
    """What Alertmanager 0.27 posts to a webhook receiver, with every field it sends."""
    ends_at = "0001-01-01T00:00:00Z" if status == "firing" else "2021-10-04T21:41:03.5Z"
    return {
        "receiver": "failover",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "MetaDnsDown",
                    "failover_target": "meta",
                    "instance": "blackbox-exporter:9115",
                    "job": "blackbox-dns",
                    "severity": "critical",
                },
                "annotations": {
                    "summary": "Meta's authoritative name servers do not answer",
                    "description": "probe_success == 0 for a.ns.facebook.com for 2 minutes",
                    "runbook_url": "https://wiki.example.org/runbooks/meta-dns",
                },
                "startsAt": "2021-10-04T17:40:03.123456789+02:00",
                "endsAt": ends_at,
                "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=probe_success%3D%3D0",
                "fingerprint": "b6f3a1d2c4e5f607",
                "silenceURL": "http://alertmanager.example.org:9093/#/silences/new",
            },
            {
                "status": status,
                "labels": {"alertname": "WhatsAppDown", "platform": "whatsapp"},
                "annotations": {"description": "web.whatsapp.com answers 503"},
                "startsAt": "2021-10-04T15:41:00Z",
                "endsAt": ends_at,
                "generatorURL": "",
                "fingerprint": "0a1b2c3d4e5f6071",
            },
        ],
        "groupLabels": {"alertname": "MetaDnsDown"},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.org:9093",
        "version": "4",
        "groupKey": '{}:{alertname="MetaDnsDown"}',
        "truncatedAlerts": 0,
    }


class TestProbes:
    """/healthz, /readyz and /metrics answer Kubernetes-style probes and Prometheus."""

    def test_healthz_answers_ok_while_the_loop_runs(self, api: Api) -> None:
        response = api.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["content-type"] == "application/json"

    def test_healthz_answers_503_when_the_backend_says_the_loop_stalled(self, api: Api) -> None:
        api.backend.is_alive = False
        response = api.client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "stalled"}

    def test_readyz_answers_200_when_ready(self, api: Api) -> None:
        response = api.client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "reasons": []}

    def test_readyz_answers_503_with_the_reasons(self, api: Api) -> None:
        api.backend.readiness = ReadyReport(
            ready=False, reasons=("database unreachable", "scheduler stopped")
        )
        response = api.client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "reasons": ["database unreachable", "scheduler stopped"],
        }

    def test_readyz_answers_503_when_the_readiness_check_raises(self, api: Api) -> None:
        api.backend.failing.add("ready")
        response = api.client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "not ready", "reasons": ["readiness check failed"]}
        assert "exploded" not in response.text

    def test_metrics_serves_the_text_exposition(self, api: Api) -> None:
        response = api.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        families = {family.name: family for family in text_string_to_metric_families(response.text)}
        sample = families["failover_platform_up"].samples[0]
        assert sample.labels == {"platform": "whatsapp"}
        assert sample.value == 0

    def test_the_metrics_content_type_is_prometheus_clients_0_0_4(self) -> None:
        exposition = pytest.importorskip("prometheus_client.exposition")
        expected = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", "text/plain; version=0.0.4; charset=utf-8")
        assert expected == METRICS_CONTENT_TYPE

    def test_head_is_answered_like_get(self, api: Api) -> None:
        response = api.client.head("/healthz")
        assert response.status_code == 200
        assert response.content == b""


class TestReadEndpoints:
    """Status and the journal need no token; the journal filters by age and platform."""

    def test_status_returns_the_backends_report_as_json(self, api: Api) -> None:
        response = api.client.get("/api/v1/status")
        assert response.status_code == 200
        assert response.json() == {
            "platforms": {"whatsapp": "down"},
            "checked_at": "2021-10-04T15:40:00+00:00",
            "scope": "family",
            "colour": "red",
            "confirm_after": 2.5,
            "families": ["meta"],
        }

    def test_incidents_without_a_query_asks_for_everything(self, api: Api) -> None:
        response = api.client.get("/api/v1/incidents")
        assert response.status_code == 200
        assert response.json() == {
            "incidents": [{"id": 7, "name": "meta", "opened_at": "2021-10-04T14:40:00+00:00"}]
        }
        assert api.backend.called("incidents") == [(None, None)]

    @pytest.mark.parametrize(
        ("since", "expected"),
        [
            ("30m", NOW - timedelta(minutes=30)),
            ("24h", NOW - timedelta(hours=24)),
            ("7d", NOW - timedelta(days=7)),
            ("1h30m", NOW - timedelta(minutes=90)),
            ("2021-10-04T12:00:00Z", datetime(2021, 10, 4, 12, tzinfo=UTC)),
            ("2021-10-04T14:00:00+02:00", datetime(2021, 10, 4, 12, tzinfo=UTC)),
            ("99999999999d", datetime.min.replace(tzinfo=UTC)),
        ],
    )
    def test_since_is_a_duration_before_now_or_a_time(self, api: Api, since: str, expected: datetime) -> None:
        response = api.client.get("/api/v1/incidents", params={"since": since, "platform": "whatsapp"})
        assert response.status_code == 200
        assert api.backend.called("incidents") == [(expected, "whatsapp")]
        assert api.backend.called("incidents")[0][0].tzinfo is UTC

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ({"since": "a week"}, "since"),
            ({"since": "-5m"}, "since"),
            ({"since": "2021-10-04T12:00:00"}, "since"),
            ({"platform": "what's app?"}, "platform"),
        ],
    )
    def test_a_bad_query_is_a_422_naming_the_parameter(
        self, api: Api, query: dict[str, str], field: str
    ) -> None:
        response = api.client.get("/api/v1/incidents", params=query)
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "invalid query"
        assert body["detail"][0].startswith(f"{field}: ")
        assert api.backend.called("incidents") == []


@pytest.fixture(scope="module")
def local_url() -> Iterator[str]:
    """A server that answers only to this machine's names, as the daemon on 127.0.0.1 does."""
    app = create_app(
        FakeBackend(), token=TOKEN, metrics=metrics_registry(), clock=lambda: NOW, hosts=local_hosts(LOOPBACK)
    )
    with serving(app) as url:
        yield url


class TestHostCheck:
    """Bound to loopback, the surface answers only requests addressed to this machine, so a
    web page renamed to 127.0.0.1 (DNS rebinding) cannot read it from a browser."""

    @pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/incidents", "/metrics", "/healthz"])
    def test_a_foreign_host_is_refused(self, local_url: str, path: str) -> None:
        """A request naming another site is refused with a reason, which does not repeat
        the name it was sent."""
        response = httpx.get(local_url + path, headers={"Host": "attacker.example:9464"}, trust_env=False)
        assert response.status_code == 400
        assert response.json()["error"] == "unexpected Host header"
        assert "attacker" not in response.text

    def test_a_foreign_host_cannot_trigger(self, local_url: str) -> None:
        """Even with the token, a write addressed to another site is refused."""
        response = httpx.post(
            local_url + "/api/v1/trigger",
            json={"target": "whatsapp", "message": "down"},
            headers={"Host": "attacker.example", "Authorization": f"Bearer {TOKEN}"},
            trust_env=False,
        )
        assert response.status_code == 400

    @pytest.mark.parametrize(
        "host", ["127.0.0.1:9464", "localhost:9464", "LOCALHOST", "[::1]:9464", "127.0.0.1"]
    )
    def test_the_machines_own_names_are_served(self, local_url: str, host: str) -> None:
        """What Prometheus, curl and a local browser send is answered."""
        response = httpx.get(local_url + "/api/v1/status", headers={"Host": host}, trust_env=False)
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("listen", "expected"),
        [
            ("127.0.0.1", {"127.0.0.1", "localhost", "::1"}),
            ("127.0.0.2", {"127.0.0.1", "127.0.0.2", "localhost", "::1"}),
            ("::1", {"127.0.0.1", "localhost", "::1"}),
            ("localhost", {"127.0.0.1", "localhost", "::1"}),
            ("0.0.0.0", None),  # the operator opened it to the network: any Host
            ("192.0.2.10", None),
            ("failover.internal", None),
        ],
    )
    def test_which_hosts_depend_on_the_address_listened_on(
        self, listen: str, expected: set[str] | None
    ) -> None:
        """Only a loopback address restricts the Host header."""
        assert local_hosts(listen) == (frozenset(expected) if expected is not None else None)


class TestAuthentication:
    """The write endpoints need the configured bearer token, compared in constant time."""

    @pytest.mark.parametrize("path", WRITE_ENDPOINTS)
    def test_without_a_token_the_answer_is_401_with_a_bearer_challenge(self, api: Api, path: str) -> None:
        response = api.post(path, {}, token=None)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {"error": "bearer token required", "detail": []}
        assert api.backend.calls == []

    @pytest.mark.parametrize("path", WRITE_ENDPOINTS)
    def test_a_wrong_token_is_refused_without_being_echoed(self, api: Api, path: str) -> None:
        response = api.post(path, alertmanager_payload(), token="guessed-token-value")
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert "guessed-token-value" not in response.text
        assert TOKEN not in response.text
        assert api.backend.calls == []

    @pytest.mark.parametrize(
        "authorization",
        [
            f"Basic {TOKEN}",
            f"Token {TOKEN}",
            "Bearer",
            f"Bearer {TOKEN}x",
            f"Bearer {TOKEN[:-1]}",
            "Bearer caf\xe9",
        ],
    )
    def test_other_schemes_and_near_misses_are_refused(self, api: Api, authorization: str) -> None:
        response = api.client.post(
            "/api/v1/incidents/7/resolve", headers={"Authorization": authorization.encode("latin-1")}
        )
        assert response.status_code == 401
        assert api.backend.calls == []

    def test_the_scheme_is_case_insensitive(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/incidents/7/resolve", headers={"Authorization": f"bearer {TOKEN}"}
        )
        assert response.status_code == 200

    @pytest.mark.parametrize("token", [None, ""])
    @pytest.mark.parametrize("path", WRITE_ENDPOINTS)
    @pytest.mark.slow
    def test_without_a_configured_token_the_write_endpoints_are_closed(
        self, path: str, token: str | None
    ) -> None:
        with running_api(token=token) as api:
            for presented in (None, "guess", TOKEN):
                response = api.post(path, alertmanager_payload(), token=presented)
                assert response.status_code == 403
                assert response.json() == {"error": "API token not configured", "detail": []}
            assert api.client.get("/api/v1/status").status_code == 200
            assert [name for name, _ in api.backend.calls] == ["status"]

    def test_the_token_is_compared_with_hmac_compare_digest(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        compared: list[tuple[bytes, bytes]] = []
        original = hmac.compare_digest

        def spy(a: bytes, b: bytes) -> bool:
            compared.append((a, b))
            return original(a, b)

        monkeypatch.setattr(hmac, "compare_digest", spy)
        assert api.post("/api/v1/incidents/7/resolve", None, token="nope").status_code == 401
        assert api.post("/api/v1/incidents/7/resolve", None).status_code == 200
        assert compared == [(b"nope", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


class TestTrigger:
    """POST /api/v1/trigger opens a manual incident from a validated request."""

    def test_a_custom_incident_reaches_the_backend_and_is_accepted(self, api: Api) -> None:
        body = {
            "custom": True,
            "name": "phone-lines",
            "message": "Our phone lines are down; write to contact@example.org",
            "groups": ["team", "customers"],
            "hold_seconds": 60,
        }
        response = api.post("/api/v1/trigger", body)
        assert response.status_code == 202
        assert response.json() == {"id": 8, "key": "manual:phone-lines", "notices": 3}
        [request] = api.backend.called("trigger")
        assert request == TriggerRequest(
            custom=True,
            name="phone-lines",
            message="Our phone lines are down; write to contact@example.org",
            groups=("team", "customers"),
            hold_seconds=60.0,
            dry_run=False,
        )
        assert request.what == "phone-lines"

    def test_the_target_and_the_message_are_required(self, api: Api) -> None:
        assert api.post("/api/v1/trigger", {"target": "meta", "message": "m"}).status_code == 202
        [request] = api.backend.called("trigger")
        assert request == TriggerRequest(target="meta", message="m")
        assert (request.what, request.custom, request.update) == ("meta", False, False)

    def test_a_dry_run_is_answered_200(self, api: Api) -> None:
        response = api.post("/api/v1/trigger", {"target": "whatsapp", "message": "m", "dry_run": True})
        assert response.status_code == 200
        assert api.backend.called("trigger")[0].dry_run is True

    def test_a_trigger_attached_to_an_open_incident_is_answered_200(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nothing was queued: the backend recorded the trigger in the covering incident."""

        async def attach(request: TriggerRequest, actor: str = "api") -> dict[str, Any]:
            return {"action": "attached", "id": 7, "attached_to": 7, "notices": 0}

        monkeypatch.setattr(api.backend, "trigger", attach)
        response = api.post("/api/v1/trigger", {"target": "whatsapp", "message": "m"})
        assert response.status_code == 200
        assert response.json()["attached_to"] == 7

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"target": "meta"}, "message"),
            ({"target": "meta", "message": ""}, "message"),
            ({"target": "meta", "message": " \n\t "}, "message"),
            ({"target": "meta", "message": "m" * 2001}, "message"),
            ({"message": "m"}, "target"),
            ({"target": "", "message": "m"}, "target"),
            ({"target": "../etc/passwd", "message": "m"}, "target"),
            ({"target": "meta", "message": "m", "scope": "custom"}, "scope"),
            ({"target": "meta", "message": "m", "custom": "yes"}, "custom"),
            ({"custom": True, "message": "m"}, "name"),
            ({"custom": True, "name": "phones", "target": "meta", "message": "m"}, "target"),
            ({"target": "meta", "name": "phones", "message": "m"}, "name"),
            ({"custom": True, "name": "not a name!", "message": "m"}, "name"),
            ({"target": "meta", "message": "m", "update": 1}, "update"),
            ({"target": "meta", "message": "m", "hold_seconds": "30"}, "hold_seconds"),
            ({"target": "meta", "message": "m", "hold_seconds": -1}, "hold_seconds"),
            ({"target": "meta", "message": "m", "hold_seconds": 10**9}, "hold_seconds"),
            ({"target": "meta", "message": "m", "dry_run": "yes"}, "dry_run"),
            ({"target": "meta", "message": "m", "groups": "team"}, "groups"),
            ({"target": "meta", "message": "m", "groups": ["team", 3]}, "groups[1]"),
            ({"target": "meta", "message": "m", "mesage": "typo"}, "mesage"),
            ([], "(body)"),
        ],
    )
    def test_schema_errors_are_422_naming_the_field(self, api: Api, body: Any, path: str) -> None:
        response = api.post("/api/v1/trigger", body)
        assert response.status_code == 422
        problem = response.json()
        assert problem["error"] == "invalid request body"
        assert any(line.startswith(f"{path}: ") for line in problem["detail"]), problem
        assert api.backend.calls == []

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"target": "meta", "message": "m", "groups": ["alice@example.org"]}, "groups[0]"),
            ({"target": "meta", "message": "m", "alice@example.org": "+33 6 12 34 56 78"}, "<key>"),
            ({"target": "alice@example.org", "message": "m"}, "target"),
            ({"custom": True, "name": "alice@example.org", "message": "m"}, "name"),
        ],
    )
    def test_errors_do_not_echo_what_was_sent(self, api: Api, body: dict[str, Any], path: str) -> None:
        response = api.post("/api/v1/trigger", body)
        assert response.status_code == 422
        assert response.json()["detail"][0].startswith(f"{path}: ")
        assert "alice" not in response.text
        assert "56 78" not in response.text


class TestResolve:
    """POST /api/v1/incidents/{id}/resolve resolves by number; an unknown number is a 404."""

    def test_a_known_incident_is_resolved(self, api: Api) -> None:
        response = api.post("/api/v1/incidents/7/resolve", None)
        assert response.status_code == 200
        assert response.json() == {"id": 7, "resolved": True}
        assert api.backend.called("resolve") == [7]

    def test_an_unknown_incident_is_a_404(self, api: Api) -> None:
        response = api.post("/api/v1/incidents/8/resolve", None)
        assert response.status_code == 404
        assert response.json() == {"error": "incident not found", "detail": []}

    def test_an_id_no_store_can_hold_is_a_404_without_asking_the_backend(self, api: Api) -> None:
        response = api.post(f"/api/v1/incidents/{2**63}/resolve", None)
        assert response.status_code == 404
        assert api.backend.calls == []

    @pytest.mark.parametrize("incident_id", ["abc", "-1", "7.5"])
    def test_a_non_numeric_id_matches_no_route(self, api: Api, incident_id: str) -> None:
        response = api.post(f"/api/v1/incidents/{incident_id}/resolve", None)
        assert response.status_code == 404
        assert response.json()["error"] == "Not Found"


class TestAlertmanager:
    """POST /api/v1/alertmanager takes Alertmanager's webhook (version 4) as it is sent."""

    def test_a_firing_group_reaches_the_backend_parsed(self, api: Api) -> None:
        response = api.post("/api/v1/alertmanager", alertmanager_payload("firing"))
        assert response.status_code == 200
        assert response.json() == {"opened": ["b6f3a1d2c4e5f607", "0a1b2c3d4e5f6071"]}
        [payload] = api.backend.called("alertmanager")
        assert payload.status is AlertStatus.firing
        assert payload.receiver == "failover"
        assert payload.group_key == '{}:{alertname="MetaDnsDown"}'
        meta, whatsapp = payload.alerts
        assert meta.fingerprint == "b6f3a1d2c4e5f607"
        assert meta.target == AlertTarget(label="failover_target", scope=None, name="meta")
        assert meta.message == "Meta's authoritative name servers do not answer"
        assert meta.starts_at == datetime(2021, 10, 4, 15, 40, 3, 123456, tzinfo=UTC)
        assert meta.starts_at.tzinfo is UTC
        assert meta.ends_at == datetime.min.replace(tzinfo=UTC)
        assert whatsapp.target == AlertTarget(label="platform", scope=IncidentScope.platform, name="whatsapp")
        assert whatsapp.message == "web.whatsapp.com answers 503"

    def test_a_resolved_group_reaches_the_backend(self, api: Api) -> None:
        response = api.post("/api/v1/alertmanager", alertmanager_payload("resolved"))
        assert response.status_code == 200
        [payload] = api.backend.called("alertmanager")
        assert payload.status is AlertStatus.resolved
        assert {alert.status for alert in payload.alerts} == {AlertStatus.resolved}
        assert payload.alerts[0].ends_at == datetime(2021, 10, 4, 21, 41, 3, 500000, tzinfo=UTC)

    def test_optional_top_level_fields_may_be_missing(self, api: Api) -> None:
        minimal = {
            key: value
            for key, value in alertmanager_payload().items()
            if key in {"version", "status", "alerts"}
        }
        assert api.post("/api/v1/alertmanager", minimal).status_code == 200

    @pytest.mark.parametrize(
        ("mutate", "path"),
        [
            (lambda p: p.pop("alerts"), "alerts"),
            (lambda p: p.pop("version"), "version"),
            (lambda p: p.update(version="3"), "version"),
            (lambda p: p.update(version=4), "version"),
            (lambda p: p.update(status="pending"), "status"),
            (lambda p: p.update(alerts={"status": "firing"}), "alerts"),
            (lambda p: p["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
            (lambda p: p["alerts"][1].update(status=None), "alerts[1].status"),
            (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
            (lambda p: p["alerts"][0].update(startsAt="2021-10-04T15:40:00"), "alerts[0].startsAt"),
            (lambda p: p["alerts"][0].update(endsAt=1633362000), "alerts[0].endsAt"),
            (lambda p: p["alerts"][0]["labels"].update(severity=5), "alerts[0].labels.severity"),
            (lambda p: p["alerts"][1].update(annotations=[]), "alerts[1].annotations"),
            (lambda p: p.update(truncatedAlerts="0"), "truncatedAlerts"),
        ],
    )
    def test_schema_errors_are_422_naming_the_field(
        self, api: Api, mutate: Callable[[dict[str, Any]], object], path: str
    ) -> None:
        payload = alertmanager_payload()
        mutate(payload)
        response = api.post("/api/v1/alertmanager", payload)
        assert response.status_code == 422
        problem = response.json()
        assert problem["error"] == "invalid request body"
        assert any(line.startswith(f"{path}: ") for line in problem["detail"]), problem
        assert api.backend.calls == []

    def test_the_list_of_problems_is_bounded(self, api: Api) -> None:
        payload = alertmanager_payload()
        payload["alerts"] = [{"status": "firing"}] * 30
        response = api.post("/api/v1/alertmanager", payload)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert len(detail) == 21
        assert detail[-1] == "... and 130 more"

    @pytest.mark.parametrize(
        "body", [b"", b"{", b"not json", b"\xff\xfe\x00", b"[" * 5000, b'{"version": "4",}']
    )
    def test_a_body_that_is_not_json_is_a_400(self, api: Api, body: bytes) -> None:
        response = api.post("/api/v1/alertmanager", body)
        assert response.status_code == 400
        problem = response.json()
        assert problem["error"] == "request body is not valid JSON"
        assert problem["detail"]
        assert api.backend.calls == []

    @pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
    def test_a_body_that_is_not_declared_json_is_a_415(self, api: Api, content_type: str | None) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if content_type:
            headers["Content-Type"] = content_type
        body = json.dumps(alertmanager_payload()).encode()
        response = api.client.post("/api/v1/alertmanager", content=body, headers=headers)
        assert response.status_code == 415
        assert response.json()["error"] == "expected Content-Type: application/json"

    @pytest.mark.parametrize(
        "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"]
    )
    def test_json_media_types_with_parameters_are_accepted(self, api: Api, content_type: str) -> None:
        body = json.dumps(alertmanager_payload()).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
        assert api.client.post("/api/v1/alertmanager", content=body, headers=headers).status_code == 200

    def test_a_body_declared_over_one_mebibyte_is_a_413(self, api: Api) -> None:
        response = api.post("/api/v1/alertmanager", b" " * (MAX_BODY_BYTES + 1))
        assert response.status_code == 413
        assert response.json()["error"] == f"request body larger than {MAX_BODY_BYTES} bytes"
        assert api.backend.calls == []

    def test_a_chunked_body_over_one_mebibyte_is_a_413(self, api: Api) -> None:
        def chunks() -> Iterator[bytes]:
            for _ in range(17):
                yield b" " * 65536

        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        response = api.client.post("/api/v1/alertmanager", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert api.backend.calls == []

    def test_a_body_of_exactly_one_mebibyte_is_read(self, api: Api) -> None:
        body = json.dumps(alertmanager_payload()).encode()
        body += b" " * (MAX_BODY_BYTES - len(body))
        assert api.post("/api/v1/alertmanager", body).status_code == 200


class TestAlertMapping:
    """Labels name what an alert is about; annotations give the message."""

    @staticmethod
    def alert(labels: dict[str, str], annotations: dict[str, str] | None = None) -> Alert:
        return Alert(
            status=AlertStatus.firing,
            labels=labels,
            annotations=annotations or {},
            starts_at=NOW,
            ends_at=NOW,
            fingerprint="f",
        )

    @pytest.mark.parametrize(
        ("labels", "target"),
        [
            (
                {"failover_custom": "phones", "platform": "whatsapp"},
                AlertTarget(label="failover_custom", scope=IncidentScope.custom, name="phones"),
            ),
            (
                {"failover_target": "meta", "platform": "whatsapp"},
                AlertTarget(label="failover_target", scope=None, name="meta"),
            ),
            (
                {"platform": "whatsapp", "family": "meta"},
                AlertTarget(label="platform", scope=IncidentScope.platform, name="whatsapp"),
            ),
            ({"family": "meta"}, AlertTarget(label="family", scope=IncidentScope.family, name="meta")),
            (
                {"failover_target": "", "family": "meta"},
                AlertTarget(label="family", scope=IncidentScope.family, name="meta"),
            ),
            ({"alertname": "DiskFull"}, None),
        ],
    )
    def test_the_target_comes_from_the_first_naming_label(
        self, labels: dict[str, str], target: AlertTarget | None
    ) -> None:
        assert self.alert(labels).target == target

    @pytest.mark.parametrize(
        ("name", "valid"), [("whatsapp", True), ("phone-lines", True), ("not a name!", False)]
    )
    def test_a_name_is_valid_when_it_follows_the_name_rule(self, name: str, valid: bool) -> None:
        """An invalid name is kept, so that the service can say why it ignores the alert."""
        target = self.alert({"failover_custom": name}).target
        assert target is not None
        assert (target.name, target.valid) == (name, valid)

    @pytest.mark.parametrize(
        ("annotations", "message"),
        [
            ({"summary": "S", "description": "D"}, "S"),
            ({"summary": "", "description": "D"}, "D"),
            ({"runbook_url": "https://wiki.example.org"}, ""),
        ],
    )
    def test_the_message_is_the_summary_else_the_description(
        self, annotations: dict[str, str], message: str
    ) -> None:
        assert self.alert({}, annotations).message == message

    def test_times_become_utc_and_go_zero_time_with_an_offset_stays_the_earliest(self) -> None:
        paris = timezone(timedelta(hours=2))
        alert = Alert(
            status=AlertStatus.resolved,
            labels={},
            annotations={},
            starts_at=datetime(2021, 10, 4, 17, 40, tzinfo=paris),
            ends_at=datetime(1, 1, 1, tzinfo=paris),
            fingerprint="f",
        )
        assert alert.starts_at == NOW
        assert alert.starts_at.tzinfo is UTC
        assert alert.ends_at == datetime.min.replace(tzinfo=UTC)


class TestFailures:
    """Unknown routes and failing backends get JSON answers, and the server keeps serving."""

    def test_an_unknown_route_is_a_json_404(self, api: Api) -> None:
        response = api.client.get("/api/v2/everything")
        assert response.status_code == 404
        assert response.json() == {"error": "Not Found", "detail": []}

    def test_a_wrong_method_is_a_json_405_listing_the_allowed_ones(self, api: Api) -> None:
        response = api.client.get("/api/v1/trigger")
        assert response.status_code == 405
        assert response.json() == {"error": "Method Not Allowed", "detail": []}
        assert response.headers["allow"] == "POST"

    @pytest.mark.parametrize(
        ("path", "body", "failing"),
        [
            ("/healthz", None, "alive"),
            ("/api/v1/status", None, "status"),
            ("/api/v1/incidents", None, "incidents"),
            ("/api/v1/trigger", {"target": "meta", "message": "m"}, "trigger"),
            ("/api/v1/incidents/7/resolve", None, "resolve"),
            ("/api/v1/alertmanager", alertmanager_payload(), "alertmanager"),
        ],
    )
    def test_a_failing_backend_is_a_generic_500_and_the_next_request_is_served(
        self, api: Api, caplog: pytest.LogCaptureFixture, path: str, body: Any, failing: str
    ) -> None:
        def call() -> httpx.Response:
            return api.post(path, body) if path in WRITE_ENDPOINTS else api.client.get(path)

        api.backend.failing.add(failing)
        with caplog.at_level(logging.ERROR, logger="failover.api"):
            response = call()
        assert response.status_code == 500
        assert response.json() == {"error": "internal error", "detail": []}
        assert "exploded" not in response.text
        assert "alice" not in response.text
        assert any(record.getMessage() == "api_request_failed" for record in caplog.records)

        api.backend.failing.clear()
        assert call().status_code < 300

    def test_a_backend_refusal_is_a_4xx_with_its_reason(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A well-formed trigger the backend cannot use (an unknown group) is answered with
        the backend's status and reason, not accepted and not a 500."""

        async def refuse(request: TriggerRequest, actor: str = "api") -> dict[str, Any]:
            raise RequestRefused(422, "unknown group 'nobody'", ["groups[0]"])

        monkeypatch.setattr(api.backend, "trigger", refuse)
        response = api.post("/api/v1/trigger", {"target": "meta", "message": "m", "groups": ["nobody"]})
        assert response.status_code == 422
        assert response.json() == {"error": "unknown group 'nobody'", "detail": ["groups[0]"]}

    def test_a_backend_answer_that_is_not_json_is_a_500(
        self, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def unserialisable() -> dict[str, Any]:
            return {"value": object()}

        monkeypatch.setattr(api.backend, "status", unserialisable)
        with caplog.at_level(logging.ERROR, logger="failover.api"):
            assert api.client.get("/api/v1/status").status_code == 500
        assert api.client.get("/healthz").status_code == 200

    def test_a_failing_metrics_renderer_is_a_500(self, caplog: pytest.LogCaptureFixture) -> None:
        class Broken(Collector):
            def collect(self) -> Any:
                raise RuntimeError("registry broke")

        registry = CollectorRegistry()
        registry.register(Broken())
        app = create_app(FakeBackend(), token=TOKEN, metrics=make_asgi_app(registry))
        with (
            caplog.at_level(logging.ERROR, logger="failover.api"),
            serving(app) as url,
            httpx.Client(base_url=url, trust_env=False) as client,
        ):
            assert client.get("/metrics").status_code == 500
            assert client.get("/healthz").status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def near_alertmanager_payloads() -> st.SearchStrategy[bytes]:
    """The real payload with one key of the group or of an alert replaced by any JSON value."""
    group_keys = st.sampled_from(sorted(alertmanager_payload()))
    alert_keys = st.sampled_from(sorted(alertmanager_payload()["alerts"][0]))

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        payload = alertmanager_payload()
        target = payload if draw(st.booleans()) else payload["alerts"][0]
        target[draw(group_keys if target is payload else alert_keys)] = draw(json_values)
        return json.dumps(payload).encode()

    return build()


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"target": st.text(max_size=70)},
        optional={
            "scope": json_values,
            "message": json_values,
            "groups": json_values,
            "hold_seconds": json_values,
            "dry_run": json_values,
        },
    ).map(lambda value: json.dumps(value).encode()),
    near_alertmanager_payloads(),
)


@pytest.mark.slow
class TestFuzzing:
    """Whatever bytes are posted, the answer is never a 5xx and always JSON."""

    @pytest.mark.parametrize("path", ["/api/v1/alertmanager", "/api/v1/trigger"])
    def test_any_body_gets_an_answer_below_500(self, api: Api, path: str) -> None:
        @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=bodies)
        def post(body: bytes) -> None:
            response = api.post(path, body)
            assert response.status_code < 500, (body, response.text)
            answer = response.json()
            if response.status_code >= 400:
                assert set(answer) == {"error", "detail"}
                assert TOKEN not in response.text

        post()


class TestServer:
    """create_server leaves signals to the daemon and logging to the process."""

    def test_the_server_installs_no_signal_handlers(self) -> None:
        app = create_app(FakeBackend(), token=None, metrics=metrics_registry())
        server = create_server(app, host=LOOPBACK, port=0)
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        with server.capture_signals():
            assert {sig: signal.getsignal(sig) for sig in before} == before

    def test_the_server_runs_no_lifespan_and_writes_no_access_log(self) -> None:
        app = create_app(FakeBackend(), token=None, metrics=metrics_registry())
        server = create_server(app, host=LOOPBACK, port=9464)
        assert (server.config.host, server.config.port) == (LOOPBACK, 9464)
        assert server.config.lifespan == "off"
        assert server.config.access_log is False
        assert server.config.log_config is None
