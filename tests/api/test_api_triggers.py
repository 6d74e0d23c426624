"""Triggers and alerts are checked like the CLI checks them: the daemon's own backend behind
the HTTP surface, over real HTTP on 127.0.0.1, with a real store.

A typo pages nobody (422 naming what is configured; an alert ignored, logged and
counted), a custom incident is asked for explicitly, and a trigger or an alert on what an
open incident already covers is attached to it (recorded in its journal) instead of
telling everyone a second time, unless the operator sends an update.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from failover.api import create_app
from failover.config import Config, load_config
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.metrics import exposition_app, render
from failover.service import Daemon, open_store
from failover.service._http import DaemonBackend
from failover.store import NOTE_PREFIX, Store
from tests.api.test_api import TOKEN, serving
from tests.kit import FakeClock
from tests.service.test_manual import NOW, judged_outage, write_config

CONFIGURED = "platforms: facebook, telegram, whatsapp; families: meta"


@dataclass
class Surface:
    """The daemon's HTTP surface with its real backend; the daemon itself is not running
    (no rounds, no delivery): what a request records is what the test reads back."""

    client: httpx.Client
    store: Store
    config: Config
    clock: FakeClock
    daemon: Daemon

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    def trigger(self, **body: Any) -> httpx.Response:
        return self.post("/api/v1/trigger", body)

    def ignored(self, reason: str) -> float:
        for family in text_string_to_metric_families(render(self.daemon.registry).decode()):
            for sample in family.samples:
                if sample.name == "failover_alerts_ignored_total" and sample.labels == {"reason": reason}:
                    return sample.value
        raise AssertionError(f"no failover_alerts_ignored_total{{reason={reason!r}}}")


@pytest.fixture
def surface(tmp_path: Path) -> Iterator[Surface]:
    config = load_config(write_config(tmp_path, 2525), env={})
    clock = FakeClock(NOW)
    daemon = Daemon(config, reload=lambda: config, env={}, clock=clock)
    with open_store(config) as store:
        daemon.store = store
        app = create_app(DaemonBackend(daemon), token=TOKEN, metrics=exposition_app(daemon.registry))
        with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            yield Surface(client=client, store=store, config=config, clock=clock, daemon=daemon)


def notes(store: Store, incident_id: int | None) -> list[str]:
    incident = store.incident(incident_id) if incident_id is not None else None
    assert incident is not None
    return [line.removeprefix(NOTE_PREFIX) for line in incident.evidence if line.startswith(NOTE_PREFIX)]


@pytest.mark.slow
class TestTriggerTargets:
    """POST /api/v1/trigger names a configured target, or asks for a custom incident."""

    # (a typo that is not part of a configured name: the answer names those)
    @pytest.mark.parametrize("target", ["whatapp", "phones"])
    def test_an_unknown_target_is_a_422_naming_what_is_configured(
        self, surface: Surface, target: str
    ) -> None:
        response = surface.trigger(target=target, message="Write to us by e-mail")
        assert response.status_code == 422
        answer = response.json()
        assert answer["error"] == "unknown target"
        [problem] = answer["detail"]
        assert problem.startswith("target: not a configured platform or family")
        assert CONFIGURED in problem
        assert '"custom": true' in problem
        assert target not in response.text, "an answer never echoes what was sent"
        assert surface.store.incidents() == []

    def test_a_custom_incident_needs_the_flag_and_a_name(self, surface: Surface) -> None:
        response = surface.trigger(custom=True, name="phones", message="Our phone lines are down")
        assert response.status_code == 202, response.text
        answer = response.json()
        assert (answer["action"], answer["notices"]) == ("opened", 3)
        incident = surface.store.incident(answer["id"])
        assert incident is not None
        assert (incident.scope, incident.kind, incident.name) == (
            IncidentScope.custom,
            IncidentKind.manual,
            "phones",
        )
        assert incident.message == "Our phone lines are down"

    def test_a_custom_incident_cannot_take_a_platforms_name(self, surface: Surface) -> None:
        response = surface.trigger(custom=True, name="whatsapp", message="m")
        assert response.status_code == 422
        assert response.json()["detail"] == [
            'name: a configured platform or family; send it as "target", without "custom"'
        ]
        assert surface.store.incidents() == []

    @pytest.mark.parametrize("message", [None, "", "   "])
    def test_the_message_is_required(self, surface: Surface, message: str | None) -> None:
        body = {"target": "whatsapp"} | ({"message": message} if message is not None else {})
        response = surface.post("/api/v1/trigger", body)
        assert response.status_code == 422
        assert response.json()["detail"][0].startswith("message: ")
        assert surface.store.incidents() == []

    def test_an_unknown_group_is_a_422(self, surface: Surface) -> None:
        response = surface.trigger(target="meta", message="m", groups=["boardd"])
        assert response.status_code == 422
        assert surface.store.incidents() == []


@pytest.mark.slow
class TestTriggerOnACoveredTarget:
    """A platform the judge confirmed already told everyone: a trigger is attached to its
    incident, and only an explicit update sends the operator's message."""

    def test_the_dry_run_shows_the_incident_that_already_told_everyone(self, surface: Surface) -> None:
        incident = judged_outage(surface.store, surface.config)
        response = surface.trigger(target="whatsapp", message="Call 01 23 45 67 89", dry_run=True)
        assert response.status_code == 200
        answer = response.json()
        assert answer["action"] == "attached"
        covered_by = answer["covered_by"]
        assert (covered_by["id"], covered_by["kind"], covered_by["notified"], covered_by["waiting"]) == (
            incident.id,
            "unreachable",
            3,
            0,
        )
        assert covered_by["notified_at"] == (NOW + timedelta(seconds=3)).isoformat()
        # the preview is what an update would send: the operator's words, about whatsapp
        texts = answer["preview"]["texts"]
        assert answer["preview"]["recipients"] == 3
        assert all("Call 01 23 45 67 89" in text["body"] for text in texts)
        assert len(surface.store.notices(incident.id or 0)) == 3, "a dry run records nothing"
        assert notes(surface.store, incident.id) == []

    def test_a_trigger_is_attached_and_sends_nothing(self, surface: Surface) -> None:
        incident = judged_outage(surface.store, surface.config)
        surface.clock.advance(60)
        response = surface.trigger(target="whatsapp", message="Call us")
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["action"], answer["attached_to"], answer["notices"]) == ("attached", incident.id, 0)
        assert [i.id for i in surface.store.open_incidents()] == [incident.id]
        assert len(surface.store.notices(incident.id or 0)) == 3
        assert notes(surface.store, incident.id) == [
            "trigger via api at 2026-10-04 15:41:00 UTC attached: nothing sent"
        ]

    def test_a_family_incident_covers_a_trigger_on_a_member(self, surface: Surface) -> None:
        incident = judged_outage(
            surface.store,
            surface.config,
            name="meta",
            scope=IncidentScope.family,
            platforms=("whatsapp", "facebook"),
        )
        response = surface.trigger(target="facebook", message="m")
        assert response.json()["attached_to"] == incident.id

    def test_an_update_sends_the_message_as_part_of_the_incident(self, surface: Surface) -> None:
        incident = judged_outage(surface.store, surface.config)
        response = surface.trigger(target="whatsapp", message="Call us", update=True, hold_seconds=30)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert (answer["action"], answer["id"], answer["notices"]) == ("updated", incident.id, 3)
        assert answer["hold_until"] == (NOW + timedelta(seconds=30)).isoformat()
        updates = [n for n in surface.store.notices(incident.id or 0) if n.event is IncidentEvent.manual]
        assert [(n.state, n.message, n.not_before) for n in updates] == [
            (NoticeState.pending, "Call us", NOW + timedelta(seconds=30))
        ] * 3
        assert len(surface.store.open_incidents()) == 1
        assert notes(surface.store, incident.id) == [
            "update via api at 2026-10-04 15:40:00 UTC: 3 notice(s) queued"
        ]

    def test_an_update_of_nothing_is_a_422(self, surface: Surface) -> None:
        response = surface.trigger(target="whatsapp", message="m", update=True)
        assert response.status_code == 422
        assert response.json()["detail"] == ["update: no open incident covers whatsapp"]
        assert surface.store.incidents() == []

    def test_a_second_manual_trigger_is_attached_to_the_first(self, surface: Surface) -> None:
        first = surface.trigger(custom=True, name="phones", message="Lines down").json()
        surface.clock.advance(5)
        second = surface.trigger(custom=True, name="phones", message="Lines still down")
        assert second.status_code == 200
        assert second.json()["attached_to"] == first["id"]
        assert len(surface.store.incidents()) == 1

    def test_a_suspicion_does_not_cover(self, surface: Surface) -> None:
        """Until the judge confirms, it has told nobody: the trigger opens its own incident."""
        judged_outage(surface.store, surface.config, confirmed=False)
        response = surface.trigger(target="whatsapp", message="m")
        assert response.status_code == 202
        assert response.json()["action"] == "opened"


def alert(
    labels: dict[str, str], *, status: str = "firing", fingerprint: str = "a1b2c3d4e5f60718"
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "GatewayDown", **labels},
        "annotations": {"summary": "The WhatsApp Business gateway is down"},
        "startsAt": "2026-10-04T15:39:30Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-10-04T16:10:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing"
    return {"version": "4", "status": status, "receiver": "failover", "alerts": list(alerts)}


@pytest.mark.slow
class TestAlertmanagerTargets:
    """An alert that names nothing configured is ignored, logged and counted."""

    @pytest.mark.parametrize(
        ("labels", "reason", "label"),
        [
            ({"platform": "whatapp"}, "unknown_target", "platform"),
            ({"family": "meat"}, "unknown_target", "family"),
            ({"failover_target": "phones"}, "unknown_target", "failover_target"),
            ({"failover_custom": "not a name!"}, "invalid_target", "failover_custom"),
            ({"severity": "critical"}, "no_target", None),
        ],
    )
    def test_an_alert_naming_nothing_known_is_ignored_logged_and_counted(
        self, surface: Surface, labels: dict[str, str], reason: str, label: str | None
    ) -> None:
        with structlog.testing.capture_logs() as logs:
            response = surface.post("/api/v1/alertmanager", webhook(alert(labels)))
        assert response.status_code == 200
        assert response.json() == {"opened": [], "resolved": [], "attached": [], "ignored": 1}
        assert surface.store.incidents() == []
        assert surface.ignored(reason) == 1
        [line] = [entry for entry in logs if entry["event"] == "alert_ignored"]
        assert (line["reason"], line["label"], line["alertname"], line["fingerprint"]) == (
            reason,
            label,
            "GatewayDown",
            "a1b2c3d4e5f60718",
        )
        assert line["configured"] == CONFIGURED
        for value in labels.values():
            assert value not in str(line), "a label's value is free text: never logged"

    def test_an_alert_whose_summary_may_not_go_public_is_ignored_and_counted(self, tmp_path: Path) -> None:
        """A phone number in the summary, bound for a public channel: nothing is opened,
        and the webhook answers 200 (a 500 would only make Alertmanager send it again)."""
        path = write_config(tmp_path, 2525)
        path.write_text(
            path.read_text()
            + """
[channels.announce]
url = "mastodon://s3cr3t-token@127.0.0.1:9/"
visibility = "public"
depends_on = []
language = "fr"

[[routes]]
name = "public"
template = "manual-public"
events = ["manual"]
channels = ["announce"]
"""
        )
        config = load_config(path, env={})
        daemon = Daemon(config, reload=lambda: config, env={}, clock=FakeClock(NOW))
        with open_store(config) as store:
            daemon.store = store
            app = create_app(DaemonBackend(daemon), token=TOKEN, metrics=exposition_app(daemon.registry))
            with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
                surface = Surface(
                    client=client, store=store, config=config, clock=FakeClock(NOW), daemon=daemon
                )
                leaky = alert({"platform": "telegram"}) | {
                    "annotations": {"summary": "Call Bob on +33 6 12 34 56 78"}
                }
                with structlog.testing.capture_logs() as logs:
                    response = surface.post("/api/v1/alertmanager", webhook(leaky))
                assert response.status_code == 200
                assert response.json()["opened"] == []
                assert store.incidents() == []
                assert surface.ignored("refused_message") == 1
                [line] = [entry for entry in logs if entry["event"] == "alert_ignored"]
                assert "a phone number" in line["problem"]
                assert "12 34 56 78" not in str(line)

                fine = alert({"platform": "telegram"}, fingerprint="ff01")
                assert len(surface.post("/api/v1/alertmanager", webhook(fine)).json()["opened"]) == 1

    def test_a_custom_alert_opens_a_custom_incident(self, surface: Surface) -> None:
        response = surface.post("/api/v1/alertmanager", webhook(alert({"failover_custom": "phones"})))
        [incident_id] = response.json()["opened"]
        incident = surface.store.incident(incident_id)
        assert incident is not None
        assert (incident.scope, incident.name) == (IncidentScope.custom, "phones")
        assert surface.ignored("unknown_target") == 0

    def test_a_platform_label_naming_a_family_means_the_family(self, surface: Surface) -> None:
        response = surface.post("/api/v1/alertmanager", webhook(alert({"platform": "meta"})))
        [incident_id] = response.json()["opened"]
        incident = surface.store.incident(incident_id)
        assert incident is not None
        assert (incident.scope, incident.platforms) == (IncidentScope.family, ("whatsapp", "facebook"))


@pytest.mark.slow
class TestAlertmanagerOnACoveredTarget:
    """An alert on what the judge already confirmed is recorded, not told twice."""

    def test_the_alert_is_attached_once_and_its_resolution_noted(self, surface: Surface) -> None:
        incident = judged_outage(surface.store, surface.config)
        firing = webhook(alert({"platform": "whatsapp"}))
        response = surface.post("/api/v1/alertmanager", firing)
        assert response.json() == {"opened": [], "resolved": [], "attached": [incident.id], "ignored": 0}
        reference = (
            "Alertmanager alert GatewayDown (fingerprint a1b2c3d4e5f60718, "
            "firing since 2026-10-04 15:39:30 UTC)"
        )
        assert notes(surface.store, incident.id) == [f"{reference} attached: nothing sent"]

        # Alertmanager repeats a firing alert: nothing more is recorded, nothing is opened
        again = surface.post("/api/v1/alertmanager", firing)
        assert again.json() == {"opened": [], "resolved": [], "attached": [], "ignored": 0}
        assert len(surface.store.incidents()) == 1
        assert len(surface.store.notices(incident.id or 0)) == 3

        resolved = surface.post(
            "/api/v1/alertmanager", webhook(alert({"platform": "whatsapp"}, status="resolved"))
        )
        assert resolved.json()["resolved"] == []
        assert notes(surface.store, incident.id)[-1] == f"{reference} resolved at 2026-10-04 16:10:00 UTC"
        [stored] = surface.store.open_incidents()
        assert stored.id == incident.id, "the judge resolves its own incident"

    def test_an_alert_still_firing_after_the_incident_ends_opens_nothing(self, surface: Surface) -> None:
        """Attached to the judge's incident, then the judge resolved it: the same firing,
        repeated, is the same news, not a new outage."""
        incident = judged_outage(surface.store, surface.config)
        firing = webhook(alert({"platform": "whatsapp"}))
        surface.post("/api/v1/alertmanager", firing)
        assert incident.id is not None
        surface.store.record_decision(
            at=NOW + timedelta(hours=1),
            incident_events=[(IncidentEvent.resolved, resolved_copy(incident, NOW + timedelta(hours=1)))],
        )
        assert surface.store.open_incidents() == []
        again = surface.post("/api/v1/alertmanager", firing)
        assert again.json()["opened"] == []
        assert surface.store.open_incidents() == []
        assert notes(surface.store, incident.id)[0].endswith("attached: nothing sent"), (
            "the note outlived the judge's rewrite"
        )

    def test_an_alert_on_what_nothing_covers_opens_an_incident_then_resolves_it(
        self, surface: Surface
    ) -> None:
        firing = surface.post("/api/v1/alertmanager", webhook(alert({"platform": "telegram"})))
        [incident_id] = firing.json()["opened"]
        assert len(surface.store.notices(incident_id)) == 3
        for notice in surface.store.claim_notices(now=NOW):
            surface.store.mark_notice(notice.id, NoticeState.sent, now=NOW)
        # a second alert on the same platform is attached to the first one's incident
        other = surface.post(
            "/api/v1/alertmanager", webhook(alert({"platform": "telegram"}, fingerprint="ff00"))
        )
        assert other.json()["attached"] == [incident_id]
        resolved = surface.post(
            "/api/v1/alertmanager", webhook(alert({"platform": "telegram"}, status="resolved"))
        )
        assert resolved.json()["resolved"] == [incident_id]
        recoveries = [n for n in surface.store.notices(incident_id) if n.event is IncidentEvent.resolved]
        assert len(recoveries) == 3


def resolved_copy(incident: Incident, at: datetime) -> Incident:
    """The judge's own copy of its incident (without notes), resolved at ``at``."""
    return replace(incident, id=None, evidence=("authoritative DNS timed out",), resolved_at=at)
