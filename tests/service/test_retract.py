"""Retract and correct: an incident whose notices went out by mistake is retracted. Each
recipient told gets exactly one correction, on the channel and in the language they were
told in; the Mastodon status it posted is deleted; what was still queued is withdrawn and
never sent; nothing more goes out about it, not even a recovery; the journal keeps who
retracted it and why, and says which post must be deleted by hand.

Over real protocols on 127.0.0.1: mail counted at an SMTP sink (aiosmtpd), statuses
posted to and deleted from a fake Mastodon API, the CLI through click, the API over HTTP.
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner, Result

from failover.api import create_app
from failover.cli import main
from failover.config import Config, load_config
from failover.domain import IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.logs import get_logger
from failover.metrics import exposition_app
from failover.notify import SetAsideReason
from failover.service import Daemon, NoticePump, find_target, open_store, plan_manual, plan_notices
from failover.service._claimed import correction_channel
from failover.service._http import DaemonBackend
from failover.service._manual_target import find_coverage
from failover.service._retract import AlreadyRetractedError, retract_incident
from failover.service._trigger import record_trigger
from failover.store import ActionKind, DeliveryOutcome, Notice, Store
from tests.api.test_api import serving
from tests.kit import FakeClock, FakeMastodon, ReceivedMessage, SmtpSink
from tests.service.test_manual import write_config

#: an operator's named API token (``dora``: no contact has that name)
DORA_TOKEN = "retract-token-dora-0123456789"
#: who was told by mail, and in which language (tests.service.test_manual's contacts)
LANGUAGES = {"alice@example.org": "fr", "bob@example.org": "en", "carol@example.org": "en"}
#: one message for each of them
ONCE_EACH = Counter(list(LANGUAGES))
OPERATOR = "claire"
CORRECTION_SUBJECTS = {"fr": "Rectificatif : whatsapp", "en": "Correction: whatsapp"}


def retract_config(tmp_path: Path, smtp_port: int, mastodon: FakeMastodon) -> Path:
    """``tests.service.test_manual``'s three contacts (Alice fr, Bob and Carol en), each reached by
    mail at the sink, a public Mastodon channel posting in French, and a named API token."""
    path = write_config(tmp_path, smtp_port)
    port = urlsplit(mastodon.url).port
    path.write_text(
        path.read_text()
        + f"""
[channels.announce]
url = "mastodon://s3cr3t-token@127.0.0.1:{port}/"
visibility = "public"
depends_on = []
language = "fr"

[[routes]]
name = "public"
template = "manual-public"
events = ["manual", "resolved"]
channels = ["announce"]

[[daemon.api_tokens]]
name = "dora"
token = "{DORA_TOKEN}"
"""
    )
    return path


def invoke(path: Path, *arguments: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(main, [*arguments, "--config", str(path)])


def wait_until(condition: Callable[[], bool], *, cap_s: float = 30.0) -> None:
    """Wait for ``condition``, checking often, for at most a generous ``cap_s``."""
    deadline = time.monotonic() + cap_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


def pump_until(
    config: Config, store: Store, done: Callable[[], bool], *, clock: Callable[[], datetime] | None = None
) -> None:
    """A notice pump (the daemon's, as the CLI runs it too) working until ``done()``, for
    at most a generous cap."""

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
            deadline = time.monotonic() + 30.0
            while not await asyncio.to_thread(done):
                assert time.monotonic() < deadline, "the pump never got there"
                pump.wake()
                await asyncio.sleep(0.05)
            stop.set()
            await pump.drain(5.0)
            await task

    asyncio.run(pumping())


def settled(store: Store, incident_id: int) -> Callable[[], bool]:
    """Whether every notice of the incident has ended (none pending or being sent)."""
    return lambda: all(
        n.state not in (NoticeState.pending, NoticeState.sending) for n in store.notices(incident_id)
    )


def text_of(message: ReceivedMessage) -> str:
    return f"{message.message['Subject']}\n{message.message.get_content()}"


def corrections(sink: SmtpSink) -> list[ReceivedMessage]:
    return [m for m in sink.messages if str(m.message["Subject"]).startswith(("Correction", "Rectificatif"))]


def as_operator(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: name)


@dataclass
class World:
    path: Path
    config: Config
    sink: SmtpSink
    mastodon: FakeMastodon


@pytest.fixture
def world(tmp_path: Path, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    as_operator(monkeypatch, OPERATOR)
    with FakeMastodon(token="s3cr3t-token") as mastodon:
        path = retract_config(tmp_path, smtp_sink.port, mastodon)
        yield World(path=path, config=load_config(path, env={}), sink=smtp_sink, mastodon=mastodon)


def told_of_whatsapp(world: World) -> str:
    """``failover trigger whatsapp`` delivered from the CLI (no daemon runs): three mails
    and one public status. Returns the status's id."""
    triggered = invoke(world.path, "trigger", "whatsapp", "-m", "WhatsApp est en panne", "--yes")
    assert triggered.exit_code == 0, triggered.output
    world.sink.wait_for(3)
    [status_id] = world.mastodon.posted
    return status_id


@pytest.mark.slow
class TestCli:
    """``failover retract ID --reason TEXT`` corrects what a mistaken incident sent."""

    def test_one_correction_per_recipient_and_the_status_deleted(self, world: World) -> None:
        status_id = told_of_whatsapp(world)
        with open_store(world.config) as store:
            [post] = [n for n in store.notices(1) if n.contact_ref == "channels.announce"]
            assert post.public_ref == status_id, "the status's id is kept on its notice"

        retracted = invoke(
            world.path, "retract", "1", "--reason", "Wrong platform: the phones are down", "--yes"
        )
        assert retracted.exit_code == 0, retracted.output
        assert "Retraction of incident 1" in retracted.output  # the preview
        assert "incident 1 retracted: 0 notice(s) withdrawn, 4 correction(s) queued" in retracted.output
        assert "public post on channels.announce (mastodon): deleted" in retracted.output
        assert "delivering from here" in retracted.output

        world.sink.wait_for(6)
        fixed = corrections(world.sink)
        assert Counter(m.rcpt_tos[0] for m in fixed) == ONCE_EACH, "exactly one each"
        for message in fixed:
            language = LANGUAGES[message.rcpt_tos[0]]
            assert message.message["Subject"] == CORRECTION_SUBJECTS[language]
            assert message.message["Content-Language"] == language
            assert "WhatsApp est en panne" not in text_of(message), "never the retracted words"
        # the status deleted at the fake, with the channel's token; the correction posted publicly
        assert world.mastodon.deleted == [status_id]
        assert status_id not in world.mastodon.posted
        [deletion] = [r for r in world.mastodon.received if r.method == "DELETE"]
        assert deletion.path == f"/api/v1/statuses/{status_id}"
        [public_correction] = world.mastodon.posted.values()
        assert public_correction["content"].startswith("<p>Rectificatif : whatsapp")
        assert public_correction["visibility"] == "public"
        # no operator's name in any notice or post
        for message in world.sink.messages:
            assert OPERATOR not in text_of(message)
        for status in world.mastodon.statuses:
            assert OPERATOR not in status["status"]

        # the journal, in every export
        markdown = invoke(world.path, "incidents", "--export", "markdown").output
        assert f"— {OPERATOR} — retracted (corrections sent): Wrong platform: the phones are down" in markdown
        assert "retraction: public post deleted on channels.announce (mastodon)" in markdown
        french = invoke(world.path, "incidents", "--export", "markdown", "--language", "fr").output
        assert "retrait (rectificatifs envoyés)" in french
        [row] = csv.DictReader(io.StringIO(invoke(world.path, "incidents", "--export", "csv").output))
        assert f" {OPERATOR} retracted: Wrong platform: the phones are down" in row["actions"]
        [entry] = json.loads(invoke(world.path, "incidents", "--export", "json").output)["incidents"]
        assert entry["retracted_at"] is not None
        assert entry["resolved_at"] is not None
        kinds = [(a["actor"], a["kind"]) for a in entry["actions"]]
        assert kinds == [(OPERATOR, "triggered"), (OPERATOR, "retracted"), (OPERATOR, "note")]

        # once; and nothing more about it, not even a recovery
        again = invoke(world.path, "retract", "1", "--reason", "again", "--yes")
        assert again.exit_code == 1
        assert "incident 1 was retracted already" in again.output
        resolved = invoke(world.path, "resolve", "1")
        assert "was already resolved" in resolved.output
        with open_store(world.config) as store:
            pump_until(world.config, store, settled(store, 1))
        assert len(world.sink.messages) == 6
        assert len(world.mastodon.statuses) == 2

    def test_queued_notices_are_withdrawn_and_never_sent(self, world: World) -> None:
        """Told once, then an update held for an hour: the update is withdrawn, never sent,
        and the recipients get one correction each."""
        told_of_whatsapp(world)
        with open_store(world.config) as store:
            target = find_target(world.config, "whatsapp")
            update = plan_manual(
                world.config,
                target,
                message="Appelez le 01 23 45 67 89",
                now=datetime.now(UTC),
                groups=("team",),
                hold=timedelta(hours=1),
                covered_by=find_coverage(store, target),
            )
            record_trigger(store, update, update=True, via="cli", now=datetime.now(UTC), actor="dan")
        retracted = invoke(world.path, "retract", "1", "--reason", "Sent by mistake", "--yes")
        assert retracted.exit_code == 0, retracted.output
        assert "2 notice(s) not yet sent will be withdrawn: never sent" in retracted.output
        assert "incident 1 retracted: 2 notice(s) withdrawn, 4 correction(s) queued" in retracted.output
        world.sink.wait_for(6)
        with open_store(world.config) as store:
            held = [n for n in store.notices(1) if "/update/" in n.event_key]
            assert [n.state for n in held] == [NoticeState.cancelled] * 2
            # hours later, a pump still sends none of them
            pump_until(
                world.config,
                store,
                settled(store, 1),
                clock=FakeClock(datetime.now(UTC) + timedelta(hours=2)),
            )
        assert Counter(m.rcpt_tos[0] for m in corrections(world.sink)) == ONCE_EACH
        assert not any("01 23 45 67 89" in text_of(m) for m in world.sink.messages)
        assert len(world.sink.messages) == 6

    def test_a_retraction_within_the_hold_sends_nothing(self, world: World) -> None:
        plan = plan_manual(
            world.config,
            find_target(world.config, "telegram"),
            message="m",
            now=datetime.now(UTC),
            hold=timedelta(hours=1),
        )
        with open_store(world.config) as store:
            record_trigger(store, plan, update=False, via="cli", now=datetime.now(UTC), actor=OPERATOR)
        retracted = invoke(world.path, "retract", "1", "--reason", "Wrong button", "--yes")
        assert retracted.exit_code == 0, retracted.output
        assert "no notice of it reached anyone: there is nothing to correct" in retracted.output
        assert "incident 1 retracted: 4 notice(s) withdrawn, 0 correction(s) queued" in retracted.output
        with open_store(world.config) as store:
            assert {n.state for n in store.notices(1)} == {NoticeState.cancelled}
        assert world.sink.messages == []
        assert world.mastodon.received == []

    @pytest.mark.parametrize("code", [500, 404])
    def test_a_deletion_that_fails_is_noted_in_the_journal(self, world: World, code: int) -> None:
        status_id = told_of_whatsapp(world)
        if code == 404:
            world.mastodon.posted.clear()  # deleted by hand meanwhile
        else:
            world.mastodon.fail_deletions(code)
        retracted = invoke(world.path, "retract", "1", "--reason", "Wrong platform", "--yes", "--json")
        assert retracted.exit_code == 0, retracted.output
        answer = json.loads(retracted.stdout)
        assert answer["posts"] == [
            {
                "channel": "channels.announce",
                "scheme": "mastodon",
                "deleted": False,
                "reason": f"mastodon: HTTP {code}",
            }
        ]
        assert answer["delivery"] == {"sent": 4}  # no daemon: delivered from the command
        assert world.mastodon.deleted == []
        assert (status_id in world.mastodon.posted) is (code == 500)
        with open_store(world.config) as store:
            notes = [a.text for a in store.actions([1])[1] if a.kind is ActionKind.note]
        assert notes == [
            f"retraction: public post on channels.announce (mastodon) not deleted (mastodon: HTTP {code}): "
            "delete it by hand"
        ]
        for note in notes:
            assert "s3cr3t" not in note
            assert "127.0.0.1" not in note

    def test_your_words_in_each_language(self, world: World) -> None:
        told_of_whatsapp(world)
        retracted = invoke(
            world.path,
            "retract",
            "1",
            "--reason",
            "Wrong platform",
            "--message-fr",
            "WhatsApp fonctionne.",
            "--message-en",
            "WhatsApp works.",
            "--yes",
        )
        assert retracted.exit_code == 0, retracted.output
        world.sink.wait_for(6)
        for message in corrections(world.sink):
            words = "WhatsApp fonctionne." if LANGUAGES[message.rcpt_tos[0]] == "fr" else "WhatsApp works."
            assert words in text_of(message)
        [public_correction] = world.mastodon.posted.values()
        assert "WhatsApp fonctionne." in public_correction["content"]

    def test_refusals(self, world: World) -> None:
        told_of_whatsapp(world)
        unknown = invoke(world.path, "retract", "42", "--reason", "x", "--yes")
        assert (unknown.exit_code, "no incident 42" in unknown.output) == (1, True)
        blank = invoke(world.path, "retract", "1", "--reason", " ", "--yes")
        assert blank.exit_code == 1
        assert "--reason must not be blank" in blank.output
        german = invoke(world.path, "retract", "1", "--reason", "x", "--message-de", "Hallo", "--yes")
        assert german.exit_code == 3, german.output
        assert "no message can be written in 'de'" in german.output
        leaky = invoke(
            world.path, "retract", "1", "--reason", "x", "-m", "Call Bob on +33 6 12 34 56 78", "--yes"
        )
        assert leaky.exit_code == 1
        assert "message: the correction goes to the public channels" in leaky.output
        no_reason = invoke(world.path, "retract", "1", "--yes")
        assert no_reason.exit_code != 0
        with open_store(world.config) as store:
            incident = store.incident(1)
            assert incident is not None
            assert incident.retracted_at is None, "nothing refused changed anything"
        assert len(world.sink.messages) == 3


@dataclass
class Surface:
    client: httpx.Client
    store: Store
    config: Config

    def post(self, path: str, body: object = None, token: str = DORA_TOKEN) -> httpx.Response:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def surface(world: World) -> Iterator[Surface]:
    config = world.config
    daemon = Daemon(config, reload=lambda: config, env={})
    with open_store(config) as store:
        daemon.store = store
        app = create_app(
            DaemonBackend(daemon),
            token=None,
            tokens=config.daemon.api_tokens,
            metrics=exposition_app(daemon.registry),
        )
        with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
            yield Surface(client=client, store=store, config=config)


class TestApi:
    """``POST /api/v1/incidents/{id}/retract``: the same, by the token's operator."""

    @pytest.mark.slow
    def test_the_route_retracts_and_refuses_bad_input(self, surface: Surface, world: World) -> None:
        triggered = surface.post(
            "/api/v1/trigger", {"target": "whatsapp", "message": "WhatsApp est en panne"}
        )
        assert triggered.status_code == 202, triggered.text
        incident_id = triggered.json()["id"]
        pump_until(surface.config, surface.store, settled(surface.store, incident_id))
        assert len(world.sink.messages) == 3
        [status_id] = world.mastodon.posted
        url = f"/api/v1/incidents/{incident_id}/retract"

        refusals = {
            "reason": surface.post(url, {"reason": "  "}),
            "messages.de": surface.post(url, {"reason": "x", "messages": {"de": "Hallo"}}),
            "message": surface.post(url, {"reason": "x", "message": "Call Bob on +33 6 12 34 56 78"}),
            "author": surface.post(url, {"reason": "x", "author": "someone"}),
        }
        for field, answer in refusals.items():
            assert answer.status_code == 422, (field, answer.text)
            assert any(
                problem.startswith(f"{field}:") or problem == field for problem in answer.json()["detail"]
            ), (
                field,
                answer.json(),
            )
        assert surface.post(url, {"reason": "x"}, token="wrong").status_code == 401
        assert surface.post("/api/v1/incidents/999999/retract", {"reason": "x"}).status_code == 404

        retracted = surface.post(url, {"reason": "Wrong platform", "message": "Sorry: all is well."})
        assert retracted.status_code == 200, retracted.text
        answer = retracted.json()
        assert (answer["retracted"], answer["withdrawn"], answer["corrections"]) == (True, 0, 4)
        assert answer["posts"] == [
            {"channel": "channels.announce", "scheme": "mastodon", "deleted": True, "reason": ""}
        ]
        assert answer["incident"]["retracted_at"] is not None
        assert world.mastodon.deleted == [status_id]
        assert surface.post(url, {"reason": "again"}).status_code == 409

        pump_until(surface.config, surface.store, settled(surface.store, incident_id))
        fixed = corrections(world.sink)
        assert Counter(m.rcpt_tos[0] for m in fixed) == ONCE_EACH
        assert all("Sorry: all is well." in text_of(m) for m in fixed)
        assert not any("dora" in text_of(m).lower() for m in world.sink.messages)
        assert not any("dora" in status["status"].lower() for status in world.mastodon.statuses)
        [action] = [
            a for a in surface.store.actions([incident_id])[incident_id] if a.kind is ActionKind.retracted
        ]
        assert (action.actor, action.text) == ("dora", "Wrong platform")


@pytest.mark.slow
class TestWhatStaysCorrected:
    """A retracted incident sends nothing more but its corrections."""

    def test_a_judged_incident_retracted_sends_no_recovery(self, world: World) -> None:
        """The judge cried wolf: its outage notice is corrected, and the recovery it queues
        when the platform 'recovers' is set aside, never sent."""
        config = world.config
        now = datetime.now(UTC)
        judged = replace(
            plan_manual(config, find_target(config, "telegram"), message="m", now=now).incident,
            key="judge:telegram",
            kind=IncidentKind.unreachable,
            message="",
            scope=IncidentScope.platform,
        )
        with open_store(config) as store:
            drafts = plan_notices(config, [(IncidentEvent.confirmed, judged)], now=now)
            [stored] = store.record_decision(
                at=now, incident_events=[(IncidentEvent.confirmed, judged)], notices=drafts
            )
            assert stored.id is not None
            pump_until(config, store, settled(store, stored.id))
            world.sink.wait_for(3)
            outcome = retract_incident(
                store, config, stored.id, actor=OPERATOR, reason="Our own network", now=now
            )
            assert outcome.corrections == 3  # the mails; the public route sends no outage
            with pytest.raises(AlreadyRetractedError):
                retract_incident(store, config, stored.id, actor="dan", reason="again", now=now)
            recovered = replace(judged, resolved_at=now + timedelta(minutes=5))
            store.record_decision(
                at=now,
                incident_events=[(IncidentEvent.resolved, recovered)],
                notices=plan_notices(config, [(IncidentEvent.resolved, recovered)], now=now),
            )
            pump_until(config, store, settled(store, stored.id))
            recoveries = [n for n in store.notices(stored.id) if n.event is IncidentEvent.resolved]
        assert len(recoveries) == 4
        assert {(n.state, n.last_error) for n in recoveries} == {
            (NoticeState.skipped, "the incident was retracted: only its corrections go out")
        }
        assert Counter(m.rcpt_tos[0] for m in corrections(world.sink)) == ONCE_EACH
        assert len(world.sink.messages) == 6

    def test_a_correction_waits_for_a_notice_in_flight(self, world: World) -> None:
        """Retracted while Bob's notice was being sent: his correction waits, and goes out
        (on that notice's channel) once his notice went out; Carol's, whose notice failed,
        never does."""
        config = world.config
        now = datetime.now(UTC)
        plan = plan_manual(
            config, find_target(config, "telegram"), message="m", now=now, groups=("team", "board")
        )
        with open_store(config) as store:
            record = record_trigger(store, plan, update=False, via="cli", now=now, actor=OPERATOR)
            incident_id = record.incident.id
            assert incident_id is not None
            claimed = {n.contact_ref: n for n in store.claim_notices(now=now, limit=10, holder="elsewhere")}
            alice, bob, carol = claimed["alice"], claimed["bob"], claimed["carol"]
            store.record_delivery(
                alice.id, at=now, channel_ref="contacts[alice].channels[0]", outcome=DeliveryOutcome.sent
            )
            store.mark_notice(alice.id, NoticeState.sent, now=now, holder="elsewhere")
            outcome = retract_incident(store, config, incident_id, actor=OPERATOR, reason="Mistake", now=now)
            assert outcome.corrections == 3  # Alice, told; Bob and Carol, being told

            def alice_corrected() -> bool:
                return all(
                    n.state is NoticeState.sent
                    for n in store.notices(incident_id)
                    if n.event is IncidentEvent.retracted and n.contact_ref == "alice"
                )

            pump_until(config, store, alice_corrected)
            world.sink.wait_for(1)
            assert [m.rcpt_tos[0] for m in world.sink.messages] == ["alice@example.org"]
            bob_correction = [
                n
                for n in store.notices(incident_id)
                if n.event is IncidentEvent.retracted and n.contact_ref == "bob"
            ]
            assert [n.state for n in bob_correction] == [NoticeState.pending], "it waits for Bob's notice"
            # Bob's notice goes out after all, Carol's fails
            store.record_delivery(
                bob.id, at=now, channel_ref="contacts[bob].channels[0]", outcome=DeliveryOutcome.sent
            )
            store.mark_notice(bob.id, NoticeState.sent, now=now, holder="elsewhere")
            store.mark_notice(carol.id, NoticeState.failed, now=now, holder="elsewhere", error="refused")
            pump_until(config, store, settled(store, incident_id))
            states = {
                n.contact_ref: (n.state, n.last_error)
                for n in store.notices(incident_id)
                if n.event is IncidentEvent.retracted
            }
        assert Counter(m.rcpt_tos[0] for m in corrections(world.sink)) == Counter(
            {"alice@example.org": 1, "bob@example.org": 1}
        )
        assert states["bob"][0] is NoticeState.sent
        assert states["carol"] == (
            NoticeState.skipped,
            "no notice of the retracted incident reached this recipient: nothing to correct",
        )
        assert SetAsideReason.nothing_to_correct.value == "nothing_to_correct"


def test_correction_channel_is_the_first_channel_a_notice_went_through() -> None:
    """Pure: the channel of the recipient's first notice sent; wait while one is in flight."""
    now = datetime.now(UTC)

    def notice(id_: int, state: NoticeState, channel: str | None, sent_at: datetime | None) -> Notice:
        return Notice(
            id=id_,
            incident_id=1,
            incident_key="k",
            event=IncidentEvent.manual,
            event_key=f"k/{id_}",
            contact_ref="bob",
            channel_ref=channel,
            template="manual",
            language="en",
            state=state,
            attempts=1,
            created_at=now,
            not_before=None,
            next_attempt_at=now,
            claimed_at=None,
            sent_at=sent_at,
            last_error=None,
            idempotency_key=f"k/{id_}/bob",
        )

    first = notice(1, NoticeState.sent, "mail", now)
    later = notice(2, NoticeState.sent, "signal", now + timedelta(minutes=1))
    assert correction_channel([later, first], "bob") == "mail"
    assert correction_channel([first], "alice") is None
    assert correction_channel([notice(3, NoticeState.failed, "mail", None)], "bob") is None
    waiting = correction_channel([first, notice(4, NoticeState.sending, None, None)], "bob")
    assert waiting is not None
    assert not isinstance(waiting, str)


def test_the_report_has_words_for_every_action_in_every_language() -> None:
    """The markdown report names every kind of action (``retracted``, and ``approved`` and
    ``rejected``, which it could not name before) in each language it is written in."""
    from failover.cli._journal_words import REPORT_LANGUAGES, report_words

    for language in REPORT_LANGUAGES:
        assert set(report_words(language).actions) == {kind.value for kind in ActionKind}
