"""The journal of actions: who did what about an incident and when, written with a
decision or on its own, read back with the journal, and added by migration 0005."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from failover.domain import IncidentEvent
from failover.store import ActionKind, IncidentAction, Store
from failover.store._migrate import HEAD_REVISION, alembic_config, current_revision
from tests.store.test_record import MINUTE, T0, meta_incident


def triggered(actor: str = "claire") -> IncidentAction:
    return IncidentAction(at=T0, actor=actor, kind=ActionKind.triggered)


class TestActions:
    """Actions go in with their author and time and come back with the journal, oldest first."""

    def test_written_with_the_decision_and_on_their_own(self, store: Store) -> None:
        incident = meta_incident()
        [stored] = store.record_decision(
            at=T0,
            incident_events=[(IncidentEvent.confirmed, incident)],
            actions={incident.key: [triggered()]},
        )
        assert stored.id is not None
        note = IncidentAction(at=T0 + MINUTE, actor="api", kind=ActionKind.note, text="Called the ISP")
        earlier = IncidentAction(at=T0 - MINUTE, actor="bob", kind=ActionKind.silenced, text="meta")
        assert store.record_action(stored.id, note)
        assert store.record_action(stored.id, earlier)
        [entry] = store.incidents()
        assert entry.actions == (earlier, triggered(), note)

    def test_an_unknown_incident_takes_none(self, store: Store) -> None:
        assert not store.record_action(42, triggered())
        assert not store.record_action(2**40, triggered())
        assert store.actions([42]) == {}

    def test_a_replayed_rewrite_without_actions_keeps_them(self, store: Store) -> None:
        incident = meta_incident()
        store.record_decision(
            at=T0,
            incident_events=[(IncidentEvent.confirmed, incident)],
            actions={incident.key: [triggered()]},
        )
        store.record_decision(at=T0 + MINUTE, incident_updates=[incident])
        [entry] = store.incidents()
        assert entry.actions == (triggered(),)

    def test_a_silence_keeps_its_author_and_its_actions(self, store: Store) -> None:
        [stored] = store.record_decision(at=T0, incident_events=[(IncidentEvent.confirmed, meta_incident())])
        assert stored.id is not None
        silenced = IncidentAction(at=T0, actor="claire", kind=ActionKind.silenced, text="meta")
        store.add_silence(
            name="meta",
            until=T0 + 60 * MINUTE,
            reason="planned",
            now=T0,
            created_by="claire",
            actions={stored.id: silenced},
        )
        [silence] = store.active_silences(T0)
        assert silence.created_by == "claire"
        assert store.incidents()[0].actions == (silenced,)


class TestMigration0005:
    """A database of revision 0004 takes the table and the column, and gives them back."""

    def test_upgrade_from_0004_and_back(self, store_url: str) -> None:
        with Store.open(store_url) as store:
            with store._engine.begin() as conn:
                command.upgrade(alembic_config(conn), "0004")
                assert not inspect(conn).has_table("incident_actions")
            store.upgrade()
            with store._engine.connect() as conn:
                assert current_revision(conn) == HEAD_REVISION
                assert "created_by" in {c["name"] for c in inspect(conn).get_columns("silences")}
            [stored] = store.record_decision(
                at=T0,
                incident_events=[(IncidentEvent.confirmed, meta_incident())],
                actions={meta_incident().key: [triggered()]},
            )
            store.add_silence(name="meta", until=T0 + MINUTE, reason="r", now=T0, created_by="claire")

            with store._engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0004")
                assert not inspect(conn).has_table("incident_actions")
                assert "created_by" not in {c["name"] for c in inspect(conn).get_columns("silences")}
            store.upgrade()
            [entry] = store.incidents()
            assert (entry.incident.key, entry.actions) == (stored.key, ())
            [silence] = store.active_silences(T0)
            assert silence.created_by is None
