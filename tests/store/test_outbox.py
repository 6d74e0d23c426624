"""The notice outbox: claims by conditional update with a holder and a lease, settling,
retries; silences; the daemon lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.errors import AlreadyRunningError, StoreError
from failover.store import Claims, DeliveryOutcome, NoticeDraft, Store
from failover.store._schema import notices

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

    @pytest.mark.slow
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

    def test_a_retry_keeps_where_delivery_stands(self, store: Store) -> None:
        """Put back for a retry, a notice keeps its cursor: the channel reached and the
        tries made on it; a later retry replaces it."""
        queue(store, 1)
        [notice] = store.claim_notices(now=T0)
        assert (notice.cursor_ref, notice.cursor_tries) == (None, 0)
        store.mark_notice(
            notice.id, NoticeState.pending, now=T0, retry_at=T0, cursor=("contacts[0].channels[1]", 2)
        )
        [again] = store.claim_notices(now=T0)
        assert (again.cursor_ref, again.cursor_tries) == ("contacts[0].channels[1]", 2)
        store.mark_notice(notice.id, NoticeState.pending, now=T0, retry_at=T0)  # no cursor: kept
        [third] = store.claim_notices(now=T0)
        assert (third.cursor_ref, third.cursor_tries) == ("contacts[0].channels[1]", 2)


class TestClaims:
    """A claim names its dispatcher and lasts a lease: nobody else settles or takes it
    back while the lease runs, and it is taken back once it ran out or its holder died."""

    def test_a_claim_carries_its_holder_and_lease(self, store: Store) -> None:
        queue(store, 1)
        [notice] = store.claim_notices(now=T0, holder="host:1:a", lease=30 * SECOND)
        assert (notice.claimed_by, notice.lease_until) == ("host:1:a", T0 + 30 * SECOND)
        assert store.claims(now=T0) == [Claims(holder="host:1:a", notices=1, expired=0)]
        assert store.claims(now=T0 + 31 * SECOND) == [Claims(holder="host:1:a", notices=1, expired=1)]

    def test_only_the_holder_settles_its_claim(self, store: Store) -> None:
        queue(store, 1)
        [notice] = store.claim_notices(now=T0, holder="host:1:a")
        assert store.mark_notice(notice.id, NoticeState.sent, now=T0, holder="host:2:b") is False
        assert store.mark_notice(notice.id, NoticeState.sent, now=T0, holder="host:1:a") is True
        [sent] = store.notices(notice.incident_id)
        assert (sent.state, sent.lease_until) == (NoticeState.sent, None)

    def test_notices_sent_together_are_marked_only_while_held(self, store: Store) -> None:
        """A fan-out settles many deliveries in one statement: each notice its holder still
        holds is marked sent at its own time (a post's id kept), the others are untouched."""
        queue(store, 4)
        first, second, third = store.claim_notices(now=T0, limit=3, holder="host:1:a", lease=60 * SECOND)
        # the second's lease ran out and another dispatcher took it
        store.mark_notice(second.id, NoticeState.pending, now=T0, retry_at=T0, holder="host:1:a")
        [taken] = store.claim_notices(now=T0, limit=1, holder="host:2:b")
        assert taken.id == second.id
        marked = store.mark_notices_sent(
            [
                (first.id, T0 + SECOND, None),
                (second.id, T0 + 2 * SECOND, None),
                (third.id, T0 + 3 * SECOND, "109"),
            ],
            holder="host:1:a",
        )
        assert marked == [True, False, True]
        by_id = {notice.id: notice for notice in store.notices(first.incident_id)}
        assert (by_id[first.id].state, by_id[first.id].sent_at, by_id[first.id].lease_until) == (
            NoticeState.sent,
            T0 + SECOND,
            None,
        )
        assert (by_id[second.id].state, by_id[second.id].claimed_by) == (NoticeState.sending, "host:2:b")
        assert (by_id[third.id].state, by_id[third.id].public_ref) == (NoticeState.sent, "109")
        assert store.outbox_counts()[NoticeState.pending] == 1
        assert store.mark_notices_sent([], holder="host:1:a") == []

    def test_an_expired_lease_is_taken_back_and_a_live_one_is_not(self, store: Store) -> None:
        queue(store, 3)
        store.claim_notices(now=T0, limit=1, holder="host:1:a", lease=60 * SECOND)
        store.claim_notices(now=T0 + 30 * SECOND, limit=1, holder="host:2:b", lease=60 * SECOND)
        assert store.release_expired_claims(now=T0 + 59 * SECOND) == 0
        assert store.release_expired_claims(now=T0 + 61 * SECOND) == 1
        assert store.claims(now=T0 + 61 * SECOND) == [Claims(holder="host:2:b", notices=1, expired=0)]
        [first, *_] = store.claim_notices(now=T0 + 61 * SECOND, limit=3, holder="host:3:c")
        assert first.contact_ref == "contacts[0]"  # taken back, due as it was: first again
        assert first.claimed_by == "host:3:c"

    def test_renewal_keeps_a_claim(self, store: Store) -> None:
        queue(store, 2)
        claimed = store.claim_notices(now=T0, limit=2, holder="host:1:a", lease=60 * SECOND)
        ids = [notice.id for notice in claimed]
        assert store.renew_claims("host:2:b", ids, until=T0 + 120 * SECOND) == 0
        assert store.renew_claims("host:1:a", ids, until=T0 + 120 * SECOND) == 2
        assert store.release_expired_claims(now=T0 + 90 * SECOND) == 0
        assert store.release_expired_claims(now=T0 + 121 * SECOND) == 2

    def test_a_holders_claims_are_handed_back_untouched(self, store: Store) -> None:
        queue(store, 3)
        mine = store.claim_notices(now=T0, limit=2, holder="host:1:a")
        store.claim_notices(now=T0, limit=1, holder="host:2:b")
        assert store.release_claims("host:1:a", [mine[0].id]) == 1
        assert store.release_claims("host:2:b", [mine[1].id]) == 0  # not b's
        assert store.release_claims("host:1:a") == 1
        counts = store.outbox_counts()
        assert (counts[NoticeState.pending], counts[NoticeState.sending]) == (2, 1)
        again = store.claim_notices(now=T0, limit=5, holder="host:3:c")
        assert [n.attempts for n in again] == [0, 0]

    def test_claims_without_a_lease_are_taken_back(self, store: Store) -> None:
        """Notices left in sending by a version without leases go back at once."""
        queue(store, 1)
        [notice] = store.claim_notices(now=T0)
        with store._writer.begin() as conn:
            conn.execute(update(notices).values(lease_until=None, claimed_by=None))
        assert store.claims(now=T0) == [Claims(holder=None, notices=1, expired=1)]
        assert store.release_expired_claims(now=T0) == 1
        assert [n.id for n in store.claim_notices(now=T0)] == [notice.id]

    def test_who_was_told_of_an_event(self, store: Store) -> None:
        incident_id = queue(store, 2)
        assert store.notice_recipients(incident_id, IncidentEvent.opened) == {"contacts[0]", "contacts[1]"}
        assert store.notice_recipients(incident_id, IncidentEvent.resolved) == set()


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


class TestWritesFromManyThreads:
    """A fan-out settles each delivery from the thread that made it: many threads write to
    one store at once."""

    def test_every_write_of_sixteen_threads_lands_once(self, store: Store) -> None:
        """16 threads each record and settle 25 deliveries: every attempt is counted once,
        every notice is sent, and no write fails for a locked database."""
        incident_id = queue(store, 400)
        claimed = [n.id for n in store.claim_notices(now=T0, limit=400, holder="pump")]
        assert len(claimed) == 400
        errors: list[BaseException] = []

        def settle(ids: list[int]) -> None:
            try:
                for notice_id in ids:
                    store.record_delivery(
                        notice_id, at=T0, channel_ref="contacts[x].channels[0]", outcome=DeliveryOutcome.sent
                    )
                    assert store.mark_notice(notice_id, NoticeState.sent, now=T0, holder="pump")
            except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=settle, args=(claimed[i::16],)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        notices_now = {n.id: n for n in store.notices(incident_id)}
        assert all(notices_now[i].state is NoticeState.sent and notices_now[i].attempts == 1 for i in claimed)

    @pytest.mark.slow
    def test_a_write_waits_for_another_of_this_process_no_longer_than_sqlite_would(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """While another thread's write transaction does not end, a write gives up after the
        busy timeout with "database is locked", as SQLite itself would, and goes through
        once that transaction ends."""
        import failover.store._store as store_module

        store = Store.open(f"sqlite:///{tmp_path / 'failover.db'}")  # PostgreSQL locks rows, not the database
        store.upgrade()

        monkeypatch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
        queue(store, 1)
        [notice] = store.claim_notices(now=T0)
        inside, release = threading.Event(), threading.Event()

        def long_write() -> None:
            with store._write():
                inside.set()
                release.wait(60)

        holder = threading.Thread(target=long_write)
        holder.start()
        try:
            assert inside.wait(60)
            with pytest.raises(StoreError, match="database is locked"):
                store.mark_notice(notice.id, NoticeState.sent, now=T0)
        finally:
            release.set()
            holder.join(60)
        assert store.mark_notice(notice.id, NoticeState.sent, now=T0) is True
        store.close()
