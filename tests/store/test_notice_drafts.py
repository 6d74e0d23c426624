"""What the notifier asks of the outbox beyond claims: notices queued silenced, an
operator's message per notice, and the attempt count a dispatcher sets when it falls over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.store import NoticeDraft, Store

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
INCIDENT = Incident(
    key="manual:everyone:20240305T1500Z",
    scope=IncidentScope.custom,
    kind=IncidentKind.manual,
    name="everyone",
    platforms=("whatsapp",),
    opened_at=T0,
)


def draft(contact: str, **options: object) -> NoticeDraft:
    return NoticeDraft(
        incident_key=INCIDENT.key,
        event=IncidentEvent.manual,
        contact_ref=contact,
        template="manual",
        **options,  # type: ignore[arg-type]
    )


class TestNoticeDrafts:
    """Drafts carry their own state and text into the outbox."""

    def test_silenced_draft_is_recorded_silenced_and_never_claimed(self, store: Store) -> None:
        [incident] = store.record_decision(
            at=T0,
            incident_events=[(IncidentEvent.manual, INCIDENT)],
            notices=[draft("alice", silenced_by="silenced (#1 whatsapp): maintenance"), draft("bob")],
        )
        assert incident.id is not None
        notices = {n.contact_ref: n for n in store.notices(incident.id)}
        assert notices["alice"].state is NoticeState.silenced
        assert notices["alice"].last_error == "silenced (#1 whatsapp): maintenance"
        assert [n.contact_ref for n in store.claim_notices(now=T0, limit=10)] == ["bob"]
        assert store.incidents()[0].notices_skipped == 1

    def test_message_travels_with_the_notice(self, store: Store) -> None:
        [incident] = store.record_decision(
            at=T0,
            incident_events=[(IncidentEvent.manual, INCIDENT)],
            notices=[draft("alice", message="Call the landline."), draft("bob")],
        )
        assert incident.id is not None
        assert [n.message for n in store.notices(incident.id)] == ["Call the landline.", None]

    def test_reschedule_sets_the_attempt_count(self, store: Store) -> None:
        store.record_decision(at=T0, incident_events=[(IncidentEvent.manual, INCIDENT)], notices=[draft("a")])
        [notice] = store.claim_notices(now=T0)
        assert store.mark_notice(
            notice.id, NoticeState.pending, now=T0, retry_at=T0, error="fell over", attempts=3
        )
        [again] = store.claim_notices(now=T0 + timedelta(seconds=1))
        assert (again.attempts, again.last_error) == (3, "fell over")
