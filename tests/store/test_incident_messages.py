"""The operator's texts per language on an incident: written with it, kept by later
rewrites, and added to older databases by migration 0004."""

from __future__ import annotations

from dataclasses import replace

from alembic import command
from sqlalchemy import insert, inspect

from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope
from failover.store import Store
from failover.store._migrate import HEAD_REVISION, alembic_config, current_revision
from failover.store._schema import incidents
from tests.store.test_record import MINUTE, T0, meta_incident

TEXTS = (("en", "Write to us by e-mail."), ("fr", "Écrivez-nous par courriel."))


def manual(**changes: object) -> Incident:
    return meta_incident(
        key="manual:family:meta:20211004T154000Z",
        kind=IncidentKind.manual,
        message="",
        messages=TEXTS,
        **changes,
    )


class TestIncidentMessages:
    """Texts per language go in and come back as written, in order of language."""

    def test_they_are_written_with_the_incident(self, store: Store) -> None:
        [stored] = store.record_decision(at=T0, incident_events=[(IncidentEvent.manual, manual())])
        assert stored.messages == TEXTS
        assert stored.id is not None
        assert store.incident(stored.id) == stored
        [entry] = store.incidents()
        assert entry.incident.messages == TEXTS

    def test_a_rewrite_without_them_keeps_them(self, store: Store) -> None:
        """A cancellation or a resolution is written from the incident as read, and the
        judge writes its own incidents with none: texts once given stay."""
        [stored] = store.record_decision(at=T0, incident_events=[(IncidentEvent.manual, manual())])
        rewritten = replace(stored, id=None, messages=(), resolved_at=T0 + MINUTE)
        [resolved] = store.record_decision(at=T0 + MINUTE, incident_updates=[rewritten])
        assert (resolved.messages, resolved.is_open) == (TEXTS, False)

    def test_an_incident_without_them_has_none(self, store: Store) -> None:
        [stored] = store.record_decision(at=T0, incident_events=[(IncidentEvent.confirmed, meta_incident())])
        assert stored.messages == ()


class TestMigration0004:
    """A database of revision 0003 takes the column without losing an incident, and gives
    it back on a downgrade."""

    def test_upgrade_from_0003_and_back(self, store_url: str) -> None:
        with Store.open(store_url) as store:
            with store._engine.begin() as conn:
                command.upgrade(alembic_config(conn), "0003")
                assert "messages" not in {c["name"] for c in inspect(conn).get_columns("incidents")}
                conn.execute(
                    insert(incidents).values(
                        key="manual:custom:phones:20211004T154000Z",
                        scope=IncidentScope.custom.value,
                        kind=IncidentKind.manual.value,
                        name="phones",
                        platforms=[],
                        opened_at=T0,
                        evidence=[],
                        cause="manual failover",
                        message="Our lines are down.",
                    )
                )
            store.upgrade()
            with store._engine.connect() as conn:
                assert current_revision(conn) == HEAD_REVISION
            [old] = store.open_incidents()
            assert (old.message, old.messages) == ("Our lines are down.", ())
            [stored] = store.record_decision(at=T0, incident_events=[(IncidentEvent.manual, manual())])
            assert stored.messages == TEXTS

            with store._engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0003")
                assert "messages" not in {c["name"] for c in inspect(conn).get_columns("incidents")}
                assert current_revision(conn) == "0003"
            store.upgrade()
            assert {i.key: i.messages for i in store.open_incidents()} == {
                old.key: (),
                stored.key: (),
            }
