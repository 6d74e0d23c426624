"""The imported address book in the store: contacts streamed in import order a page at a
time, read by id, written by an import all or nothing; ``Store.batch()``;
``Store.open_existing()``; migration 0008; claims taken in one statement by a holder."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

import failover.store._contacts
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState, StoredContact
from failover.errors import StoreError
from failover.store import DeliveryOutcome, NoticeDraft, Store
from failover.store._migrate import HEAD_REVISION, alembic_config, current_revision
from failover.store._schema import contacts as contacts_table
from failover.store._schema import metadata

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
#: generous bound on any wait for another thread; never an assertion on durations
CAP = 30.0

ANNA = StoredContact(
    id="anna-kowalska",
    name="Anna Kowalska-Żółć",
    language="pl",
    timezone="Europe/Warsaw",
    groups=("rodzina", "ops"),
    channels=({"email": "anna+alerts@example.org"}, {"signal": "+48 600 100 200"}),
)
BJORN = StoredContact(
    id="bjørn",
    name="Bjørn Ødegård",
    language="nb",
    timezone=None,
    groups=(),
    channels=({"url": "ntfy://ntfy.example.org/bjørn-secret-topic", "visibility": "private"},),
)
CHEN = StoredContact(
    id="chen",
    name="陈小明",
    language="zh",
    timezone="Asia/Shanghai",
    groups=("ops",),
    channels=({"email": "chen+failover+night@example.cn"},),
)
ZOE = StoredContact(
    id="a-zoe",
    name="Zoë 🙂",
    language="fr",
    timezone=None,
    groups=("famille",),
    channels=(),
)
#: insertion order differs from the order of ids and of names
PEOPLE = (ANNA, BJORN, CHEN, ZOE)


def person(i: int, *, groups: tuple[str, ...] = ()) -> StoredContact:
    return StoredContact(
        id=f"p{i:03d}",
        name=f"Person {i}",
        language="en",
        timezone=None,
        groups=groups,
        channels=({"email": f"p{i}@example.org"},),
    )


def raw_rows(store: Store) -> list[dict[str, Any]]:
    """Every column of every row, by ``seq``: what an unchanged table keeps."""
    with store._engine.connect() as conn:
        rows = conn.execute(select(contacts_table).order_by(contacts_table.c.seq)).mappings().all()
    return [dict(row) for row in rows]


class TestRoundTrip:
    """What an import wrote comes back as it was, in import order."""

    def test_every_field_comes_back_in_insertion_order(self, store: Store) -> None:
        assert store.contact_count() == 0
        assert list(store.stored_contacts()) == []
        store.save_contacts(added=PEOPLE, now=T0)
        back = list(store.stored_contacts())
        assert back == list(PEOPLE)
        assert [c.channels for c in back] == [c.channels for c in PEOPLE]
        assert back[1].channels == (
            {"url": "ntfy://ntfy.example.org/bjørn-secret-topic", "visibility": "private"},
        )
        assert back[1].timezone is None
        assert back[0].groups == ("rodzina", "ops")
        # tuples, as the frozen dataclass is declared (hashable, never a list from JSON)
        assert {type(c.groups) for c in back} | {type(c.channels) for c in back} == {tuple}
        assert store.contact_count() == 4
        assert list(store.contact_names()) == [(c.id, c.name) for c in PEOPLE]

    def test_a_second_import_appends_after_the_first(self, store: Store) -> None:
        store.save_contacts(added=[CHEN, ZOE], now=T0)
        store.save_contacts(added=[BJORN, ANNA], now=T1)
        assert [c.id for c in store.stored_contacts()] == ["chen", "a-zoe", "bjørn", "anna-kowalska"]
        assert store.contact_count() == 4

    def test_an_empty_call_changes_nothing(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        before = raw_rows(store)
        store.save_contacts(now=T1)
        assert raw_rows(store) == before


class TestStreaming:
    """The address book is read a page at a time and every page is read."""

    @pytest.mark.parametrize("count", [9, 10])
    def test_pages_are_crossed_in_order(
        self, store: Store, monkeypatch: pytest.MonkeyPatch, count: int
    ) -> None:
        """With 3 rows a page, 9 (a full last page) and 10 (a short one) all come back."""
        monkeypatch.setattr(failover.store._contacts, "PAGE", 3)
        people = [person(i) for i in range(count)]
        store.save_contacts(added=people, now=T0)
        assert list(store.stored_contacts()) == people
        assert list(store.contact_names()) == [(p.id, p.name) for p in people]
        assert store.contact_count() == count

    def test_pages_after_gaps_left_by_removals(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(failover.store._contacts, "PAGE", 3)
        people = [person(i) for i in range(10)]
        store.save_contacts(added=people, now=T0)
        gone = {"p000", "p003", "p004", "p005", "p009"}
        store.save_contacts(removed=gone, now=T1)
        kept = [p for p in people if p.id not in gone]
        assert list(store.stored_contacts()) == kept
        assert list(store.contact_names()) == [(p.id, p.name) for p in kept]

    def test_groups_filter_across_pages(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """Pages holding nobody of the group do not end the stream."""
        monkeypatch.setattr(failover.store._contacts, "PAGE", 3)
        groups: dict[int, tuple[str, ...]] = {1: ("ops",), 7: ("ops", "oncall"), 8: ("oncall",), 9: ("ops",)}
        people = [person(i, groups=groups.get(i, ("everyone",))) for i in range(10)]
        store.save_contacts(added=people, now=T0)
        assert [c.id for c in store.stored_contacts(groups=["ops"])] == ["p001", "p007", "p009"]
        assert [c.id for c in store.stored_contacts(groups={"oncall"})] == ["p007", "p008"]
        assert [c.id for c in store.stored_contacts(groups=("oncall", "ops"))] == [
            "p001",
            "p007",
            "p008",
            "p009",
        ]
        assert list(store.stored_contacts(groups=["nobody"])) == []
        assert list(store.stored_contacts(groups=[])) == []
        assert len(list(store.stored_contacts(groups=None))) == 10

    @pytest.mark.slow
    def test_the_real_page_size_is_crossed_too(self, store: Store) -> None:
        """More contacts than one real page: none lost, none repeated."""
        total = failover.store._contacts.PAGE + 7
        people = [person(i) for i in range(total)]
        store.save_contacts(added=people, now=T0)
        assert [c.id for c in store.stored_contacts()] == [p.id for p in people]
        assert store.contact_count() == total


class TestById:
    """Contacts are read by id in chunks of ids."""

    def test_ids_over_several_chunks(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(failover.store._contacts, "_IDS_AT_ONCE", 2)
        people = [person(i) for i in range(9)]
        store.save_contacts(added=people, now=T0)
        wanted = ["p008", "p000", "nobody", "p004", "p004", "p007", "p001", "p000", "zzz", "p003"]
        found = store.stored_contacts_by_id(wanted)
        assert set(found) == {"p000", "p001", "p003", "p004", "p007", "p008"}
        assert all(found[key] == people[int(key[1:])] for key in found)

    def test_every_id_of_many_chunks(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(failover.store._contacts, "_IDS_AT_ONCE", 3)
        people = [person(i) for i in range(11)]
        store.save_contacts(added=people, now=T0)
        found = store.stored_contacts_by_id([p.id for p in reversed(people)])
        assert found == {p.id: p for p in people}

    def test_non_ascii_ids_and_nothing_asked(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        assert store.stored_contacts_by_id(["bjørn"]) == {"bjørn": BJORN}
        assert store.stored_contacts_by_id([]) == {}
        assert store.stored_contacts_by_id(["unknown"]) == {}

    def test_removal_over_several_chunks(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(failover.store._contacts, "_IDS_AT_ONCE", 2)
        people = [person(i) for i in range(8)]
        store.save_contacts(added=people, now=T0)
        store.save_contacts(removed=["p006", "p001", "p002", "p003", "p005", "unknown"], now=T1)
        assert [c.id for c in store.stored_contacts()] == ["p000", "p004", "p007"]


class TestChanges:
    """An import rewrites changed contacts in place and deletes removed ones."""

    def test_changed_contacts_keep_their_place(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        seqs = [row["seq"] for row in raw_rows(store)]
        new_bjorn = replace(
            BJORN,
            name="Bjørn Ødegård-Lie",
            language="en",
            timezone="Europe/Oslo",
            groups=("ops", "nattevakt"),
            channels=(
                {"email": "bjorn+ny@example.no"},
                {"url": "mailto://x@example.no", "visibility": "private"},
            ),
        )
        new_anna = replace(ANNA, timezone=None, groups=(), channels=())
        store.save_contacts(changed=[new_bjorn, new_anna], now=T1)
        assert list(store.stored_contacts()) == [new_anna, new_bjorn, CHEN, ZOE]
        rows = raw_rows(store)
        assert [row["seq"] for row in rows] == seqs
        assert [row["updated_at"] for row in rows] == [T1, T1, T0, T0]
        assert store.stored_contacts_by_id(["bjørn"]) == {"bjørn": new_bjorn}

    def test_two_contacts_swap_names_in_one_import(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        swapped = [replace(ANNA, name=CHEN.name), replace(CHEN, name=ANNA.name)]
        store.save_contacts(changed=swapped, now=T1)
        assert list(store.contact_names()) == [
            (ANNA.id, CHEN.name),
            (BJORN.id, BJORN.name),
            (CHEN.id, ANNA.name),
            (ZOE.id, ZOE.name),
        ]

    def test_three_contacts_rotate_names_in_one_import(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        rotated = [
            replace(ANNA, name=BJORN.name),
            replace(BJORN, name=CHEN.name),
            replace(CHEN, name=ANNA.name),
        ]
        store.save_contacts(changed=rotated, now=T1)
        assert [name for _id, name in store.contact_names()] == [BJORN.name, CHEN.name, ANNA.name, ZOE.name]

    def test_a_changed_contact_keeping_its_name(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        store.save_contacts(changed=[replace(ZOE, language="de")], now=T1)
        assert store.stored_contacts_by_id([ZOE.id])[ZOE.id] == replace(ZOE, language="de")

    def test_removed_contacts_are_deleted(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        store.save_contacts(removed={BJORN.id, ZOE.id}, now=T1)
        assert list(store.stored_contacts()) == [ANNA, CHEN]
        assert store.contact_count() == 2
        assert store.stored_contacts_by_id([BJORN.id, ZOE.id]) == {}

    def test_names_freed_in_an_import_are_taken_in_the_same_import(self, store: Store) -> None:
        """A removed contact's name goes to an added one, a renamed contact's old name to
        another added one, and a removed id comes back as a new contact, at the end."""
        store.save_contacts(added=PEOPLE, now=T0)
        newcomer = replace(person(1), name=BJORN.name)
        second = replace(person(2), name=ANNA.name)
        again = replace(ZOE, name="Zoë again")
        store.save_contacts(
            added=[newcomer, second, again],
            changed=[replace(ANNA, name="Anna K.")],
            removed=[BJORN.id, ZOE.id],
            now=T1,
        )
        assert list(store.stored_contacts()) == [replace(ANNA, name="Anna K."), CHEN, newcomer, second, again]


class TestAllOrNothing:
    """An import that fails leaves the address book as it was, and says so without
    personal data."""

    @pytest.mark.parametrize(
        "clash",
        [
            pytest.param(replace(ANNA, name="Someone Else"), id="same-id"),
            pytest.param(replace(person(5), name=ANNA.name), id="same-name"),
        ],
    )
    def test_a_clash_rolls_back_the_whole_call(self, store: Store, clash: StoredContact) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        before = raw_rows(store)
        with pytest.raises(StoreError) as caught:
            store.save_contacts(
                added=[person(1), clash],
                changed=[
                    replace(CHEN, name="Chen renamed", groups=("moved",)),
                    replace(BJORN, language="sv"),
                ],
                removed=[ZOE.id],
                now=T1,
            )
        message = str(caught.value)
        assert message.startswith("cannot write the address book")
        for secret in (
            ANNA.id,
            ANNA.name,
            "Kowalska",
            "anna+alerts@example.org",
            "example.org",
            "Someone Else",
            "p005",
            "Chen renamed",
        ):
            assert secret not in message
        assert raw_rows(store) == before
        assert list(store.stored_contacts()) == list(PEOPLE)

    def test_a_clash_within_the_added_rolls_back(self, store: Store) -> None:
        store.save_contacts(added=[ANNA], now=T0)
        before = raw_rows(store)
        with pytest.raises(StoreError):
            store.save_contacts(added=[person(1), person(2), replace(person(3), id="p001")], now=T1)
        assert raw_rows(store) == before

    def test_the_store_is_usable_after_a_failed_import(self, store: Store) -> None:
        store.save_contacts(added=PEOPLE, now=T0)
        with pytest.raises(StoreError):
            store.save_contacts(added=[ANNA], now=T1)
        store.save_contacts(added=[person(1)], now=T1)
        assert [c.id for c in store.stored_contacts()] == [*(c.id for c in PEOPLE), "p001"]


INCIDENT = Incident(
    key="platform:signal:20270301T0900Z",
    scope=IncidentScope.platform,
    kind=IncidentKind.unreachable,
    name="signal",
    platforms=("signal",),
    opened_at=T0,
)


def queue(store: Store, count: int) -> int:
    """Open the incident with ``count`` due notices; returns the incident's id."""
    [incident] = store.record_decision(
        at=T0,
        incident_events=[(IncidentEvent.opened, INCIDENT)],
        notices=[
            NoticeDraft(
                incident_key=INCIDENT.key,
                event=IncidentEvent.opened,
                contact_ref=f"contacts[{i}]",
                template="outage",
            )
            for i in range(count)
        ],
    )
    assert incident.id is not None
    return incident.id


def settle(store: Store, notice_ids: Sequence[int]) -> None:
    for notice_id in notice_ids:
        store.record_delivery(
            notice_id, at=T1, channel_ref="contacts[x].channels[0]", outcome=DeliveryOutcome.sent
        )
        assert store.mark_notice(notice_id, NoticeState.sent, now=T1, holder="pump")


class BoomError(Exception):
    """Raised inside a batch by the test."""


def warm(store: Store) -> None:
    """Leave two idle connections in the pool, so that a read during a batch opens none
    (see ``test_a_reader_opening_the_database_during_a_batch``)."""
    with store._engine.connect(), store._engine.connect():
        pass


class TestBatch:
    """``Store.batch()``: the writes inside are one transaction."""

    def test_writes_inside_commit_together(self, store: Store) -> None:
        incident_id = queue(store, 3)
        claimed = [n.id for n in store.claim_notices(now=T0, limit=3, holder="pump")]
        warm(store)
        with store.batch():
            store.save_contacts(added=[ANNA, BJORN], now=T0)
            store.save_contacts(added=[CHEN], changed=[replace(ANNA, language="de")], now=T0)
            settle(store, claimed[:2])
            # another connection sees none of it yet
            assert store.contact_count() == 0
            assert store.deliveries(claimed[0]) == []
            assert {n.state for n in store.notices(incident_id)} == {NoticeState.sending}
        assert list(store.stored_contacts()) == [replace(ANNA, language="de"), BJORN, CHEN]
        states = {n.id: (n.state, n.attempts) for n in store.notices(incident_id)}
        assert states == {
            claimed[0]: (NoticeState.sent, 1),
            claimed[1]: (NoticeState.sent, 1),
            claimed[2]: (NoticeState.sending, 0),
        }
        assert len(store.deliveries(claimed[1])) == 1

    def test_an_exception_inside_rolls_back_every_write(self, store: Store) -> None:
        incident_id = queue(store, 2)
        claimed = [n.id for n in store.claim_notices(now=T0, limit=2, holder="pump")]
        store.save_contacts(added=[ZOE], now=T0)
        before = raw_rows(store)

        def failing_batch() -> None:
            with store.batch():
                store.save_contacts(added=[ANNA, BJORN], now=T1)
                store.save_contacts(changed=[replace(ZOE, name="Zoë changed")], removed=[ANNA.id], now=T1)
                settle(store, claimed)
                raise BoomError

        with pytest.raises(BoomError):
            failing_batch()
        assert raw_rows(store) == before
        assert all(n.state is NoticeState.sending and n.attempts == 0 for n in store.notices(incident_id))
        assert all(store.deliveries(notice_id) == [] for notice_id in claimed)
        # and the store writes on afterwards
        store.save_contacts(added=[ANNA], now=T1)
        assert [c.id for c in store.stored_contacts()] == [ZOE.id, ANNA.id]

    def test_a_failed_write_inside_rolls_back_the_earlier_ones(self, store: Store) -> None:
        """A write the database refuses, raised out of the batch, takes the batch's other
        writes with it."""
        store.save_contacts(added=[ANNA], now=T0)
        before = raw_rows(store)

        def failing_batch() -> None:
            with store.batch():
                store.save_contacts(added=[BJORN], now=T1)
                store.save_contacts(added=[replace(CHEN, id=ANNA.id)], now=T1)

        with pytest.raises(StoreError):
            failing_batch()
        assert raw_rows(store) == before

    def test_a_nested_batch_is_the_outer_ones_transaction(self, store: Store) -> None:
        warm(store)
        with store.batch():
            store.save_contacts(added=[ANNA], now=T0)
            with store.batch():
                store.save_contacts(added=[BJORN], now=T0)
            # the inner batch's end committed nothing
            assert store.contact_count() == 0
            store.save_contacts(added=[CHEN], now=T0)
        assert [c.id for c in store.stored_contacts()] == [ANNA.id, BJORN.id, CHEN.id]

    @pytest.mark.parametrize("raised_in", ["outer", "inner"])
    def test_an_exception_rolls_back_the_nested_batch_with_the_outer(
        self, store: Store, raised_in: str
    ) -> None:
        def failing_batch() -> None:
            with store.batch():
                store.save_contacts(added=[ANNA], now=T0)
                with store.batch():
                    store.save_contacts(added=[BJORN], now=T0)
                    if raised_in == "inner":
                        raise BoomError
                store.save_contacts(added=[CHEN], now=T0)
                raise BoomError

        with pytest.raises(BoomError):
            failing_batch()
        assert store.contact_count() == 0
        assert list(store.stored_contacts()) == []

    def test_a_batch_is_this_threads_only(self, store: Store) -> None:
        """Another thread's write during a batch is its own transaction, not the batch's:
        the batch rolling back does not take it along."""
        if store.backend == "sqlite":
            pytest.skip("on SQLite the other thread waits for the batch: see TestBatchOnSQLite")
        done = threading.Event()
        errors: list[BaseException] = []

        def other() -> None:
            try:
                store.save_contacts(added=[CHEN], now=T0)
            except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=other)

        def failing_batch() -> None:
            with store.batch():
                store.save_contacts(added=[ANNA], now=T0)
                thread.start()
                assert done.wait(CAP)
                raise BoomError

        with pytest.raises(BoomError):
            failing_batch()
        thread.join(CAP)
        assert errors == []
        assert [c.id for c in store.stored_contacts()] == [CHEN.id]

    def test_a_reader_opening_the_database_during_a_batch(self, store: Store, store_url: str) -> None:
        """A reader that opens the database while a batch is open (``failover contacts
        list`` while the daemon settles a fan-out) reads what was committed, without
        waiting for the batch: on SQLite, WAL lets readers in beside the writer (a new
        connection sets nothing that needs the write lock)."""
        store.save_contacts(added=[ZOE], now=T0)
        seen: list[int] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def reader() -> None:
            try:
                with Store.open(store_url) as other:
                    seen.append(other.contact_count())
            except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=reader)
        with store.batch():
            store.save_contacts(added=[ANNA], now=T0)
            thread.start()
            finished = done.wait(CAP)
        thread.join(CAP)
        assert finished
        assert errors == []
        assert seen == [1]


@pytest.mark.slow
class TestBatchOnSQLite:
    """On SQLite a batch holds the write lock: another thread's write waits until it ends."""

    @pytest.fixture
    def sqlite_url(self, tmp_path: Path) -> str:
        url = f"sqlite:///{tmp_path / 'failover.sqlite'}"
        with Store.open(url) as store:
            store.upgrade()
        return url

    @pytest.mark.parametrize("same_store", [True, False], ids=["same-store", "other-store"])
    def test_another_threads_write_waits_for_the_batch(self, sqlite_url: str, same_store: bool) -> None:
        with Store.open(sqlite_url) as store, Store.open(sqlite_url) as elsewhere:
            writer = store if same_store else elsewhere
            events: list[str] = []
            about_to_write = threading.Event()
            wrote = threading.Event()
            errors: list[BaseException] = []

            def other() -> None:
                try:
                    about_to_write.set()
                    writer.save_contacts(added=[CHEN], now=T1)
                    events.append("other thread wrote")
                except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
                    errors.append(exc)
                finally:
                    wrote.set()

            thread = threading.Thread(target=other)
            with store.batch():
                store.save_contacts(added=[ANNA], now=T0)
                thread.start()
                assert about_to_write.wait(CAP)
                # the other write would have landed by now if it did not wait (a pause,
                # not a measure: the test's verdict is the order of events below)
                assert not wrote.wait(0.5)
                store.save_contacts(added=[BJORN], now=T0)
                events.append("batch ends")
            thread.join(CAP)
            assert not thread.is_alive()
            assert errors == []
            assert events == ["batch ends", "other thread wrote"]
            assert [c.id for c in store.stored_contacts()] == [ANNA.id, BJORN.id, CHEN.id]


class TestOpenExisting:
    """``Store.open_existing``: a database that exists and holds the table, or None, and
    nothing created on the way."""

    def test_a_missing_sqlite_file_is_none_and_nothing_is_created(self, tmp_path: Path) -> None:
        directory = tmp_path / "not" / "there"
        path = directory / "failover.sqlite"
        assert Store.open_existing(f"sqlite:///{path}", table="contacts") is None
        assert not path.exists()
        assert not directory.exists()
        assert not (tmp_path / "not").exists()

    def test_a_missing_file_in_an_existing_directory(self, tmp_path: Path) -> None:
        path = tmp_path / "failover.sqlite"
        assert Store.open_existing(f"sqlite:///{path}", table="contacts") is None
        assert list(tmp_path.iterdir()) == []

    def test_a_directory_is_not_a_database(self, tmp_path: Path) -> None:
        assert Store.open_existing(f"sqlite:///{tmp_path}", table="contacts") is None

    @pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
    def test_an_in_memory_database_is_none(self, url: str) -> None:
        assert Store.open_existing(url, table="contacts") is None

    def test_a_sqlite_database_without_the_table(self, tmp_path: Path) -> None:
        path = tmp_path / "other.sqlite"
        with sqlite3.connect(path) as raw:
            raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
            raw.execute("INSERT INTO notes (text) VALUES ('kept')")
        raw.close()
        assert Store.open_existing(f"sqlite:///{path}", table="contacts") is None
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [
                ("notes",)
            ]
            assert raw.execute("SELECT text FROM notes").fetchall() == [("kept",)]
        raw.close()

    def test_an_existing_database_without_the_table(self, store_url: str) -> None:
        """An empty database (a PostgreSQL schema with no table, an empty SQLite file)."""
        with Store.open(store_url):
            pass  # creates the SQLite file (empty), or nothing on PostgreSQL
        assert Store.open_existing(store_url, table="contacts") is None
        assert Store.open_existing(store_url, table="incidents") is None

    def test_a_migrated_database(self, store_url: str) -> None:
        with Store.open(store_url) as store:
            store.upgrade()
            store.save_contacts(added=PEOPLE, now=T0)
        opened = Store.open_existing(store_url, table="contacts")
        assert opened is not None
        with opened:
            assert isinstance(opened, Store)
            assert opened.contact_count() == 4
            assert list(opened.stored_contacts()) == list(PEOPLE)
        assert Store.open_existing(store_url, table="no_such_table") is None

    def test_shown_url_hides_the_password(self) -> None:
        shown = Store.shown_url("postgresql+psycopg://failover:s3cr3t-pw@db.example.org:5432/failover")
        assert "s3cr3t-pw" not in shown
        assert shown == "postgresql+psycopg://failover:***@db.example.org:5432/failover"
        assert Store.shown_url("not a url at all") == "an invalid database URL"
        assert Store.shown_url("sqlite:////var/lib/failover/failover.sqlite") == (
            "sqlite:////var/lib/failover/failover.sqlite"
        )


class TestMigration0008:
    """A database of revision 0007 takes the address book, and gives it back."""

    def test_upgrade_from_0007_and_back(self, store_url: str) -> None:
        with Store.open(store_url) as store:
            with store._engine.begin() as conn:
                command.upgrade(alembic_config(conn), "0007")
            with store._engine.connect() as conn:
                assert current_revision(conn) == "0007"
                assert not inspect(conn).has_table("contacts")

            store.upgrade()
            with store._engine.connect() as conn:
                assert current_revision(conn) == HEAD_REVISION
                assert inspect(conn).has_table("contacts")
                diff = compare_metadata(
                    MigrationContext.configure(conn, opts={"compare_type": True}), metadata
                )
                unique = {tuple(u["column_names"]) for u in inspect(conn).get_unique_constraints("contacts")}
            assert diff == []
            assert {("id",), ("name",)} <= unique
            store.save_contacts(added=PEOPLE, now=T0)
            assert list(store.stored_contacts()) == list(PEOPLE)

            with store._engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0007")
            with store._engine.connect() as conn:
                assert current_revision(conn) == "0007"
                assert not inspect(conn).has_table("contacts")
                assert inspect(conn).has_table("notices")  # the rest stays

            store.upgrade()
            assert store.contact_count() == 0
            store.save_contacts(added=[ZOE], now=T1)
            assert list(store.stored_contacts()) == [ZOE]


class TestClaimsByHolder:
    """A holder claims its due batch with one statement: what it gets back is what it holds."""

    def test_a_holder_gets_what_it_claimed(self, store: Store) -> None:
        incident_id = queue(store, 5)
        mine = store.claim_notices(now=T0, limit=3, holder="host:1:a", lease=timedelta(seconds=60))
        assert [n.contact_ref for n in mine] == ["contacts[0]", "contacts[1]", "contacts[2]"]
        assert all(n.state is NoticeState.sending for n in mine)
        assert {(n.claimed_by, n.claimed_at, n.lease_until) for n in mine} == {
            ("host:1:a", T0, T0 + timedelta(seconds=60))
        }
        theirs = store.claim_notices(now=T0, limit=50, holder="host:2:b")
        assert [n.contact_ref for n in theirs] == ["contacts[3]", "contacts[4]"]
        assert store.claim_notices(now=T0, limit=50, holder="host:1:a") == []
        held = {n.id: n.claimed_by for n in store.notices(incident_id)}
        assert held == {n.id: "host:1:a" for n in mine} | {n.id: "host:2:b" for n in theirs}

    def test_two_stores_claiming_in_batches_never_share_a_notice(
        self, open_store: Callable[[], Store]
    ) -> None:
        """Two dispatchers (two engines, one database) claim concurrently, 40 at a time:
        each notice goes to exactly one of them, and together they take every due one."""
        first, second = open_store(), open_store()
        total = 600
        incident_id = queue(first, total)
        holders = {"host:1:first": first, "host:2:second": second}
        got: dict[str, list[int]] = {holder: [] for holder in holders}
        errors: list[BaseException] = []
        start = threading.Barrier(len(holders))

        def dispatch(holder: str, store: Store) -> None:
            try:
                start.wait(CAP)
                while batch := store.claim_notices(now=T0, limit=40, holder=holder):
                    assert all(n.claimed_by == holder and n.state is NoticeState.sending for n in batch)
                    got[holder].extend(n.id for n in batch)
            except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=dispatch, args=item) for item in holders.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(CAP * 4)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        together = got["host:1:first"] + got["host:2:second"]
        assert len(together) == total
        assert len(set(together)) == total
        stored = store_claims(first, incident_id)
        assert set(stored) == set(together)
        assert all(stored[i] == "host:1:first" for i in got["host:1:first"])
        assert all(stored[i] == "host:2:second" for i in got["host:2:second"])


def store_claims(store: Store, incident_id: int) -> dict[int, str | None]:
    return {n.id: n.claimed_by for n in store.notices(incident_id) if n.state is NoticeState.sending}
