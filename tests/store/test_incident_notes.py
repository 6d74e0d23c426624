"""Notes on an incident: an alert or a trigger attached to it, kept in the journal for good."""

from __future__ import annotations

from dataclasses import replace

from failover.domain import IncidentEvent
from failover.store import NOTE_PREFIX, Store
from tests.store.test_record import MINUTE, T0, meta_incident


class TestIncidentNotes:
    """A note is an evidence line of its own that later rewrites of the incident keep."""

    def test_a_note_is_added_once_and_shows_in_the_journal(self, store: Store) -> None:
        [incident] = store.record_decision(
            at=T0, incident_events=[(IncidentEvent.confirmed, meta_incident())]
        )
        assert incident.id is not None
        assert store.note_incident(incident.id, "alert GatewayDown attached")
        assert not store.note_incident(incident.id, "alert GatewayDown attached"), "the same line twice"
        [entry] = store.incidents()
        assert entry.incident.evidence == (
            "authoritative DNS timed out",
            f"{NOTE_PREFIX}alert GatewayDown attached",
        )

    def test_an_unknown_incident_takes_no_note(self, store: Store) -> None:
        assert not store.note_incident(42, "anything")

    def test_the_judges_rewrites_keep_the_notes(self, store: Store) -> None:
        """The judge writes its incident from memory, without the notes: they stay anyway,
        after its own lines, and its own lines still follow the judge."""
        [incident] = store.record_decision(
            at=T0, incident_events=[(IncidentEvent.confirmed, meta_incident())]
        )
        assert incident.id is not None
        store.note_incident(incident.id, "trigger via api attached")
        grown = meta_incident(evidence=("authoritative DNS timed out", "public resolvers SERVFAIL"))
        store.record_decision(at=T0 + MINUTE, incident_updates=[grown])
        resolved = replace(grown, evidence=("public resolvers SERVFAIL",), resolved_at=T0 + 60 * MINUTE)
        [stored] = store.record_decision(
            at=T0 + 60 * MINUTE, incident_events=[(IncidentEvent.resolved, resolved)]
        )
        assert stored.evidence == ("public resolvers SERVFAIL", f"{NOTE_PREFIX}trigger via api attached")
        assert not stored.is_open
