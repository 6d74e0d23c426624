"""Four eyes on manual messages (``[manual] approval = "required"``): a trigger records its
incident and notices but nothing goes out, however long after the hold, until a second
operator approves it (the operator who triggered it cannot); a rejection withdraws
everything and keeps the reason. Over real protocols: mail counted at an SMTP sink on
127.0.0.1, the CLI through click, the API over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import getpass
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from failover.api import create_app
from failover.cli import main
from failover.config import Config, load_config
from failover.domain import Approval, NoticeState
from failover.logs import get_logger
from failover.metrics import exposition_app
from failover.service import Daemon, NoticePump, find_target, open_store, plan_manual
from failover.service._http import DaemonBackend
from failover.service._trigger import record_trigger
from failover.store import ActionKind, Store
from tests.api.test_api import serving
from tests.kit import FakeClock, SmtpSink
from tests.service.test_manual import write_config

ALICE_TOKEN = "approval-token-alice-0123456789"
BOB_TOKEN = "approval-token-bob-0123456789"
RECIPIENTS = ["alice@example.org", "bob@example.org", "carol@example.org"]


def approval_config(tmp_path: Path, smtp_port: int) -> Path:
    """``tests.service.test_manual``'s three contacts, each reached by mail at the sink, with
    approval required and two named API tokens."""
    path = write_config(tmp_path, smtp_port)
    path.write_text(
        path.read_text()
        + f"""
[manual]
approval = "required"

[[daemon.api_tokens]]
name = "alice"
token = "{ALICE_TOKEN}"

[[daemon.api_tokens]]
name = "bob"
token = "{BOB_TOKEN}"
"""
    )
    return path


def run_pump(config: Config, store: Store, *, clock: FakeClock | None = None, seconds: float = 1.0) -> None:
    """A notice pump (the daemon's, as the CLI runs it too) working for ``seconds``."""

    async def pumping() -> None:
        pump = NoticePump(
            config=config,
            store=store,
            clock=clock or (lambda: datetime.now(UTC)),
            down_platforms=tuple,
            log=get_logger("failover.notices"),
        )
        async with pump:
            stop = asyncio.Event()
            task = asyncio.create_task(pump.run(stop))
            for _ in range(round(seconds / 0.05)):
                pump.wake()
                await asyncio.sleep(0.05)
            stop.set()
            await pump.drain(5.0)
            await task

    asyncio.run(pumping())


def recipients(sink: SmtpSink) -> Counter[str]:
    return Counter(address for message in sink.messages for address in message.rcpt_tos)


def as_operator(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: name)


@pytest.mark.slow
class TestCli:
    """``failover trigger`` waits for ``failover approve`` by someone else."""

    def invoke(self, path: Path, *arguments: str) -> Result:
        return CliRunner(env={"COLUMNS": "200"}).invoke(main, [*arguments, "--config", str(path)])

    def test_nothing_is_sent_until_another_operator_approves(
        self, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = approval_config(tmp_path, smtp_sink.port)
        config = load_config(path, env={})
        as_operator(monkeypatch, "claire")
        triggered = self.invoke(
            path, "trigger", "whatsapp", "-m", "Write to us by e-mail", "--hold", "1s", "--yes"
        )
        assert triggered.exit_code == 0, triggered.output
        assert "awaiting approval" in triggered.output
        assert "delivering" not in triggered.output

        with open_store(config) as store:
            [incident] = store.open_incidents()
            assert incident.approval is Approval.awaiting
            assert [n.state for n in store.notices(1)] == [NoticeState.pending] * 3
            # an hour after the hold would have passed, a pump still sends nothing
            run_pump(config, store, clock=FakeClock(datetime.now(UTC) + timedelta(hours=1)))
        assert smtp_sink.messages == []

        status = self.invoke(path, "status")
        assert "awaiting approval" in status.output
        assert "`failover approve 1`" in status.output

        own = self.invoke(path, "approve", "1", "--yes")
        assert own.exit_code == 1
        assert "claire triggered incident 1: another operator must approve it" in own.output
        assert smtp_sink.messages == []

        as_operator(monkeypatch, "dan")
        approved = self.invoke(path, "approve", "1", "--yes")
        assert approved.exit_code == 0, approved.output
        assert "Approval of incident 1" in approved.output  # the trigger's preview
        assert "Write to us by e-mail" in approved.output
        assert "held until" in approved.output  # the hold, counted from the approval
        assert "incident 1 approved; 3 notice(s) released" in approved.output
        assert "delivering from here" in approved.output
        smtp_sink.wait_for(3)
        assert recipients(smtp_sink) == Counter(RECIPIENTS)

        again = self.invoke(path, "approve", "1", "--yes")
        assert again.exit_code == 1
        assert "was approved already" in again.output
        with open_store(config) as store:
            actions = [(a.actor, a.kind) for a in store.actions([1])[1]]
            run_pump(config, store, clock=FakeClock(datetime.now(UTC) + timedelta(hours=1)))
        assert actions == [("claire", ActionKind.triggered), ("dan", ActionKind.approved)]
        assert recipients(smtp_sink) == Counter(RECIPIENTS), "each recipient is told once"

    def test_a_rejection_withdraws_everything_and_keeps_the_reason(
        self, tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = approval_config(tmp_path, smtp_sink.port)
        config = load_config(path, env={})
        as_operator(monkeypatch, "claire")
        assert self.invoke(path, "trigger", "meta", "-m", "Call 01 23 45 67 89", "--yes").exit_code == 0
        as_operator(monkeypatch, "dan")
        rejected = self.invoke(path, "reject", "1", "--reason", "Wrong number in the message")
        assert rejected.exit_code == 0, rejected.output
        assert "incident 1 rejected: 3 notice(s) withdrawn, nothing sent" in rejected.output

        with open_store(config) as store:
            incident = store.incident(1)
            assert incident is not None
            assert (incident.approval, incident.is_open) == (Approval.rejected, False)
            assert {n.state for n in store.notices(1)} == {NoticeState.cancelled}
            [_, rejection] = store.actions([1])[1]
            run_pump(config, store, clock=FakeClock(datetime.now(UTC) + timedelta(hours=1)))
        assert (rejection.actor, rejection.kind, rejection.text) == (
            "dan",
            ActionKind.rejected,
            "Wrong number in the message",
        )
        assert smtp_sink.messages == []
        late = self.invoke(path, "approve", "1", "--yes")
        assert late.exit_code == 1
        assert "rejected already" in late.output
        journal = self.invoke(path, "incidents", "--export", "json")
        assert '"approval": "rejected"' in journal.output

    def test_an_incident_that_needs_no_approval_cannot_be_approved(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, 9)
        config = load_config(path, env={})
        plan = plan_manual(config, find_target(config, "whatsapp"), message="m", now=datetime.now(UTC))
        with open_store(config) as store:
            incident = record_trigger(store, plan, update=False, via="cli", now=datetime.now(UTC)).incident
        assert incident.approval is None
        refused = self.invoke(path, "approve", str(incident.id), "--yes")
        assert refused.exit_code == 1
        assert "was never awaiting approval" in refused.output


@dataclass
class Surface:
    client: httpx.Client
    store: Store
    config: Config

    def post(self, path: str, token: str, body: object = None) -> httpx.Response:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def surface(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Surface]:
    config = load_config(approval_config(tmp_path, smtp_sink.port), env={})
    daemon = Daemon(config, reload=lambda: config, env={})
    with open_store(config) as store:
        daemon.store = store
        app = create_app(
            DaemonBackend(daemon),
            token=None,
            tokens=config.daemon.api_tokens,
            metrics=exposition_app(daemon.registry),
        )
        with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            yield Surface(client=client, store=store, config=config)


@pytest.mark.slow
class TestApi:
    """The same over HTTP: named tokens tell the operators apart."""

    def test_nothing_is_sent_until_another_operator_approves(
        self, surface: Surface, smtp_sink: SmtpSink
    ) -> None:
        body = {"target": "whatsapp", "message": "Write to us by e-mail", "hold_seconds": 1}
        triggered = surface.post("/api/v1/trigger", ALICE_TOKEN, body)
        assert triggered.status_code == 202, triggered.text
        answer = triggered.json()
        assert (answer["approval"], answer["notices"], answer["hold_until"]) == ("awaiting", 3, None)
        incident_id = answer["id"]
        later = FakeClock(datetime.now(UTC) + timedelta(hours=1))
        run_pump(surface.config, surface.store, clock=later)
        assert smtp_sink.messages == []

        own = surface.post(f"/api/v1/incidents/{incident_id}/approve", ALICE_TOKEN)
        assert own.status_code == 403
        assert own.json()[
            "error"
        ] == f"alice triggered incident {incident_id}: another operator must approve it" + (
            " (nothing sent, nothing changed)"
        )
        run_pump(surface.config, surface.store, clock=later)
        assert smtp_sink.messages == []

        approved = surface.post(f"/api/v1/incidents/{incident_id}/approve", BOB_TOKEN)
        assert approved.status_code == 200, approved.text
        assert (approved.json()["notices"], approved.json()["incident"]["approval"]) == (3, "approved")
        hold_until = datetime.fromisoformat(approved.json()["hold_until"])
        run_pump(surface.config, surface.store, seconds=0.3)
        assert smtp_sink.messages == [], "the hold, counted from the approval, still runs"
        run_pump(surface.config, surface.store, clock=FakeClock(hold_until + timedelta(seconds=1)))
        smtp_sink.wait_for(3)
        run_pump(surface.config, surface.store, clock=later)
        assert recipients(smtp_sink) == Counter(RECIPIENTS)
        actions = [(a.actor, a.kind) for a in surface.store.actions([incident_id])[incident_id]]
        assert actions == [("alice", ActionKind.triggered), ("bob", ActionKind.approved)]

    def test_a_rejection_withdraws_everything_and_keeps_the_reason(
        self, surface: Surface, smtp_sink: SmtpSink
    ) -> None:
        triggered = surface.post("/api/v1/trigger", ALICE_TOKEN, {"target": "meta", "message": "Call us"})
        incident_id = triggered.json()["id"]
        url = f"/api/v1/incidents/{incident_id}/reject"
        assert surface.post(url, BOB_TOKEN, {"reason": "  "}).status_code == 422
        rejected = surface.post(url, BOB_TOKEN, {"reason": "Not an outage: a planned change"})
        assert rejected.status_code == 200, rejected.text
        assert (rejected.json()["withdrawn"], rejected.json()["incident"]["approval"]) == (3, "rejected")
        assert surface.post(f"/api/v1/incidents/{incident_id}/approve", BOB_TOKEN).status_code == 409
        run_pump(surface.config, surface.store, clock=FakeClock(datetime.now(UTC) + timedelta(hours=1)))
        assert smtp_sink.messages == []
        [entry] = surface.client.get("/api/v1/incidents").json()["incidents"]
        assert entry["actions"][-1] | {"at": None} == {
            "at": None,
            "actor": "bob",
            "kind": "rejected",
            "text": "Not an outage: a planned change",
        }
