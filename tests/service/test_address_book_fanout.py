"""The fan-out over the imported address book (the ``contacts`` table): the channel
directory that looks contacts up by ref and keeps them a while, the group commit that
settles many outbox writes per transaction, planning in one pass over the address book,
and a daemon that tells contacts imported while it runs, without a reload.

Everything runs on 127.0.0.1: SQLite files in ``tmp_path``, an SMTP sink, a daemon
subprocess; the built-in catalog is never used.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from failover.config import Config, load_config
from failover.domain import (
    Contact,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    StoredContact,
)
from failover.errors import StoreError
from failover.service import (
    close_address_books,
    find_target,
    import_contacts,
    open_store,
    plan_manual,
    plan_notices,
)
from failover.service._channels import ChannelDirectory
from failover.service._outbox import _GroupCommit
from failover.store import NoticeDraft, Store
from failover.store import _contacts as contact_rows
from tests.e2e.conftest import Daemon, run_cli, wait_until
from tests.kit import SmtpSink, free_port
from tests.outage import per_recipient

NOW = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)
FROM = "failover@example.org"
#: how long a condition of the end-to-end test may take (generous: CI machines)
FANOUT_S = 120.0


# ------------------------------------------------------------------------------ configuration


def config_text(tmp_path: Path, *, smtp: int = 9) -> str:
    """Routes ra (groups a, template ta, and the shared channel ops), rb (b, tb), rc (c, tc);
    group d, which no route names; one contact written in the file, ``written`` (groups
    b then a)."""
    templates = "".join(
        f'\n[templates.t{g}]\nen = {{ subject = "route {g}", body = "told by route {g}" }}\n'
        f'fr = {{ subject = "route {g}", body = "par la route {g}" }}\n'
        for g in "abc"
    )
    routes = "".join(
        f"""
[[routes]]
name = "r{g}"
template = "t{g}"
events = ["confirmed", "resolved", "manual"]
groups = ["{g}"]
{'channels = ["ops"]' if g == "a" else ""}
"""
        for g in "abc"
    )
    return f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path / "failover.db"}"

[detection]
control_quorum = 0

[notify]
smtp_url = "mailto://127.0.0.1:{smtp}?from={FROM}"

[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.a]
[groups.b]
[groups.c]
[groups.d]

[channels.ops]
url = "mailto://127.0.0.1:{smtp}?from={FROM}&to=ops@example.org"
visibility = "private"
depends_on = []

[[contacts]]
id = "written"
name = "Written Person"
groups = ["b", "a"]
channels = [{{ email = "written@example.org" }}]
{templates}{routes}"""


#: the imported contacts: (id, language, groups)
IMPORTED = (
    ("imp-a", "fr", "a"),
    ("imp-b", "en", "b"),
    ("imp-c", "en", "c"),
    ("imp-cb", "fr", "c;b"),
    ("imp-ad", "en", "a;d"),
    ("imp-bd", "fr", "b;d"),
    ("imp-d", "en", "d"),
    ("imp-none", "en", ""),
)


def write_csv(path: Path, rows: Collection[tuple[str, str, str]], *, domain: str = "example.org") -> Path:
    lines = ["name,id,language,groups,email"]
    lines += [f"Person {cid},{cid},{lang},{groups},{cid}@{domain}" for cid, lang, groups in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _close_address_books() -> Iterator[None]:
    """The address books configurations opened (``find_address_book``) closed after each test."""
    yield
    close_address_books()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "failover.toml"
    path.write_text(config_text(tmp_path))
    return path


@pytest.fixture
def config(config_path: Path, tmp_path: Path) -> Config:
    """The configuration, its address book imported (``IMPORTED``)."""
    loaded = load_config(config_path, env={})
    report = import_contacts(loaded, write_csv(tmp_path / "contacts.csv", IMPORTED))
    assert (report.added, report.written) == (len(IMPORTED), True)
    return load_config(config_path, env={})


class CountingBook:
    """The store's address book, counting its reads by id."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_id: list[set[str]] = []

    def stored_contacts(self, *, groups: Collection[str] | None = None) -> Iterator[StoredContact]:
        return self.store.stored_contacts(groups=groups)

    def stored_contacts_by_id(self, ids: Collection[str]) -> dict[str, StoredContact]:
        self.by_id.append(set(ids))
        return self.store.stored_contacts_by_id(ids)

    def contact_names(self) -> Iterator[tuple[str, str]]:
        return self.store.contact_names()

    def contact_count(self) -> int:
        return self.store.contact_count()


@pytest.fixture
def book(config: Config) -> Iterator[CountingBook]:
    with Store.open(config.daemon.database_url) as store:
        yield CountingBook(store)


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- ChannelDirectory


class TestChannelDirectory:
    """Channels looked up by ref: the shared ones, and the contacts' as they are asked for."""

    def test_shared_written_and_imported_channels_are_found_by_ref(self, config: Config) -> None:
        directory = ChannelDirectory(config)
        shared = directory["channels.ops"]
        assert shared is config.channels["ops"]
        assert shared.url.endswith("to=ops@example.org")
        written = directory["contacts[written].channels[0]"]
        assert written.url.endswith("to=written@example.org")
        imported = directory["contacts[imp-cb].channels[0]"]
        assert imported.ref == "contacts[imp-cb].channels[0]"
        assert imported.url == f"mailto://127.0.0.1:9?from={FROM}&to=imp-cb@example.org"
        assert directory.get("contacts[imp-b].channels[0]") == config.contact("imp-b").channels[0]  # type: ignore[union-attr]
        # iterated: every channel there is, shared, written and imported
        refs = set(directory)
        assert refs == {
            "channels.ops",
            "contacts[written].channels[0]",
            *(f"contacts[{cid}].channels[0]" for cid, _, _ in IMPORTED),
        }
        assert len(directory) == len(refs)

    @pytest.mark.parametrize(
        "ref",
        [
            "channels.nope",  # no such shared channel
            "contacts[ghost].channels[0]",  # no such contact
            "contacts[imp-a].channels[1]",  # a contact with one channel
            "contacts[written].channels[7]",
            "contacts[imp-a]",  # not a channel's ref
            "mailto://127.0.0.1:9?to=imp-a@example.org",
            "",
        ],
    )
    def test_an_unknown_ref_raises_key_error(self, config: Config, ref: str) -> None:
        directory = ChannelDirectory(config)
        with pytest.raises(KeyError):
            directory[ref]
        assert directory.get(ref) is None
        assert ref not in directory

    def test_a_contact_is_kept_keep_s_then_read_again(
        self, config: Config, book: CountingBook, config_path: Path, tmp_path: Path
    ) -> None:
        """A contact re-imported with a new address is seen once ``KEEP_S`` has passed
        since it was read, not before."""
        assert 0 < ChannelDirectory.KEEP_S <= 60, "an import would take too long to reach a daemon"
        clock = Clock()
        directory = ChannelDirectory(config.with_address_book(book), clock=clock)
        ref = "contacts[imp-a].channels[0]"
        assert directory[ref].url.endswith("to=imp-a@example.org")
        assert len(book.by_id) == 1
        report = import_contacts(
            load_config(config_path, env={}),
            write_csv(tmp_path / "again.csv", [("imp-a", "fr", "a")], domain="new.example.org"),
        )
        assert (report.added, report.updated, report.written) == (0, 1, True)
        assert book.store.stored_contacts_by_id(["imp-a"])["imp-a"].channels == (
            {"email": "imp-a@new.example.org"},
        )
        clock.now += ChannelDirectory.KEEP_S - 0.5
        assert directory[ref].url.endswith("to=imp-a@example.org"), "read again before KEEP_S"
        assert len(book.by_id) == 1
        clock.now += 0.5  # KEEP_S since it was read
        assert directory[ref].url.endswith("to=imp-a@new.example.org"), "not read again after KEEP_S"
        assert len(book.by_id) == 2
        # kept afresh from that read
        clock.now += ChannelDirectory.KEEP_S - 0.5
        assert directory[ref].url.endswith("to=imp-a@new.example.org")
        assert len(book.by_id) == 2

    def test_a_contact_that_is_not_there_is_kept_too(self, config: Config, book: CountingBook) -> None:
        """An id the address book does not hold is not asked for again within ``KEEP_S``."""
        clock = Clock()
        directory = ChannelDirectory(config.with_address_book(book), clock=clock)
        for _ in range(3):
            assert directory.get("contacts[ghost].channels[0]") is None
        assert book.by_id == [{"ghost"}]
        clock.now += ChannelDirectory.KEEP_S
        assert directory.get("contacts[ghost].channels[0]") is None
        assert book.by_id == [{"ghost"}, {"ghost"}]

    def test_remember_primes_the_lookups(self, config: Config, book: CountingBook) -> None:
        clock = Clock()
        reading = config.with_address_book(book)
        directory = ChannelDirectory(reading, clock=clock)
        batch = reading.contacts_by_id(["imp-a", "imp-b", "imp-cb", "written"])
        assert len(book.by_id) == 1  # one read for the batch (the written contact is not read)
        assert "written" not in book.by_id[0]
        directory.remember(batch.values())
        clock.now += ChannelDirectory.KEEP_S - 1
        for cid in ("imp-a", "imp-b", "imp-cb", "written"):
            channel = directory[f"contacts[{cid}].channels[0]"]
            assert channel.url.endswith(f"to={cid}@example.org")
        assert len(book.by_id) == 1, "a remembered contact was read again"
        # a contact not remembered is read, once
        assert directory["contacts[imp-c].channels[0]"].url.endswith("to=imp-c@example.org")
        assert directory["contacts[imp-c].channels[0]"].url.endswith("to=imp-c@example.org")
        assert book.by_id[1:] == [{"imp-c"}]

    def test_remember_keeps_what_it_is_given_not_the_database(
        self, config: Config, book: CountingBook
    ) -> None:
        """A remembered contact stands for its id until ``KEEP_S`` has passed, then the
        database's is read."""
        clock = Clock()
        directory = ChannelDirectory(config.with_address_book(book), clock=clock)
        stand_in = Contact(
            name="Stand In",
            id="imp-b",
            groups=("b",),
            channels=config.contact("imp-a").channels,  # type: ignore[union-attr]
        )
        directory.remember([stand_in])
        assert directory.get("contacts[imp-b].channels[0]") is None  # its channel is imp-a's ref
        assert directory["contacts[imp-a].channels[0]"].url.endswith("to=imp-a@example.org")
        assert book.by_id == [{"imp-a"}]
        clock.now += ChannelDirectory.KEEP_S
        assert directory["contacts[imp-b].channels[0]"].url.endswith("to=imp-b@example.org")
        assert book.by_id == [{"imp-a"}, {"imp-b"}]


# ------------------------------------------------------------------------------- _GroupCommit


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'group.db'}") as opened:
        opened.upgrade()
        yield opened


class Transactions:
    """Counts the store's transactions as the group commit opens them: each ``batch()``,
    and each write made outside one. Wraps ``store.batch``."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[int] = []  # writes made in each batch
        self.alone = 0  # writes made in no batch
        self._in_batch: int | None = None
        original = store.batch

        @contextmanager
        def batch() -> Iterator[None]:
            self.batches.append(0)
            self._in_batch = len(self.batches) - 1
            try:
                with original():
                    yield
            finally:
                self._in_batch = None

        monkeypatch.setattr(store, "batch", batch)

    def wrap(self, write: Callable[[], object]) -> Callable[[], object]:
        def counted() -> object:
            if self._in_batch is None:
                self.alone += 1
            else:
                self.batches[self._in_batch] += 1
            return write()

        return counted

    @property
    def count(self) -> int:
        return len(self.batches) + self.alone


def person(n: int, *, cid: str | None = None) -> StoredContact:
    cid = cid or f"p{n:03d}"
    return StoredContact(
        id=cid,
        name=f"Person {n}",
        language="en",
        timezone=None,
        groups=("a",),
        channels=({"email": f"{cid}@example.org"},),
    )


def add_one(store: Store, contact: StoredContact, result: int) -> int:
    store.save_contacts(added=[contact], now=NOW)
    return result


class TestGroupCommit:
    WRITES = 50

    async def test_concurrent_writes_all_land_in_fewer_transactions(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        transactions = Transactions(store, monkeypatch)
        group = _GroupCommit(store)
        writes = [transactions.wrap(partial(add_one, store, person(n), n)) for n in range(self.WRITES)]
        outcomes = await asyncio.gather(*(group.run(write) for write in writes))
        assert outcomes == list(range(self.WRITES)), "each caller gets what its own write returned"
        assert {c.id for c in store.stored_contacts()} == {f"p{n:03d}" for n in range(self.WRITES)}
        assert store.contact_count() == self.WRITES
        assert sum(transactions.batches) + transactions.alone == self.WRITES
        assert transactions.batches, "no write was batched"
        assert max(transactions.batches) > 1
        assert transactions.count < self.WRITES, (transactions.batches, transactions.alone)

    async def test_writes_that_keep_coming_are_grouped_too(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Writers arriving one after the other, while commits go on, still share them."""
        transactions = Transactions(store, monkeypatch)
        group = _GroupCommit(store)

        async def writer(n: int) -> object:
            await asyncio.sleep(0.001 * (n % 10))
            return await group.run(transactions.wrap(partial(add_one, store, person(n), n)))

        outcomes = await asyncio.gather(*(writer(n) for n in range(self.WRITES)))
        assert outcomes == list(range(self.WRITES))
        assert store.contact_count() == self.WRITES
        assert transactions.count < self.WRITES, (transactions.batches, transactions.alone)

    async def test_a_write_that_raises_fails_only_its_caller(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store.save_contacts(added=[person(999, cid="dup")], now=NOW)
        transactions = Transactions(store, monkeypatch)
        group = _GroupCommit(store)
        bad = 17
        writes = [
            transactions.wrap(partial(add_one, store, person(n, cid="dup" if n == bad else None), n))
            for n in range(self.WRITES)
        ]
        outcomes = await asyncio.gather(*(group.run(write) for write in writes), return_exceptions=True)
        assert isinstance(outcomes[bad], StoreError), outcomes[bad]
        assert [o for n, o in enumerate(outcomes) if n != bad] == [n for n in range(self.WRITES) if n != bad]
        assert transactions.batches, "the group was never tried as one"
        stored = {c.id: c for c in store.stored_contacts()}
        assert set(stored) == {"dup"} | {f"p{n:03d}" for n in range(self.WRITES) if n != bad}
        assert stored["dup"].name == "Person 999", "the failed write changed the stored contact"

    async def test_notice_marks_all_land(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """The outbox's own writes: 50 claimed notices marked sent at once."""
        incident = Incident(
            key="manual:platform:whatsapp:group",
            scope=IncidentScope.platform,
            kind=IncidentKind.manual,
            name="whatsapp",
            platforms=("whatsapp",),
            opened_at=NOW,
            confirmed_at=NOW,
        )
        drafts = [
            NoticeDraft(
                incident_key=incident.key,
                event=IncidentEvent.manual,
                contact_ref=f"p{n:03d}",
                template="manual",
            )
            for n in range(self.WRITES)
        ]
        store.record_decision(at=NOW, incident_events=[(IncidentEvent.manual, incident)], notices=drafts)
        claimed = store.claim_notices(now=NOW, limit=self.WRITES, holder="test:1:a")
        assert len(claimed) == self.WRITES
        transactions = Transactions(store, monkeypatch)
        group = _GroupCommit(store)
        marks = [
            transactions.wrap(
                partial(store.mark_notice, notice.id, NoticeState.sent, now=NOW, holder="test:1:a")
            )
            for notice in claimed
        ]
        outcomes = await asyncio.gather(*(group.run(mark) for mark in marks))
        assert outcomes == [True] * self.WRITES
        counts = store.outbox_counts()
        assert counts[NoticeState.sent] == self.WRITES
        assert counts[NoticeState.sending] == 0
        assert transactions.count < self.WRITES, (transactions.batches, transactions.alone)


# ------------------------------------------------------------------------------------ planning


def told(drafts: Collection[NoticeDraft]) -> dict[str, str]:
    """Recipient → template, failing on a recipient told twice."""
    recipients = [d.contact_ref for d in drafts]
    assert len(recipients) == len(set(recipients)), f"told twice: {recipients}"
    return {d.contact_ref: d.template for d in drafts}


#: who each route tells, all routes together: the first route (in the file's order) whose
#: groups the contact is in wins, whatever the order of the contact's own groups
EVERYONE = {
    "channels.ops": "ta",
    "written": "ta",
    "imp-a": "ta",
    "imp-b": "tb",
    "imp-c": "tc",
    "imp-cb": "tb",
    "imp-ad": "ta",
    "imp-bd": "tb",
}
#: restricted to group d (no route names it): those of d some route reaches, no channel
OF_D = {"imp-ad": "ta", "imp-bd": "tb"}


#: a confirmed outage of WhatsApp
INCIDENT = Incident(
    key="platform:whatsapp:1",
    scope=IncidentScope.platform,
    kind=IncidentKind.unreachable,
    name="whatsapp",
    platforms=("whatsapp",),
    opened_at=NOW,
    confirmed_at=NOW,
)


class TestPlanning:
    """One pass over the address book for every route."""

    def test_each_contact_is_told_once_by_the_first_route_of_its_groups(self, config: Config) -> None:
        drafts = plan_notices(config, [(IncidentEvent.confirmed, INCIDENT)], now=NOW)
        assert told(drafts) == EVERYONE
        languages = {d.contact_ref: d.language for d in drafts}
        assert {cid: languages[cid] for cid, _, _ in IMPORTED if cid in languages} == {
            cid: lang for cid, lang, _ in IMPORTED if cid in EVERYONE
        }
        assert {d.channel_ref for d in drafts if d.contact_ref == "channels.ops"} == {"channels.ops"}
        assert all(d.channel_ref is None for d in drafts if d.contact_ref != "channels.ops")

    def test_a_restriction_to_a_group_no_route_names(self, config: Config) -> None:
        drafts = plan_notices(config, [(IncidentEvent.confirmed, INCIDENT)], now=NOW, groups=["d"])
        assert told(drafts) == OF_D

    def test_an_empty_restriction_tells_nobody(self, config: Config) -> None:
        drafts = plan_notices(config, [(IncidentEvent.confirmed, INCIDENT)], now=NOW, groups=[])
        assert drafts == []

    def test_a_manual_trigger_plans_the_same(self, config: Config) -> None:
        target = find_target(config, "whatsapp")
        plan = plan_manual(config, target, message="Call us on the landline", now=NOW)
        assert told(plan.drafts) == EVERYONE
        assert plan.recipients == len(EVERYONE)
        restricted = plan_manual(config, target, message="Call us on the landline", now=NOW, groups=["d"])
        assert told(restricted.drafts) == OF_D
        assert all(d.message == "Call us on the landline" for d in restricted.drafts)

    def test_the_address_book_is_read_once_for_all_routes(self, config: Config, book: CountingBook) -> None:
        reads: list[frozenset[str] | None] = []

        class Streams(CountingBook):
            def stored_contacts(self, *, groups: Collection[str] | None = None) -> Iterator[StoredContact]:
                reads.append(None if groups is None else frozenset(groups))
                return super().stored_contacts(groups=groups)

        reading = config.with_address_book(Streams(book.store))
        drafts = plan_notices(reading, [(IncidentEvent.confirmed, INCIDENT)], now=NOW)
        assert told(drafts) == EVERYONE
        assert reads == [frozenset("abc")]

    def test_a_large_address_book_across_pages(
        self, config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Contacts read a page at a time (pages made small here) are each told once."""
        monkeypatch.setattr(contact_rows, "PAGE", 7)
        groups = ("a", "b", "c", "c;a", "b;a", "d", "d;c", "")
        rows = [(f"x{n:03d}", "en", groups[n % len(groups)]) for n in range(100)]
        loaded = load_config(config_path, env={})
        assert import_contacts(loaded, write_csv(tmp_path / "many.csv", rows)).added == 100
        config = load_config(config_path, env={})
        drafts = plan_notices(config, [(IncidentEvent.confirmed, INCIDENT)], now=NOW)
        first = {"a": "ta", "b": "tb", "c": "tc", "c;a": "ta", "b;a": "ta", "d;c": "tc"}
        expected = {cid: first[g] for cid, _, g in rows if g in first}
        assert told(drafts) == {"channels.ops": "ta", "written": "ta", **expected}
        restricted = plan_notices(config, [(IncidentEvent.confirmed, INCIDENT)], now=NOW, groups=["d"])
        assert told(restricted) == {cid: "tc" for cid, _, g in rows if g == "d;c"}


# ---------------------------------------------------------------------------------- end to end

CONTACTS = 300


def daemon_config(tmp_path: Path, smtp_port: int) -> Path:
    """WhatsApp watched through a port that answers (the SMTP sink's); an address book
    with nobody in it; one route to group ``everyone``."""
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"
listen = "127.0.0.1:{free_port()}"

[detection]
control_quorum = 0

[notify]
concurrency = 8
backoff_base = "200ms"
backoff_max = "2s"
smtp_url = "mailto://127.0.0.1:{smtp_port}?from={FROM}"

[notify.rate_per_minute]
mailto = 100000

[platforms.whatsapp]
family = "meta"
interval = "10s"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {smtp_port}

[groups.everyone]

[[routes]]
name = "everyone"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["everyone"]
"""
    )
    return path


def outbox(config_path: Path) -> dict[NoticeState, int]:
    with open_store(load_config(config_path, env={})) as opened:
        return opened.outbox_counts()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    """Daemons started by the test, killed at its end."""
    started: list[Daemon] = []
    try:
        yield started
    finally:
        for daemon in started:
            daemon.kill()


@pytest.mark.slow
def test_contacts_imported_while_the_daemon_runs_are_told(
    tmp_path: Path, smtp_sink: SmtpSink, daemons: list[Daemon]
) -> None:
    config_path = daemon_config(tmp_path, smtp_sink.port)
    assert load_config(config_path, env={}).contact_count() == 0
    daemon = Daemon(config_path, tmp_path / "daemon.log")
    daemons.append(daemon)
    daemon.wait_for_log("daemon_started|another daemon", timeout=60.0)
    assert "daemon_started" in daemon.text(), daemon.text()[-3000:]

    addresses = {f"c{n:04d}@example.org" for n in range(CONTACTS)}
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "name,id,groups,email\n"
        + "".join(f"Contact {n},c{n:04d},everyone,c{n:04d}@example.org\n" for n in range(CONTACTS))
    )
    imported = run_cli("contacts", "import", str(csv), config=config_path)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert load_config(config_path, env={}).contact_count() == CONTACTS
    assert daemon.process.poll() is None, daemon.text()[-3000:]

    trigger = run_cli(
        *("trigger", "whatsapp", "--message", "Call us on the landline", "--yes"),
        config=config_path,
        timeout=120.0,
    )
    assert trigger.returncode == 0, trigger.stdout + trigger.stderr

    def settled() -> bool:
        counts = outbox(config_path)
        return counts[NoticeState.pending] == counts[NoticeState.sending] == 0

    assert sum(outbox(config_path).values()) == CONTACTS, "the trigger queued one notice per contact"
    wait_until("every notice to be settled", settled, timeout=FANOUT_S, log=daemon.log)
    settled_counts = outbox(config_path)
    assert settled_counts[NoticeState.sent] == CONTACTS, settled_counts
    assert daemon.stop(timeout=60.0) == 0
    received = per_recipient(smtp_sink.messages)
    assert set(received) == addresses
    assert max(received.values()) == 1, {who: n for who, n in received.items() if n > 1}
    assert all("Call us on the landline" in m.message.get_content() for m in smtp_sink.messages)
    final = outbox(config_path)
    assert final[NoticeState.sent] == CONTACTS
    assert sum(final.values()) == CONTACTS, final

    log = daemon.text()
    leaked = sorted(address for address in addresses if address in log)
    assert not leaked, f"the daemon's log carries {len(leaked)} addresses, e.g. {leaked[:3]}"
    assert not re.search(r"c\d{4}@", log)
    # the daemon delivered (the command only queued: a daemon runs), and was never reloaded
    deliveries = [
        entry
        for line in log.splitlines()
        if line.startswith("{") and (entry := json.loads(line)).get("event") == "notice_delivery"
    ]
    assert sum(entry.get("outcome") == "sent" for entry in deliveries) == CONTACTS
    assert "reload" not in log.lower()
