"""Recording observations and the judge's decisions, and reading them back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from failover.domain import (
    CheckKind,
    CheckRole,
    ConnectivityEvent,
    Health,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    Observation,
    Outcome,
    Platform,
    Transition,
)
from failover.errors import StoreError
from failover.store import ConnectivityRecord, NoticeDraft, Store

T0 = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def meta_incident(**changes: object) -> Incident:
    fields: dict[str, object] = {
        "key": "family:meta:20211004T1540Z",
        "scope": IncidentScope.family,
        "kind": IncidentKind.unreachable,
        "name": "meta",
        "platforms": ("facebook", "whatsapp"),
        "opened_at": T0,
        "evidence": ("authoritative DNS timed out",),
    }
    fields.update(changes)
    return Incident(**fields)  # type: ignore[arg-type]


def went_down(platform: str, at: datetime = T0) -> Transition:
    return Transition(platform=platform, previous=Health.up, current=Health.down, at=at, reason="dns_timeout")


def notice(contact: str, event: IncidentEvent = IncidentEvent.opened, **changes: object) -> NoticeDraft:
    fields: dict[str, object] = {
        "incident_key": meta_incident().key,
        "event": event,
        "contact_ref": contact,
        "channel_ref": "contacts[0].channels[0]",
        "template": "outage",
        "language": "fr",
    }
    fields.update(changes)
    return NoticeDraft(**fields)  # type: ignore[arg-type]


def opening_decision(store: Store) -> tuple[Incident, ...]:
    return store.record_decision(
        at=T0,
        transitions=[went_down("facebook"), went_down("whatsapp")],
        incident_events=[(IncidentEvent.opened, meta_incident())],
        state={"platforms": {"facebook": "down"}, "round": 7},
        connectivity_events=[ConnectivityRecord(kind=ConnectivityEvent.restored, at=T0 - MINUTE)],
        notices=[notice("contacts[0]"), notice("contacts[1]")],
    )


class TestObservations:
    """Raw observations are written in batches and read back whole."""

    def test_batch_round_trip(self, store: Store) -> None:
        """A round's observations come back equal, times tz-aware UTC, oldest first."""
        written = [
            Observation(
                target=f"platform-{i % 5}",
                check="https",
                kind=CheckKind.http,
                role=CheckRole.front_door,
                outcome=Outcome.ok if i % 3 else Outcome.http_status,
                at=T0 + timedelta(seconds=i),
                latency_s=None if i == 0 else i / 1000,
                detail="" if i % 3 else "HTTP 503",
                is_control=i == 7,
            )
            for i in range(500)
        ]
        store.record_observations(written)
        store.record_observations([])
        assert store.observations(since=T0) == written
        only = store.observations(since=T0, until=T0 + timedelta(seconds=10), target="platform-1")
        assert [o.at.second for o in only] == [1, 6]

    @pytest.mark.slow
    def test_detail_is_bounded(self, store: Store) -> None:
        """An overlong detail is cut to its bound rather than refused."""
        long = Observation(
            target="x",
            check="c",
            kind=CheckKind.tcp,
            role=CheckRole.front_door,
            outcome=Outcome.tcp_refused,
            at=T0,
            detail="é" * 5000,
        )
        store.record_observations([long])
        [back] = store.observations(since=T0)
        assert back.detail == "é" * 300

    def test_platforms_keep_their_first_sighting(self, store: Store) -> None:
        """Re-recording the catalog updates names but not when a platform was first seen."""
        facebook = Platform(name="facebook", display_name="Facebook", family="meta", checks=())
        store.record_platforms([facebook], now=T0)
        store.record_platforms([facebook], now=T0 + MINUTE)
        assert store.platforms() == {"facebook": T0}


class TestDecision:
    """A decision is written whole, once, in one transaction."""

    def test_returns_incidents_with_ids(self, store: Store) -> None:
        """The incidents come back as stored, numbered, with everything else written."""
        [incident] = opening_decision(store)
        assert incident.id is not None
        assert incident == meta_incident(id=incident.id)
        assert store.incident(incident.id) == incident
        assert store.incident(incident.key) == incident
        assert store.incident(999) is None
        assert [t.platform for t in store.transitions(since=T0)] == ["facebook", "whatsapp"]
        assert [n.contact_ref for n in store.notices(incident.id)] == ["contacts[0]", "contacts[1]"]
        assert store.connectivity_events(since=T0 - MINUTE) == [
            ConnectivityRecord(kind=ConnectivityEvent.restored, at=T0 - MINUTE)
        ]

    def test_replay_changes_nothing(self, store: Store) -> None:
        """The same decision twice (a crash before acknowledging) gives one of everything."""
        first = opening_decision(store)
        again = opening_decision(store)
        assert first == again
        assert len(store.open_incidents()) == 1
        assert len(store.transitions(since=T0)) == 2
        assert len(store.connectivity_events()) == 1
        assert store.outbox_counts()[NoticeState.pending] == 2

    def test_failure_midway_writes_nothing(self, store: Store) -> None:
        """When the last row of a decision is invalid, none of the earlier rows remain."""
        with pytest.raises(StoreError, match="no incident with key 'nope'"):
            store.record_decision(
                at=T0,
                transitions=[went_down("facebook")],
                incident_events=[(IncidentEvent.opened, meta_incident())],
                state={"round": 1},
                notices=[notice("contacts[0]"), notice("contacts[1]", incident_key="nope")],
            )
        with pytest.raises(StoreError, match="naive datetime"):
            store.record_decision(
                at=T0,
                incident_events=[(IncidentEvent.opened, meta_incident())],
                transitions=[went_down("facebook"), went_down("whatsapp", at=T0.replace(tzinfo=None))],
            )
        assert store.open_incidents() == []
        assert store.transitions(since=T0 - timedelta(days=1)) == []
        assert store.load_state() is None
        assert store.outbox_counts()[NoticeState.pending] == 0

    def test_unserialisable_state_writes_nothing(self, store: Store) -> None:
        """A state snapshot that is not JSON fails the whole decision."""
        with pytest.raises(StoreError):
            store.record_decision(
                at=T0,
                incident_events=[(IncidentEvent.opened, meta_incident())],
                state={"since": T0},
            )
        assert store.open_incidents() == []

    def test_update_keeps_history_and_takes_news(self, store: Store) -> None:
        """Confirmation and resolution times stick; kind, platforms and evidence follow the judge."""
        opening_decision(store)
        confirmed = meta_incident(
            confirmed_at=T0 + MINUTE,
            platforms=("facebook", "whatsapp", "instagram"),
            evidence=("authoritative DNS timed out", "public resolvers SERVFAIL"),
        )
        store.record_decision(at=T0 + MINUTE, incident_events=[(IncidentEvent.confirmed, confirmed)])
        resolved = meta_incident(confirmed_at=None, resolved_at=T0 + 6 * 60 * MINUTE)
        [stored] = store.record_decision(
            at=T0 + 6 * 60 * MINUTE, incident_events=[(IncidentEvent.resolved, resolved)]
        )
        assert stored.confirmed_at == T0 + MINUTE
        assert stored.resolved_at == T0 + 6 * 60 * MINUTE
        assert stored.platforms == ("facebook", "whatsapp")
        assert store.open_incidents() == []

    def test_updates_without_events(self, store: Store) -> None:
        """Silent updates escalate a kind, widen a family incident and close a folded one."""
        instagram = meta_incident(
            key="platform:instagram",
            scope=IncidentScope.platform,
            kind=IncidentKind.degraded,
            name="instagram",
            platforms=("instagram",),
            opened_at=T0 + MINUTE,
        )
        opening_decision(store)
        store.record_decision(at=T0 + MINUTE, incident_events=[(IncidentEvent.opened, instagram)])
        folded = replace(
            instagram, kind=IncidentKind.unreachable, resolved_at=T0 + 2 * MINUTE, cause="merged into family"
        )
        widened = meta_incident(opened_at=T0 - MINUTE, platforms=("facebook", "whatsapp", "instagram"))
        returned = store.record_decision(at=T0 + 2 * MINUTE, incident_updates=[folded, widened])
        assert [i.key for i in returned] == ["platform:instagram", meta_incident().key]
        [family] = store.open_incidents()
        assert family.platforms == ("facebook", "whatsapp", "instagram")
        assert family.opened_at == T0 - MINUTE
        closed = store.incident("platform:instagram")
        assert closed is not None
        assert (closed.kind, closed.resolved_at, closed.cause) == (
            IncidentKind.unreachable,
            T0 + 2 * MINUTE,
            "merged into family",
        )

    def test_notices_are_keyed_by_event_and_contact(self, store: Store) -> None:
        """A later event, or a repeated event with its own key, queues a new notice."""
        [incident] = opening_decision(store)
        store.record_decision(
            at=T0 + MINUTE,
            notices=[
                notice("contacts[0]", IncidentEvent.confirmed),
                notice("contacts[0]", IncidentEvent.reminder, event_key=f"{incident.key}/reminder/1"),
                notice("contacts[0]", IncidentEvent.reminder, event_key=f"{incident.key}/reminder/1"),
                notice("contacts[0]", IncidentEvent.reminder, event_key=f"{incident.key}/reminder/2"),
            ],
        )
        assert len(store.notices(assert_id(incident))) == 5

    def test_channel_urls_are_refused(self, store: Store) -> None:
        """A channel is stored by reference; something that looks like a URL is a bug."""
        with pytest.raises(ValueError, match="never a URL"):
            store.record_decision(at=T0, notices=[notice("c", channel_ref="tgram://secret-token/123")])


class TestRestart:
    """What a daemon needs after a restart is still there."""

    def test_open_incidents_and_state_survive(self, open_store: Callable[[], Store]) -> None:
        """Close, reopen: the open incident and the judge's state are as written."""
        first = open_store()
        [incident] = opening_decision(first)
        first.record_decision(
            at=T0 + MINUTE,
            incident_events=[
                (IncidentEvent.opened, meta_incident(key="platform:x", name="x", platforms=("x",)))
            ],
        )
        first.record_decision(
            at=T0 + 2 * MINUTE,
            incident_events=[
                (
                    IncidentEvent.resolved,
                    meta_incident(key="platform:x", name="x", platforms=("x",), resolved_at=T0),
                )
            ],
        )
        first.close()
        second = open_store()
        assert second.open_incidents() == [incident]
        assert second.load_state() == {"platforms": {"facebook": "down"}, "round": 7}


class TestJudgeState:
    """The judge's snapshot is one row, replaced by each decision that carries one."""

    def test_round_trip_and_replace(self, store: Store) -> None:
        """Nested JSON comes back equal; a decision without state leaves it alone."""
        assert store.load_state() is None
        state = {"platforms": {"facebook": {"health": "down", "fails": [1, 2]}}, "flag": True, "x": None}
        store.record_decision(at=T0, state=state)
        store.record_decision(at=T0 + MINUTE, state=None)
        assert store.load_state() == state
        store.record_decision(at=T0 + 2 * MINUTE, state={"round": 2})
        assert store.load_state() == {"round": 2}


class TestJournal:
    """The journal lists incidents with what became of their notices."""

    def _fill(self, store: Store) -> None:
        day = timedelta(days=1)
        old = meta_incident(key="old", platforms=("telegram",), name="telegram", resolved_at=T0 - day)
        old = replace_times(old, opened_at=T0 - 2 * day)
        store.record_decision(at=T0 - 2 * day, incident_events=[(IncidentEvent.opened, old)])
        opening_decision(store)
        signal = meta_incident(
            key="signal",
            scope=IncidentScope.platform,
            name="signal",
            platforms=("signal",),
            opened_at=T0 + MINUTE,
        )
        store.record_decision(at=T0 + MINUTE, incident_events=[(IncidentEvent.opened, signal)])
        [sent, failed] = store.claim_notices(now=T0, limit=2)
        store.mark_notice(sent.id, NoticeState.sent, now=T0)
        store.mark_notice(failed.id, NoticeState.failed, now=T0, error="SMTP 550")

    def test_counts_and_filters(self, store: Store) -> None:
        """``since`` keeps incidents still open after it; ``platform`` those touching it."""
        self._fill(store)
        every = store.incidents()
        assert [e.incident.key for e in every] == ["old", meta_incident().key, "signal"]
        meta = every[1]
        assert (meta.notices_sent, meta.notices_failed, meta.notices_skipped, meta.notices_pending) == (
            1,
            1,
            0,
            0,
        )
        assert every[2].notices_sent == every[2].notices_failed == 0
        assert [e.incident.key for e in store.incidents(since=T0 - timedelta(hours=1))] == [
            meta_incident().key,
            "signal",
        ]
        assert [e.incident.key for e in store.incidents(platform="whatsapp")] == [meta_incident().key]
        assert [e.incident.key for e in store.incidents(since=T0, platform="telegram")] == []


class TestLatestHealth:
    """``failover status`` reads each platform's health from its latest transition."""

    def test_latest_transition_wins(self, store: Store) -> None:
        """The newest transition of each platform, with its time."""
        up_again = Transition(
            platform="facebook",
            previous=Health.down,
            current=Health.up,
            at=T0 + 60 * MINUTE,
            reason="recovered",
        )
        store.record_decision(at=T0, transitions=[went_down("facebook"), went_down("signal", T0 + MINUTE)])
        store.record_decision(at=T0 + 60 * MINUTE, transitions=[up_again])
        assert store.latest_health() == {
            "facebook": (Health.up, T0 + 60 * MINUTE),
            "signal": (Health.down, T0 + MINUTE),
        }

    def test_empty(self, store: Store) -> None:
        """A fresh database knows no health."""
        assert store.latest_health() == {}


def replace_times(incident: Incident, *, opened_at: datetime) -> Incident:
    return replace(incident, opened_at=opened_at)


def assert_id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
