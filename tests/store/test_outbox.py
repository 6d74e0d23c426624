"""The notice outbox: claims by conditional update, settling, retries; silences; the daemon lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope
from failover.errors import AlreadyRunningError
from failover.store import DeliveryOutcome, NoticeDraft, NoticeState, Store

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
INCIDENT = Incident(
    key="platform:messenger:20240305T1500Z",
    scope=IncidentScope.platform,
    kind=IncidentKind.unreachable,
    name="messenger",
    platforms=("messenger",),
    opened_at=T0,
)


def queue(store: Store, count: int, *, not_before: datetime | None = None) -> int:
    """Open the incident with ``count`` notices; returns the incident's id."""
    [incident] = store.record_decision(
        at=T0,
        incident_events=[(IncidentEvent.opened, INCIDENT)],
        notices=[
            NoticeDraft(
                incident_key=INCIDENT.key,
                event=IncidentEvent.opened,
                contact_ref=f"contacts[{i}]",
                template="outage",
                not_before=not_before,
            )
            for i in range(count)
        ],
    )
    assert incident.id is not None
    return incident.id


class TestClaim:
    """Due notices are claimed once, oldest first."""

    def test_claims_due_notices_once(self, store: Store) -> None:
        """A claim moves notices to sending; a second claim finds none of them."""
        queue(store, 3)
        claimed = store.claim_notices(now=T0, limit=2)
        assert [n.contact_ref for n in claimed] == ["contacts[0]", "contacts[1]"]
        assert all(n.state is NoticeState.sending and n.claimed_at == T0 for n in claimed)
        assert claimed[0].incident_key == INCIDENT.key
        assert [n.contact_ref for n in store.claim_notices(now=T0, limit=10)] == ["contacts[2]"]
        assert store.claim_notices(now=T0, limit=10) == []

    def test_hold_until_not_before(self, store: Store) -> None:
        """A held notice is not due before its hold ends, and can be cancelled meanwhile."""
        incident_id = queue(store, 2, not_before=T0 + 60 * SECOND)
        assert store.claim_notices(now=T0 + 59 * SECOND) == []
        assert store.cancel_notices(incident_id) == 2
        assert store.claim_notices(now=T0 + 61 * SECOND) == []
        assert store.outbox_counts()[NoticeState.cancelled] == 2

    def test_two_claimers_never_share_a_notice(self, open_store: Callable[[], Store]) -> None:
        """Two dispatchers on their own connections claim concurrently: each notice once."""
        first, second = open_store(), open_store()
        queue(first, 120)
        results: dict[str, list[int]] = {"first": [], "second": []}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def dispatch(name: str, store: Store) -> None:
            try:
                start.wait()
                while batch := store.claim_notices(now=T0, limit=3):
                    results[name].extend(n.id for n in batch)
            except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=dispatch, args=(name, s))
            for name, s in zip(results, (first, second), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        together = results["first"] + results["second"]
        assert len(together) == 120
        assert len(set(together)) == 120

    def test_loser_of_a_race_gets_nothing(self, open_store: Callable[[], Store]) -> None:
        """A notice claimed elsewhere is not claimed again, whatever the claimer saw before."""
        first, second = open_store(), open_store()
        queue(first, 1)
        [won] = first.claim_notices(now=T0)
        assert second.claim_notices(now=T0) == []
        assert second.mark_notice(won.id, NoticeState.sent, now=T0) is True


class TestSettle:
    """Claimed notices end sent, failed or set aside, or go back for a retry."""

    def test_retry_then_send(self, store: Store) -> None:
        """A failed attempt is logged, the notice waits until ``retry_at``, then is sent."""
        queue(store, 1)
        [notice] = store.claim_notices(now=T0)
        store.record_delivery(
            notice.id,
            at=T0,
            channel_ref="contacts[0].channels[0]",
            outcome=DeliveryOutcome.failed,
            error="connection refused by mailto://user:pw@example.org/ (retry later)",
        )
        assert store.mark_notice(notice.id, NoticeState.pending, now=T0, retry_at=T0 + 30 * SECOND)
        assert store.claim_notices(now=T0 + 29 * SECOND) == []
        [again] = store.claim_notices(now=T0 + 30 * SECOND)
        assert again.attempts == 1
        assert again.last_error is not None
        assert "pw" not in again.last_error
        assert "<url>" in again.last_error
        store.record_delivery(
            notice.id,
            at=T0 + 31 * SECOND,
            channel_ref="contacts[0].channels[1]",
            outcome=DeliveryOutcome.sent,
        )
        assert store.mark_notice(notice.id, NoticeState.sent, now=T0 + 31 * SECOND)
        [final] = store.notices(notice.incident_id)
        assert (final.state, final.attempts, final.sent_at) == (NoticeState.sent, 2, T0 + 31 * SECOND)
        assert final.channel_ref == "contacts[0].channels[1]"
        assert [d[2] for d in store.deliveries(notice.id)] == [DeliveryOutcome.failed, DeliveryOutcome.sent]

    def test_state_machine_guards(self, store: Store) -> None:
        """A notice not in a state it may leave that way is left alone."""
        queue(store, 1)
        [notice] = store.claim_notices(now=T0)
        assert store.mark_notice(notice.id, NoticeState.cancelled, now=T0) is False
        assert store.mark_notice(notice.id, NoticeState.sent, now=T0) is True
        assert store.mark_notice(notice.id, NoticeState.failed, now=T0) is False
        with pytest.raises(ValueError, match="claim_notices"):
            store.mark_notice(notice.id, NoticeState.sending, now=T0)
        with pytest.raises(ValueError, match="retry_at"):
            store.mark_notice(notice.id, NoticeState.pending, now=T0)

    def test_stale_claims_are_released(self, store: Store) -> None:
        """A notice whose dispatcher died mid-send is pending again after the grace period."""
        queue(store, 2)
        store.claim_notices(now=T0, limit=1)
        assert store.release_stale_claims(now=T0 + 60 * SECOND, older_than=120 * SECOND) == 0
        assert store.release_stale_claims(now=T0 + 180 * SECOND, older_than=120 * SECOND) == 1
        assert store.outbox_counts()[NoticeState.pending] == 2


class TestSilences:
    """Silences are kept until they end."""

    def test_active_and_removed(self, store: Store) -> None:
        """A silence is active between its creation and its end, and can be lifted."""
        silence = store.add_silence(name="meta", until=T0 + 3600 * SECOND, reason="planned", now=T0)
        assert store.active_silences(T0 + SECOND) == [silence]
        assert store.active_silences(T0 + 3600 * SECOND) == []
        assert store.remove_silence(silence.id) is True
        assert store.active_silences(T0 + SECOND) == []


class TestDaemonLock:
    """One daemon per database."""

    def test_second_daemon_is_refused_until_the_first_goes_stale(self, store: Store) -> None:
        """A live holder keeps the lock; a stale one loses it; the old holder notices."""
        stale = timedelta(minutes=2)
        store.acquire_lock("host-a:100", now=T0, stale_after=stale)
        store.acquire_lock("host-a:100", now=T0 + SECOND, stale_after=stale)
        store.heartbeat("host-a:100", now=T0 + 60 * SECOND)
        with pytest.raises(AlreadyRunningError, match="host-a:100"):
            store.acquire_lock("host-b:200", now=T0 + 90 * SECOND, stale_after=stale)
        store.acquire_lock("host-b:200", now=T0 + 200 * SECOND, stale_after=stale)
        with pytest.raises(AlreadyRunningError):
            store.heartbeat("host-a:100", now=T0 + 201 * SECOND)
        store.release_lock("host-b:200")
        store.acquire_lock("host-a:100", now=T0 + 202 * SECOND, stale_after=stale)
