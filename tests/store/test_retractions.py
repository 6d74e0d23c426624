"""Retractions in the store: in one transaction an incident is marked retracted and closed,
its notices still waiting are withdrawn, its corrections queued from its notices as they
stand, and the action recorded, once; a sent notice keeps the id of the post it made;
migration 0007 adds both columns and the kind of action."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from alembic import command
from sqlalchemy import inspect

from failover.domain import IncidentEvent, IncidentKind, NoticeState
from failover.store import ActionKind, DeliveryOutcome, IncidentAction, Notice, NoticeDraft, Store
from failover.store._migrate import HEAD_REVISION, alembic_config, current_revision
from tests.store.test_record import MINUTE, T0, meta_incident

INCIDENT = meta_incident(key="manual:family:meta", kind=IncidentKind.manual, confirmed_at=T0)


def open_told(store: Store) -> int:
    """A manual incident with three notices: one sent (with a post's id), one being sent,
    one held back."""
    [stored] = store.record_decision(
        at=T0,
        incident_events=[(IncidentEvent.manual, INCIDENT)],
        notices=[
            NoticeDraft(
                incident_key=INCIDENT.key,
                event=IncidentEvent.manual,
                contact_ref=ref,
                template="manual-public" if ref.startswith("channels.") else "manual",
                channel_ref=ref if ref.startswith("channels.") else None,
                not_before=T0 + MINUTE if ref == "contacts[held]" else None,
            )
            for ref in ("channels.news", "contacts[busy]", "contacts[held]")
        ],
    )
    assert stored.id is not None
    sent, busy = store.claim_notices(now=T0, limit=2, holder="me")
    store.record_delivery(sent.id, at=T0, channel_ref="channels.news", outcome=DeliveryOutcome.sent)
    assert store.mark_notice(sent.id, NoticeState.sent, now=T0, holder="me", public_ref="110000000000000001")
    assert busy.state is NoticeState.sending
    return stored.id


def retraction(actor: str = "claire") -> IncidentAction:
    return IncidentAction(at=T0 + 2 * MINUTE, actor=actor, kind=ActionKind.retracted, text="wrong platform")


def corrections_for(seen: list[Sequence[Notice]]) -> Callable[[Sequence[Notice]], list[NoticeDraft]]:
    """A planner of one correction per notice sent or being sent, remembering what it saw."""

    def plan(notices: Sequence[Notice]) -> list[NoticeDraft]:
        seen.append(notices)
        return [
            NoticeDraft(
                incident_key=INCIDENT.key,
                event=IncidentEvent.retracted,
                contact_ref=n.contact_ref,
                template="correction",
                channel_ref=n.channel_ref,
            )
            for n in notices
            if n.state in (NoticeState.sent, NoticeState.sending)
        ]

    return plan


class TestRetract:
    def test_one_transaction_withdraws_queues_and_records(self, store: Store) -> None:
        incident_id = open_told(store)
        seen: list[Sequence[Notice]] = []
        withdrawn = store.retract_incident(
            incident_id,
            retraction(),
            cause="retracted by claire: wrong platform",
            corrections=corrections_for(seen),
        )
        assert withdrawn == 1
        [notices] = seen
        states = {n.contact_ref: n.state for n in notices}
        assert states == {
            "channels.news": NoticeState.sent,
            "contacts[busy]": NoticeState.sending,
            "contacts[held]": NoticeState.cancelled,  # withdrawn before the planner looked
        }
        incident = store.incident(incident_id)
        assert incident is not None
        assert (incident.retracted_at, incident.resolved_at) == (T0 + 2 * MINUTE, T0 + 2 * MINUTE)
        assert incident.cause == "retracted by claire: wrong platform"
        queued = [n for n in store.notices(incident_id) if n.event is IncidentEvent.retracted]
        assert [(n.contact_ref, n.state) for n in queued] == [
            ("channels.news", NoticeState.pending),
            ("contacts[busy]", NoticeState.pending),
        ]
        [action] = store.actions([incident_id])[incident_id]
        assert (action.actor, action.kind, action.text) == ("claire", ActionKind.retracted, "wrong platform")

    def test_once(self, store: Store) -> None:
        incident_id = open_told(store)
        seen: list[Sequence[Notice]] = []
        assert (
            store.retract_incident(incident_id, retraction(), cause="c", corrections=corrections_for(seen))
            == 1
        )
        assert (
            store.retract_incident(
                incident_id, retraction("dan"), cause="c", corrections=corrections_for(seen)
            )
            is None
        )
        assert len(seen) == 1
        assert [a.actor for a in store.actions([incident_id])[incident_id]] == ["claire"]

    def test_an_unknown_incident_changes_nothing(self, store: Store) -> None:
        seen: list[Sequence[Notice]] = []
        assert store.retract_incident(42, retraction(), cause="c", corrections=corrections_for(seen)) is None
        assert (
            store.retract_incident(2**40, retraction(), cause="c", corrections=corrections_for(seen)) is None
        )
        assert seen == []

    def test_a_rewrite_of_the_incident_keeps_its_retraction(self, store: Store) -> None:
        """The judge rewriting (or resolving) an incident it still holds open leaves the
        retraction, and its time of closing, as they were."""
        incident_id = open_told(store)
        store.retract_incident(incident_id, retraction(), cause="c", corrections=lambda _notices: [])
        later = T0 + 30 * MINUTE
        store.record_decision(at=later, incident_updates=[INCIDENT])
        store.record_decision(
            at=later, incident_events=[(IncidentEvent.resolved, replace(INCIDENT, resolved_at=later))]
        )
        incident = store.incident(incident_id)
        assert incident is not None
        assert (incident.retracted_at, incident.resolved_at) == (T0 + 2 * MINUTE, T0 + 2 * MINUTE)

    def test_a_sent_notice_keeps_the_id_of_its_post(self, store: Store) -> None:
        incident_id = open_told(store)
        refs = {n.contact_ref: n.public_ref for n in store.notices(incident_id)}
        assert refs == {"channels.news": "110000000000000001", "contacts[busy]": None, "contacts[held]": None}


class TestMigration0007:
    """A database of revision 0006 takes the columns and the kind, and gives them back."""

    def test_upgrade_from_0006_and_back(self, store_url: str) -> None:
        with Store.open(store_url) as store:
            with store._engine.begin() as conn:
                command.upgrade(alembic_config(conn), "0006")
            store.upgrade()
            with store._engine.connect() as conn:
                assert current_revision(conn) == HEAD_REVISION
                assert "retracted_at" in {c["name"] for c in inspect(conn).get_columns("incidents")}
                assert "public_ref" in {c["name"] for c in inspect(conn).get_columns("notices")}
            incident_id = open_told(store)
            assert (
                store.retract_incident(incident_id, retraction(), cause="c", corrections=lambda _n: []) == 1
            )

            with store._engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0006")
                assert "retracted_at" not in {c["name"] for c in inspect(conn).get_columns("incidents")}
                assert "public_ref" not in {c["name"] for c in inspect(conn).get_columns("notices")}
            store.upgrade()
            incident = store.incident(incident_id)
            assert incident is not None
            assert incident.retracted_at is None
            assert incident_id not in store.actions([incident_id])  # the retraction went with its kind
            assert {n.public_ref for n in store.notices(incident_id)} == {None}
