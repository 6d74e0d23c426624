"""Approvals in the store: the notices of an incident awaiting approval are never claimed;
approving releases them (held from the approval) and rejecting withdraws them, each once
and with its action; migration 0006 adds the column and the two kinds of action."""

from __future__ import annotations

from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import inspect

from failover.domain import Approval, IncidentEvent, IncidentKind, NoticeState
from failover.store import ActionKind, IncidentAction, NoticeDraft, Store
from failover.store._migrate import HEAD_REVISION, alembic_config, current_revision
from tests.store.test_record import MINUTE, T0, meta_incident

INCIDENT = meta_incident(key="manual:family:meta", kind=IncidentKind.manual, confirmed_at=T0)


def open_awaiting(store: Store, *, held: bool = True) -> int:
    """An incident awaiting approval with two notices (held a minute by their trigger)."""
    [stored] = store.record_decision(
        at=T0,
        incident_events=[(IncidentEvent.manual, replace(INCIDENT, approval=Approval.awaiting))],
        notices=[
            NoticeDraft(
                incident_key=INCIDENT.key,
                event=IncidentEvent.manual,
                contact_ref=f"contacts[{i}]",
                template="manual",
                not_before=T0 + MINUTE if held else None,
            )
            for i in range(2)
        ],
        actions={INCIDENT.key: [IncidentAction(at=T0, actor="claire", kind=ActionKind.triggered)]},
    )
    assert stored.id is not None
    assert stored.approval is Approval.awaiting
    return stored.id


def approved() -> IncidentAction:
    return IncidentAction(at=T0 + 10 * MINUTE, actor="dan", kind=ActionKind.approved)


class TestAwaiting:
    def test_its_notices_are_never_claimed(self, store: Store) -> None:
        open_awaiting(store)
        assert store.claim_notices(now=T0 + 1000 * MINUTE) == []

    def test_approving_releases_them_held_from_the_approval(self, store: Store) -> None:
        incident_id = open_awaiting(store)
        assert store.approve_incident(incident_id, approved()) == 2
        assert store.claim_notices(now=T0 + 10 * MINUTE) == []  # the trigger's minute, from now
        claimed = store.claim_notices(now=T0 + 11 * MINUTE)
        assert [n.not_before for n in claimed] == [T0 + 11 * MINUTE] * 2
        assert store.approve_incident(incident_id, approved()) is None  # once
        incident = store.incident(incident_id)
        assert incident is not None
        assert incident.approval is Approval.approved
        kinds = [a.kind for a in store.actions([incident_id])[incident_id]]
        assert kinds == [ActionKind.triggered, ActionKind.approved]

    @pytest.mark.slow
    def test_a_rewrite_of_the_incident_keeps_its_approval(self, store: Store) -> None:
        incident_id = open_awaiting(store)
        store.record_decision(at=T0 + MINUTE, incident_updates=[INCIDENT])
        assert store.claim_notices(now=T0 + 1000 * MINUTE) == []
        assert store.approve_incident(incident_id, approved(), hold=MINUTE - MINUTE) == 2
        assert len(store.claim_notices(now=T0 + 10 * MINUTE)) == 2

    def test_rejecting_withdraws_them_and_closes_it(self, store: Store) -> None:
        incident_id = open_awaiting(store, held=False)
        rejection = IncidentAction(at=T0 + MINUTE, actor="dan", kind=ActionKind.rejected, text="wrong number")
        assert store.reject_incident(incident_id, rejection, cause="rejected by dan: wrong number") == 2
        assert store.reject_incident(incident_id, rejection, cause="again") is None
        assert store.approve_incident(incident_id, approved()) is None
        incident = store.incident(incident_id)
        assert incident is not None
        assert (incident.approval, incident.resolved_at) == (Approval.rejected, T0 + MINUTE)
        assert {n.state for n in store.notices(incident_id)} == {NoticeState.cancelled}
        assert store.actions([incident_id])[incident_id][-1] == rejection

    def test_unknown_incidents_change_nothing(self, store: Store) -> None:
        assert store.approve_incident(42, approved()) is None
        assert store.approve_incident(2**40, approved()) is None
        assert store.reject_incident(42, approved(), cause="c") is None


class TestMigration0006:
    """A database of revision 0005 takes the column and the kinds, and gives them back."""

    def test_upgrade_from_0005_and_back(self, store_url: str) -> None:
        with Store.open(store_url) as store:
            with store._engine.begin() as conn:
                command.upgrade(alembic_config(conn), "0005")
            store.upgrade()
            with store._engine.connect() as conn:
                assert current_revision(conn) == HEAD_REVISION
                assert "approval" in {c["name"] for c in inspect(conn).get_columns("incidents")}
            incident_id = open_awaiting(store)
            assert store.approve_incident(incident_id, approved()) == 2

            with store._engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0005")
                assert "approval" not in {c["name"] for c in inspect(conn).get_columns("incidents")}
            store.upgrade()
            incident = store.incident(incident_id)
            assert incident is not None
            assert incident.approval is None
            kinds = [a.kind for a in store.actions([incident_id])[incident_id]]
            assert kinds == [ActionKind.triggered]
