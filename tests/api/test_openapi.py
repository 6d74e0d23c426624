"""The admin API's OpenAPI document (``failover/openapi.json``, served at
``GET /api/v1/openapi.json``): a valid OpenAPI 3.1 document, describing every route of the
app and nothing else, whose schemas (JSON Schema 2020-12) fit what the daemon really
answers over real HTTP on 127.0.0.1, refusals included; and one status shape for
``GET /api/v1/status`` and ``failover status --json``.

The document itself is checked by ``openapi-spec-validator`` (the OpenAPI Initiative's
schema of OpenAPI 3.1 documents, and the rules beyond it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from click.testing import CliRunner
from openapi_spec_validator import OpenAPIV31SpecValidator
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route

import failover
from failover.api import (
    MAX_BODY_BYTES,
    Alert,
    AlertmanagerPayload,
    NoteRequest,
    RejectRequest,
    RetractRequest,
    TriggerRequest,
    create_app,
    local_hosts,
    openapi_document,
)
from failover.cli import main
from failover.config import Config, ManualSettings, load_config
from failover.domain import CheckKind, CheckRole, Observation, Platform
from failover.metrics import exposition_app
from failover.service import Daemon, Watcher, open_store
from failover.service._http import DaemonBackend
from failover.store import Store
from tests.api.test_api import serving
from tests.detect import META_SHAPE, OUTAGE, CheckSpec, Condition, observe
from tests.kit import LOOPBACK, FakeClock

TOKEN = "openapi-token-0123456789"
#: a named operator's token (``[[daemon.api_tokens]]``), for approvals
ALICE_TOKEN = "openapi-token-alice-0123456789"
DOCUMENT: dict[str, Any] = json.loads(openapi_document())
#: the URI the document is registered under, so that its ``#/components/...`` resolve
BASE = "urn:failover:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(
    BASE, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: answers the document describes that these tests cannot provoke from the real backend
NOT_PROVOKED = {
    ("/readyz", "get", "200"),  # the scheduler does not run here
    ("/healthz", "get", "503"),  # the scheduler stalling
    ("/healthz", "get", "500"),
    ("/metrics", "get", "500"),
    ("/api/v1/status", "get", "500"),
    ("/api/v1/openapi.json", "get", "500"),
    ("/api/v1/trigger", "post", "409"),  # the covering incident changing during the request
    ("/api/v1/trigger", "post", "500"),
}

_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(text: object) -> bool:
    """RFC 3339 date-time: a full date, ``T``, a time and an offset (the ``format`` jsonschema
    checks only with a package this project does not need)."""
    if not isinstance(text, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return True


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def validator(pointer: str) -> jsonschema.Draft202012Validator:
    """A JSON Schema 2020-12 validator for the schema at ``pointer`` in the document."""
    return jsonschema.Draft202012Validator(
        {"$ref": f"{BASE}#{pointer}"}, registry=REGISTRY, format_checker=_FORMATS
    )


def component(name: str) -> jsonschema.Draft202012Validator:
    return validator(f"/components/schemas/{name}")


def problems(checker: jsonschema.Draft202012Validator, instance: Any) -> list[str]:
    return [f"{error.json_path}: {error.message[:300]}" for error in checker.iter_errors(instance)]


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def documented_response(path: str, method: str, status: int) -> tuple[str, dict[str, Any]] | None:
    """The pointer to and the Response Object documented for an answer; None if undocumented."""
    pointer = f"/paths/{_escape(path)}/{method}/responses/{status}"
    response = DOCUMENT["paths"].get(path, {}).get(method, {}).get("responses", {}).get(str(status))
    if response is None:
        return None
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        name = pointer.rsplit("/", 1)[-1]
        response = DOCUMENT["components"]["responses"][name]
    return pointer, response


def _media_type(text: str) -> tuple[str, set[str]]:
    kind, *parameters = (part.strip().lower() for part in text.split(";"))
    return kind, {p.replace(" ", "") for p in parameters if p}


def documented_media_type(content_type: str, content: dict[str, Any]) -> str | None:
    """The key of ``content`` describing an answer of ``content_type``: the same media
    type, whose parameters the answer all carries (it may carry more, e.g. ``charset``)."""
    kind, parameters = _media_type(content_type)
    for key in content:
        documented_kind, documented_parameters = _media_type(key)
        if documented_kind == kind and documented_parameters <= parameters:
            return key
    return None


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route of a Starlette app; HEAD goes with GET."""
    routes = set()
    for route in app.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        routes |= {(path, method.lower()) for method in route.methods or () if method != "HEAD"}
    return routes


# ------------------------------------------------------------------------------ a judged world


CONTROL = CheckSpec(name="http", kind=CheckKind.http, role=CheckRole.front_door)


def write_config(tmp_path: Path) -> Path:
    """Three platforms, two controls and two contacts, every address on 127.0.0.1 (a
    scripted prober answers for the platforms: nothing is probed)."""
    platforms = "".join(
        f"""
[platforms.{name}]
display_name = "{display}"
{family}
[[platforms.{name}.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
"""
        for name, display, family in (
            ("whatsapp", "WhatsApp", 'family = "meta"'),
            ("instagram", "Instagram", 'family = "meta"'),
            ("telegram", "Telegram", ""),
        )
    )
    controls = "".join(
        f"""
[controls.{name}]
[[controls.{name}.checks]]
kind = "http"
name = "http"
url = "http://127.0.0.1:9/{name}"
"""
        for name in ("control-a", "control-b")
    )
    contacts = "".join(
        f"""
[[contacts]]
name = "{name}"
id = "{name.lower()}"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:9?from=failover@example.org&to={name.lower()}@example.org"
"""
        for name in ("Alice", "Bob")
    )
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

{platforms}
{controls}
[groups.team]
{contacts}
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
"""
    )
    return path


class ScriptedProber:
    """Answers each target with the outcome ``conditions`` names for it (all checks passing
    otherwise), at the clock's time; probes nothing."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.conditions: dict[str, Condition] = {}

    async def probe_platforms(
        self, targets: Sequence[Platform], *, timeout_cap_s: float | None = None
    ) -> list[Observation]:
        observations: list[Observation] = []
        for target in targets:
            failing = self.conditions.get(target.name, {})
            if target.is_control:
                observations += observe(target.name, self.clock(), (CONTROL,), failing, is_control=True)
            else:
                observations += observe(target.name, self.clock(), META_SHAPE, failing)
        return observations


def judge_whatsapp_down(config: Config, clock: FakeClock) -> None:
    """Rounds in which WhatsApp goes dark and the re-probes confirm it: an open incident,
    its notices in the outbox, and the judge's state in the database."""
    prober = ScriptedProber(clock)

    async def rounds() -> None:
        with open_store(config) as store:
            watcher = Watcher(config=config, store=store, prober=prober, clock=clock)
            await watcher.run_round()
            prober.conditions["whatsapp"] = OUTAGE
            for delay in (15, 2, 3):
                clock.advance(delay)
                await watcher.run_round()

    asyncio.run(rounds())


@dataclass
class Surface:
    """The daemon's HTTP surface with its real backend and store (the daemon itself is not
    running), a second one without a token, and every exchange made through them."""

    client: httpx.Client
    closed: httpx.Client
    daemon: Daemon
    store: Store
    exchanges: list[tuple[str | None, str, httpx.Response]] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str | None,
        url: str,
        *,
        token: str | None = TOKEN,
        closed: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request to ``url`` (the route ``path`` of the document, None for no route)
        and note the exchange."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        client = self.closed if closed else self.client
        response = client.request(method, url, headers=headers, **kwargs)
        self.exchanges.append((path, method.lower(), response))
        return response


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config, FakeClock]:
    tmp_path = tmp_path_factory.mktemp("openapi")
    path = write_config(tmp_path)
    config = load_config(path, env={})
    clock = FakeClock()
    judge_whatsapp_down(config, clock)
    return path, config, clock


@contextmanager
def start_surface(config: Config, clock: FakeClock) -> Iterator[Surface]:
    """The surface of a daemon that just started on the configured database."""
    daemon = Daemon(config, reload=lambda: config, env={}, clock=clock)
    with open_store(config) as store:
        daemon.store = store
        daemon.watcher = Watcher(config=config, store=store, prober=ScriptedProber(clock), clock=clock)
        hosts = local_hosts(LOOPBACK)
        metrics = exposition_app(daemon.registry)
        app = create_app(
            DaemonBackend(daemon),
            token=TOKEN,
            tokens={"alice": ALICE_TOKEN},
            metrics=metrics,
            clock=clock,
            hosts=hosts,
        )
        bare = create_app(DaemonBackend(daemon), token=None, metrics=metrics, clock=clock, hosts=hosts)
        with (
            serving(app) as url,
            serving(bare) as bare_url,
            httpx.Client(base_url=url, trust_env=False, timeout=10) as client,
            httpx.Client(base_url=bare_url, trust_env=False, timeout=10) as closed,
        ):
            yield Surface(client=client, closed=closed, daemon=daemon, store=store)


# ------------------------------------------------------------------------------ the tour


ALERT_STARTS = "2021-10-04T16:00:00Z"


def alert(status: str, labels: dict[str, str], fingerprint: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "failover",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "Down", **labels},
                "annotations": {"summary": "Telegram does not answer: write to us by e-mail"},
                "startsAt": ALERT_STARTS,
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2021-10-04T16:30:00Z",
                "generatorURL": "",
                "fingerprint": fingerprint,
            }
        ],
    }


def tour(surface: Surface) -> None:
    """Every route, answering what it answers when all goes well and each refusal it makes."""
    call = surface.call
    get = "GET"
    post = "POST"
    status = "/api/v1/status"
    incidents = "/api/v1/incidents"
    trigger = "/api/v1/trigger"
    resolve = "/api/v1/incidents/{incident_id}/resolve"
    notes = "/api/v1/incidents/{incident_id}/notes"
    webhook = "/api/v1/alertmanager"

    # reads
    assert call(get, "/healthz", "/healthz").status_code == 200
    assert call(get, "/readyz", "/readyz").status_code == 503  # the scheduler does not run here
    assert call(get, "/metrics", "/metrics").status_code == 200
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}
    assert call(get, "/metrics", "/metrics", headers=openmetrics).status_code == 200
    assert call(get, "/api/v1/openapi.json", "/api/v1/openapi.json").status_code == 200
    assert call(get, status, status).status_code == 200
    assert call(get, incidents, incidents).status_code == 200
    assert call(get, incidents, incidents, params={"since": "7d", "platform": "whatsapp"}).status_code == 200
    assert call(get, incidents, incidents, params={"since": "last week"}).status_code == 422
    assert call(get, incidents, incidents, params={"platform": "not a name"}).status_code == 422

    # who may write
    body = {"target": "telegram", "message": "Telegram is down: write to us by e-mail", "dry_run": True}
    assert call(post, trigger, trigger, json=body, token=None).status_code == 401
    assert call(post, trigger, trigger, json=body, token="wrong-token").status_code == 401
    assert call(post, trigger, trigger, json=body, closed=True).status_code == 403

    # bodies refused
    for path in (trigger, webhook):
        assert (
            call(
                post, path, path, content=b'{"target": ', headers={"Content-Type": "application/json"}
            ).status_code
            == 400
        )
        assert (
            call(post, path, path, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
        )
        assert call(post, path, path, json={"target": 3}).status_code == 422
    too_large = b" " * (MAX_BODY_BYTES + 1)
    for path in (trigger, webhook):
        assert (
            call(
                post, path, path, content=too_large, headers={"Content-Type": "application/json"}
            ).status_code
            == 413
        )
    assert call(post, trigger, trigger, json={"target": "whatsapp"}).status_code == 422
    assert call(post, trigger, trigger, json={"target": "whatsap", "message": "m"}).status_code == 422
    assert (
        call(
            post,
            trigger,
            trigger,
            json={"target": "whatsapp", "message": "m", "update": True, "groups": ["nobody"]},
        ).status_code
        == 422
    )

    # triggers: a preview, one on what the judge's incident covers, an update, a custom one
    assert call(post, trigger, trigger, json=body).status_code == 200
    covered = {"target": "whatsapp", "message": "WhatsApp is down: write to us by e-mail"}
    preview = call(post, trigger, trigger, json={**covered, "dry_run": True})
    assert (preview.status_code, preview.json()["covered_by"] is not None) == (200, True)
    attached = call(post, trigger, trigger, json=covered)
    assert (attached.status_code, attached.json()["action"]) == (200, "attached")
    updated = call(post, trigger, trigger, json={**covered, "update": True, "hold_seconds": 30})
    assert (updated.status_code, updated.json()["action"]) == (202, "updated")
    custom = {
        "custom": True,
        "name": "phone-lines",
        "message": "Our phone lines are down",
        "hold_seconds": 60,
    }
    opened = call(post, trigger, trigger, json=custom)
    assert (opened.status_code, opened.json()["action"]) == (202, "opened")

    # resolving: a manual incident, again, the judge's, one that does not exist
    manual_id = opened.json()["id"]
    judged_id = attached.json()["attached_to"]
    url = f"/api/v1/incidents/{manual_id}/resolve"
    assert call(post, resolve, url, token=None).status_code == 401
    assert call(post, resolve, url, closed=True).status_code == 403
    first = call(post, resolve, url)
    assert (first.status_code, first.json()["resolved"]) == (200, True)
    again = call(post, resolve, url)
    assert (again.status_code, again.json()["already_resolved"]) == (200, True)
    by_judge = call(post, resolve, f"/api/v1/incidents/{judged_id}/resolve")
    assert (by_judge.status_code, by_judge.json()["resolved"]) == (200, False)
    assert call(post, resolve, "/api/v1/incidents/999999/resolve").status_code == 404

    # notes: one on the judge's incident, each refusal
    url = f"/api/v1/incidents/{judged_id}/notes"
    note = {"text": "Called the ISP: fibre cut, repair by 18:00"}
    assert call(post, notes, url, json=note).status_code == 201
    assert call(post, notes, url, json=note, token=None).status_code == 401
    assert call(post, notes, url, json=note, closed=True).status_code == 403
    assert call(post, notes, "/api/v1/incidents/999999/notes", json=note).status_code == 404
    json_type = {"Content-Type": "application/json"}
    assert call(post, notes, url, content=b'{"text": ', headers=json_type).status_code == 400
    assert call(post, notes, url, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert call(post, notes, url, content=too_large, headers=json_type).status_code == 413
    assert call(post, notes, url, json={"text": "  "}).status_code == 422
    assert call(post, notes, url, json={"text": "x", "author": "someone"}).status_code == 422

    # approval required: triggers await a second operator, who approves one; one is rejected
    approve = "/api/v1/incidents/{incident_id}/approve"
    reject = "/api/v1/incidents/{incident_id}/reject"
    configured = surface.daemon.config
    surface.daemon.config = dataclasses.replace(configured, manual=ManualSettings(approval="required"))
    try:
        waiting = [
            call(post, trigger, trigger, json={"custom": True, "name": name, "message": "It is down"})
            for name in ("fax", "pager")
        ]
    finally:
        surface.daemon.config = configured
    assert [(w.status_code, w.json()["approval"]) for w in waiting] == [(202, "awaiting")] * 2
    to_approve, to_reject = (w.json()["id"] for w in waiting)
    url = f"/api/v1/incidents/{to_approve}/approve"
    assert call(post, approve, url, token=None).status_code == 401
    assert call(post, approve, url, closed=True).status_code == 403
    assert call(post, approve, url).status_code == 403  # the token that triggered it
    assert call(post, approve, "/api/v1/incidents/999999/approve", token=ALICE_TOKEN).status_code == 404
    approved = call(post, approve, url, token=ALICE_TOKEN)
    assert (approved.status_code, approved.json()["incident"]["approval"]) == (200, "approved")
    assert call(post, approve, url, token=ALICE_TOKEN).status_code == 409
    url = f"/api/v1/incidents/{to_reject}/reject"
    why = {"reason": "Wrong number in the message"}
    assert call(post, reject, url, json=why, token=None).status_code == 401
    assert call(post, reject, url, json=why, closed=True).status_code == 403
    assert call(post, reject, url, content=b'{"reason": ', headers=json_type).status_code == 400
    assert call(post, reject, url, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert call(post, reject, url, content=too_large, headers=json_type).status_code == 413
    assert call(post, reject, url, json={"reason": " "}).status_code == 422
    assert call(post, reject, "/api/v1/incidents/999999/reject", json=why).status_code == 404
    rejected = call(post, reject, url, json=why)
    assert (rejected.status_code, rejected.json()["withdrawn"]) == (200, 2)
    assert call(post, reject, url, json=why).status_code == 409

    # retraction: the custom incident (resolved before it told anyone), once; each refusal
    retract = "/api/v1/incidents/{incident_id}/retract"
    url = f"/api/v1/incidents/{manual_id}/retract"
    mistake = {"reason": "Wrong platform: the phone lines work"}
    assert call(post, retract, url, json=mistake, token=None).status_code == 401
    assert call(post, retract, url, json=mistake, closed=True).status_code == 403
    assert call(post, retract, url, content=b'{"reason": ', headers=json_type).status_code == 400
    assert call(post, retract, url, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert call(post, retract, url, content=too_large, headers=json_type).status_code == 413
    assert call(post, retract, url, json={"reason": " "}).status_code == 422
    assert call(post, retract, url, json={**mistake, "messages": {"de": "Alles gut"}}).status_code == 422
    assert call(post, retract, "/api/v1/incidents/999999/retract", json=mistake).status_code == 404
    retracted = call(post, retract, url, json={**mistake, "messages": {"fr": "Tout va bien"}})
    assert (retracted.status_code, retracted.json()["retracted"]) == (200, True)
    assert call(post, retract, url, json=mistake).status_code == 409

    # Alertmanager: an alert opens an incident and resolves it; one naming nothing is ignored
    firing = call(post, webhook, webhook, json=alert("firing", {"platform": "telegram"}, "f00d"))
    assert (firing.status_code, len(firing.json()["opened"])) == (200, 1)
    resolved = call(post, webhook, webhook, json=alert("resolved", {"platform": "telegram"}, "f00d"))
    assert (resolved.status_code, len(resolved.json()["resolved"])) == (200, 1)
    ignored = call(post, webhook, webhook, json=alert("firing", {"platform": "nowhere"}, "beef"))
    assert (ignored.status_code, ignored.json()["ignored"]) == (200, 1)
    assert call(post, webhook, webhook, json=alert("firing", {}, "cafe"), token=None).status_code == 401
    assert call(post, webhook, webhook, json=alert("firing", {}, "cafe"), closed=True).status_code == 403
    assert call(get, status, status).status_code == 200

    # a foreign Host on every route; an unknown route
    for path, method, _operation in operations():
        url = path.replace("{incident_id}", str(manual_id))
        assert call(method.upper(), path, url, headers={"Host": "rebound.example"}).status_code == 400
    assert call(get, None, "/api/v2/everything").status_code == 404

    # the database gone: the status says so, a trigger is refused, the rest fails
    store, surface.daemon.store = surface.daemon.store, None
    try:
        assert call(get, status, status).json()["database"] == "unavailable"
        assert call(post, trigger, trigger, json=body).status_code == 503
        assert call(get, incidents, incidents).status_code == 500
        assert call(post, resolve, f"/api/v1/incidents/{manual_id}/resolve").status_code == 500
        assert call(post, notes, f"/api/v1/incidents/{manual_id}/notes", json=note).status_code == 500
        assert call(post, approve, f"/api/v1/incidents/{to_approve}/approve").status_code == 500
        assert call(post, reject, f"/api/v1/incidents/{to_reject}/reject", json=why).status_code == 500
        assert call(post, retract, f"/api/v1/incidents/{to_reject}/retract", json=mistake).status_code == 500
        assert (
            call(post, webhook, webhook, json=alert("firing", {"platform": "telegram"}, "d00d")).status_code
            == 500
        )
    finally:
        surface.daemon.store = store


@pytest.fixture(scope="module")
def toured(world: tuple[Path, Config, FakeClock]) -> Iterator[Surface]:
    """A surface taken through :func:`tour` once for the module."""
    _path, config, clock = world
    with start_surface(config, clock) as surface:
        tour(surface)
        yield surface


# ------------------------------------------------------------------------------ the tests


class TestDocument:
    """The document is an OpenAPI 3.1 document, and describes the app's routes exactly."""

    @pytest.mark.slow
    def test_it_validates_against_the_openapi_3_1_schema(self) -> None:
        assert DOCUMENT["openapi"].startswith("3.1.")
        assert [str(e.message) for e in OpenAPIV31SpecValidator(DOCUMENT).iter_errors()] == []

    def test_the_openapi_schema_catches_a_broken_document(self) -> None:
        """The check above can fail: a Response Object without its description is refused."""
        broken = json.loads(openapi_document())
        del broken["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
        assert list(OpenAPIV31SpecValidator(broken).iter_errors()) != []

    def test_every_schema_is_json_schema_2020_12(self) -> None:
        found = []

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "schema" and isinstance(value, dict):
                        found.append(where)
                        jsonschema.Draft202012Validator.check_schema(value)
                    walk(value, f"{where}/{key}")
            elif isinstance(node, list):
                for index, value in enumerate(node):
                    walk(value, f"{where}/{index}")

        walk(DOCUMENT["paths"], "#/paths")
        for name, schema in DOCUMENT["components"]["schemas"].items():
            jsonschema.Draft202012Validator.check_schema(schema)
            found.append(name)
        assert len(found) > 30

    def test_every_reference_resolves(self) -> None:
        references = re.findall(r'"\$ref": "([^"]+)"', json.dumps(DOCUMENT))
        assert references
        resolver = REGISTRY.resolver(base_uri=BASE)
        for reference in set(references):
            assert reference.startswith("#/components/"), reference
            assert resolver.lookup(reference).contents is not None

    def test_every_route_of_the_app_is_described_and_nothing_else(self, tmp_path: Path) -> None:
        config = load_config(write_config(tmp_path), env={})
        daemon = Daemon(config, reload=lambda: config, env={})
        app = create_app(DaemonBackend(daemon), token=TOKEN, metrics=exposition_app(CollectorRegistry()))
        described = {(path, method) for path, method, _ in operations()}
        assert described == app_routes(app)
        for path, method, operation in operations():
            named = set(re.findall(r"\{(\w+)\}", path))
            in_path = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert named == in_path, (path, method)

    def test_writes_need_the_bearer_token_and_reads_do_not(self) -> None:
        assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"] == {
            "type": "http",
            "scheme": "bearer",
            "description": DOCUMENT["components"]["securitySchemes"]["bearerAuth"]["description"],
        }
        for path, method, operation in operations():
            responses = operation["responses"]
            if method == "post":
                assert operation["security"] == [{"bearerAuth": []}], path
                assert {"401", "403"} <= set(responses), path
            else:
                assert operation["security"] == [], path
                assert not {"401", "403"} & set(responses), path
            assert "400" in responses, f"{path}: the Host check refuses with 400 on every route"

    def test_operation_ids_are_unique(self) -> None:
        ids = [operation["operationId"] for _, _, operation in operations()]
        assert len(ids) == len(set(ids))

    @pytest.mark.parametrize(
        ("model", "schema"),
        [
            (TriggerRequest, "TriggerRequest"),
            (AlertmanagerPayload, "AlertmanagerPayload"),
            (Alert, "Alert"),
            (NoteRequest, "NoteRequest"),
            (RejectRequest, "RejectRequest"),
            (RetractRequest, "RetractRequest"),
        ],
    )
    def test_the_request_schemas_name_the_fields_the_models_read(
        self, model: type[BaseModel], schema: str
    ) -> None:
        documented = DOCUMENT["components"]["schemas"][schema]
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        assert set(documented["properties"]) == set(fields)
        required = {name for name, info in fields.items() if info.is_required()}
        assert set(documented.get("required", ())) == required


class TestRequestBodies:
    """The request schemas accept the bodies the API accepts and refuse those it refuses."""

    @pytest.mark.parametrize(
        ("body", "accepted"),
        [
            ({"target": "whatsapp", "message": "m"}, True),
            (
                {"target": "meta", "message": "m", "groups": ["team"], "hold_seconds": 30, "update": False},
                True,
            ),
            ({"target": "telegram", "message": "m", "hold_seconds": 2.5, "name": None}, True),
            ({"custom": True, "name": "phone-lines", "message": "m", "target": None}, True),
            ({"custom": False, "target": "whatsapp", "message": "m"}, True),
            ({"target": "whatsapp", "message": "x" * 2000}, True),
            ({"target": "whatsapp", "messages": {"en": "m", "fr": "m"}}, True),
            ({"target": "whatsapp", "message": "m", "messages": {"fr": "m"}}, True),
            ({"target": "whatsapp", "messages": {}}, False),
            ({"target": "whatsapp", "messages": {"en": " "}}, False),
            ({"target": "whatsapp", "messages": {"not a language": "m"}}, False),
            ({"target": "whatsapp"}, False),
            ({"target": "whatsapp", "message": ""}, False),
            ({"target": "whatsapp", "message": " \n\t "}, False),
            ({"target": "whatsapp", "message": "x" * 2001}, False),
            ({"message": "m"}, False),
            ({"custom": True, "message": "m"}, False),
            ({"custom": True, "name": "phones", "target": "whatsapp", "message": "m"}, False),
            ({"target": "whatsapp", "name": "phones", "message": "m"}, False),
            ({"target": "not a name!", "message": "m"}, False),
            ({"target": "whatsapp", "message": "m", "hold_seconds": "30"}, False),
            ({"target": "whatsapp", "message": "m", "hold_seconds": -1}, False),
            ({"target": "whatsapp", "message": "m", "hold_seconds": 86401}, False),
            ({"target": "whatsapp", "message": "m", "update": 1}, False),
            ({"target": "whatsapp", "message": "m", "groups": "team"}, False),
            ({"target": "whatsapp", "message": "m", "groups": ["team"] * 65}, False),
            ({"target": "whatsapp", "message": "m", "mesage": "typo"}, False),
            ([], False),
        ],
    )
    def test_trigger(self, body: Any, accepted: bool, bodies: Surface) -> None:
        sent = {**body, "dry_run": True} if isinstance(body, dict) else body
        answer = bodies.call("POST", "/api/v1/trigger", "/api/v1/trigger", json=sent)
        assert (answer.status_code == 200) is accepted, answer.text
        assert component("TriggerRequest").is_valid(body) is accepted, problems(
            component("TriggerRequest"), body
        )

    @pytest.mark.parametrize(
        ("change", "accepted"),
        [
            ({}, True),
            ({"truncatedAlerts": 0, "commonLabels": {"severity": "critical"}, "extra": [1]}, True),
            ({"version": "3"}, False),
            ({"version": 4}, False),
            ({"status": "pending"}, False),
            ({"alerts": [{"status": "firing", "labels": {}, "annotations": {}}]}, False),
            ({"alerts": [{**alert("firing", {}, "a")["alerts"][0], "labels": {"platform": 1}}]}, False),
            ({"alerts": [{**alert("firing", {}, "a")["alerts"][0], "startsAt": "yesterday"}]}, False),
            ({"alerts": [{**alert("firing", {}, "a")["alerts"][0], "fingerprint": ""}]}, False),
            ({"truncatedAlerts": -1}, False),
        ],
    )
    def test_alertmanager(self, change: dict[str, Any], accepted: bool, bodies: Surface) -> None:
        body = {**alert("firing", {"platform": "nowhere"}, "0123"), **change}
        answer = bodies.call("POST", "/api/v1/alertmanager", "/api/v1/alertmanager", json=body)
        assert (answer.status_code == 200) is accepted, answer.text
        checker = component("AlertmanagerPayload")
        assert checker.is_valid(body) is accepted, problems(checker, body)


@pytest.fixture(scope="module")
def bodies(world: tuple[Path, Config, FakeClock]) -> Iterator[Surface]:
    _path, config, clock = world
    with start_surface(config, clock) as surface:
        yield surface


@pytest.mark.slow
class TestAnswers:
    """Every answer of the tour fits the schema the document gives its route and status."""

    def test_every_answer_fits_its_documented_schema(self, toured: Surface) -> None:
        wrong = []
        for path, method, response in toured.exchanges:
            status = response.status_code
            if path is None:  # no route: Starlette's refusal, with the document's Error body
                wrong += [
                    f"{method} {response.url.path}: {p}"
                    for p in problems(component("Error"), response.json())
                ]
                continue
            found = documented_response(path, method, status)
            if found is None:
                wrong.append(f"{method} {path}: {status} is not documented")
                continue
            pointer, documented = found
            media_type = documented_media_type(
                response.headers["content-type"], documented.get("content", {})
            )
            if media_type is None:
                wrong.append(
                    f"{method} {path} {status}: {response.headers['content-type']} is not documented"
                )
                continue
            for header in documented.get("headers", {}):
                if header not in response.headers:
                    wrong.append(f"{method} {path} {status}: no {header} header")
            if media_type.startswith("application/json"):
                checker = validator(f"{pointer}/content/{_escape(media_type)}/schema")
                wrong += [f"{method} {path} {status}: {p}" for p in problems(checker, response.json())]
        assert wrong == []

    def test_the_tour_asked_every_route_for_every_documented_answer(self, toured: Surface) -> None:
        seen = {(path, method, str(response.status_code)) for path, method, response in toured.exchanges}
        documented = {
            (path, method, status)
            for path, method, operation in operations()
            for status in operation["responses"]
        }
        assert documented - seen == NOT_PROVOKED

    def test_the_served_document_is_the_shipped_one(self, toured: Surface) -> None:
        [served] = [
            r for path, _, r in toured.exchanges if path == "/api/v1/openapi.json" and r.status_code == 200
        ]
        assert served.headers["content-type"] == "application/json"
        assert served.content == openapi_document()
        shipped = Path(failover.__file__).with_name("openapi.json")
        assert served.content == shipped.read_bytes()

    def test_the_status_schema_refuses_what_the_document_does_not_describe(self, toured: Surface) -> None:
        """The validation is not vacuous: a status with a field removed, a field added, or
        an incident named by its key instead of its id does not fit."""
        [status, *_] = [r.json() for path, _, r in toured.exchanges if path == "/api/v1/status"]
        checker = component("Status")
        assert problems(checker, status) == []
        assert status["platforms"][0]["incident"] is not None
        without = {k: v for k, v in status.items() if k != "platforms"}
        added = {**status, "extra": 1}
        keyed = {**status, "platforms": [{**p, "incident": p["incident_key"]} for p in status["platforms"]]}
        untimed = {
            **status,
            "open_incidents": [{**i, "opened_at": "today"} for i in status["open_incidents"]],
        }
        for wrong in (without, added, keyed, untimed):
            assert not checker.is_valid(wrong)


# ------------------------------------------------------------------------------ one status shape


DAEMON_ONLY = ("started_at", "rounds", "last_round_at")


def shape(value: Any) -> Any:
    """The keys of ``value``, recursively (a list by the shape of its items)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return None


@pytest.mark.slow
class TestOneStatusShape:
    """``failover status --json`` and ``GET /api/v1/status`` answer the same shape, built by
    one function: the CLI reads the database, the API asks the daemon."""

    @pytest.fixture(params=["judged", "never judged"])
    def answers(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        path = write_config(tmp_path)
        config = load_config(path, env={})
        clock = FakeClock()
        if request.param == "judged":
            judge_whatsapp_down(config, clock)
        else:
            open_store(config).close()
        with start_surface(config, clock) as surface:
            # what a running daemon knows and the database does not
            daemon = surface.daemon
            daemon.started_at = clock()
            daemon.rounds = 4
            daemon.last_round_at = clock()
            daemon.achieved_interval_s.update({"whatsapp": 15.25, "telegram": 14.75})
            response = surface.client.get("/api/v1/status")
            assert response.status_code == 200
            result = CliRunner().invoke(main, ["status", "--json", "--config", str(path)])
            assert result.exit_code in {2, 3}, result.output
            yield json.loads(result.stdout), response.json()

    def test_both_fit_the_status_schema(self, answers: tuple[dict[str, Any], dict[str, Any]]) -> None:
        cli, api = answers
        assert problems(component("Status"), cli) == []
        assert problems(component("Status"), api) == []

    def test_both_carry_the_same_fields_and_values(
        self, answers: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        """Field for field, value for value, but for what only the running daemon knows,
        which the CLI gives as null."""
        cli, api = answers
        assert shape(cli) == shape(api)
        for key in DAEMON_ONLY:
            assert cli[key] is None
            assert api[key] is not None
        assert [p["achieved_interval_s"] for p in cli["platforms"]] == [None, None, None]
        assert [p["achieved_interval_s"] for p in api["platforms"]] == [15.25, None, 14.75]

        def known_to_both(status: dict[str, Any]) -> dict[str, Any]:
            platforms = [{**p, "achieved_interval_s": None} for p in status["platforms"]]
            return {**{k: v for k, v in status.items() if k not in DAEMON_ONLY}, "platforms": platforms}

        assert known_to_both(cli) == known_to_both(api)

    def test_a_platform_names_its_incident_by_the_id_resolve_takes(
        self, answers: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        cli, _api = answers
        platforms = {p["platform"]: p for p in cli["platforms"]}
        if not cli["judged"]:
            assert {p["health"] for p in platforms.values()} == {"unknown"}
            assert cli["connectivity"]["ok"] is None
            return
        whatsapp = platforms["whatsapp"]
        [incident] = cli["open_incidents"]
        assert (whatsapp["health"], whatsapp["incident"]) == ("down", incident["id"])
        assert whatsapp["incident_key"] == incident["key"]
        assert isinstance(whatsapp["incident"], int)
        assert platforms["telegram"]["incident"] is None
        assert cli["connectivity"]["ok"] is True
        assert cli["connectivity"]["controls_passing"] == cli["connectivity"]["controls_total"] == 2
        assert cli["outbox"]["pending"] == 2


class TestOneJournalShape:
    """``failover incidents --export json`` and ``GET /api/v1/incidents`` answer the same
    shape, built by one function."""

    @pytest.mark.slow
    def test_both_fit_the_journal_schema_and_agree(self, tmp_path: Path) -> None:
        path = write_config(tmp_path)
        config = load_config(path, env={})
        clock = FakeClock()
        judge_whatsapp_down(config, clock)
        with start_surface(config, clock) as surface:
            response = surface.client.get("/api/v1/incidents")
            assert response.status_code == 200
            api = response.json()
        result = CliRunner().invoke(main, ["incidents", "--export", "json", "--config", str(path)])
        assert result.exit_code == 0, result.output
        cli = json.loads(result.stdout)
        assert problems(component("Journal"), cli) == []
        assert problems(component("Journal"), api) == []
        assert len(cli["incidents"]) == 1

        def but_the_duration(journal: dict[str, Any]) -> list[dict[str, Any]]:
            # an open incident lasts up to each one's own clock: the CLI's, the daemon's
            return [{k: v for k, v in i.items() if k != "duration_s"} for i in journal["incidents"]]

        assert but_the_duration(cli) == but_the_duration(api)
