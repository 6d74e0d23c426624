"""Fan-out benchmark: N contacts by e-mail to a local SMTP sink, one message each.

Our path (Dispatcher + MemoryOutbox + ApprisePlugins, bounded concurrency, pooled
SMTP connections) side by side with the naive one (a fresh ``apprise.Apprise()`` per
recipient, sequential ``notify()``), the latter on a bounded subset and extrapolated.
The sink (aiosmtpd) runs in a separate process so its CPU is not counted as ours; it
accepts, discards and counts. Only 127.0.0.1.

    .venv/bin/python bench/fanout.py --contacts 10000

With ``--outage SECONDS``, the fan-out goes through the daemon's own path instead (a
NoticePump over a SQLite outbox, the default retry policy) and the SMTP server stops
once a tenth of the messages are in, stays away SECONDS, and a new one starts on the
same port: notices delivered, duplicates, attempts made meanwhile, and the time to drain
after the server returned.

    .venv/bin/python bench/fanout.py --contacts 2000 --outage 60
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import platform
import random
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apprise

from failover.config import Config, parse_config
from failover.domain import (
    Channel,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    Visibility,
)
from failover.domain import NoticeState as OutboxState
from failover.logs import configure_logging
from failover.notify import ApprisePlugins, Dispatcher, MemoryOutbox, RateLimits, RenderedNotice
from failover.service import NoticePump, open_store, plan_notices
from failover.store import Store

SENDER = "failover@example.org"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _sink(port: int, control: multiprocessing.connection.Connection) -> None:
    """The SMTP sink process: count messages and distinct recipients per phase."""
    from aiosmtpd.controller import Controller

    class Counting:
        def __init__(self) -> None:
            self.messages = 0
            self.recipients: set[str] = set()
            self.per_recipient: dict[str, int] = {}

        async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:  # noqa: N802
            self.messages += 1
            self.recipients.update(envelope.rcpt_tos)  # type: ignore[attr-defined]
            for rcpt in envelope.rcpt_tos:  # type: ignore[attr-defined]
                self.per_recipient[rcpt] = self.per_recipient.get(rcpt, 0) + 1
            return "250 OK"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    control.send("ready")
    try:
        while (command := control.recv()) != "stop":
            if command == "count":
                control.send((handler.messages, len(handler.recipients)))
            elif command == "reset":
                handler.messages, handler.recipients = 0, set()
                control.send("ok")
            elif command == "stop_and_count":
                # the server goes away first: what it accepted until then is all it will
                controller.stop()
                control.send(handler.per_recipient)
                return
    finally:
        if controller.loop.is_running():
            controller.stop()


def _url(port: int, index: int) -> str:
    return f"mailto://127.0.0.1:{port}?from={SENDER}&to=contact{index}@example.org"


def _notice(index: int) -> RenderedNotice:
    language = "fr" if index % 2 else "en"
    body = "Notre ligne WhatsApp est indisponible." if language == "fr" else "Our WhatsApp line is down."
    return RenderedNotice(subject=f"Notice {index}", body=body, language=language)


def naive(port: int, count: int) -> float:
    """One apprise.Apprise() per recipient, sequential notify(): notices per second."""
    start = time.perf_counter()
    for index in range(count):
        notifier = apprise.Apprise()
        notifier.add(_url(port, 100_000 + index))
        notice = _notice(index)
        with notifier.notify(body=notice.body, title=notice.subject) as result:
            assert result, "naive send failed"
    return count / (time.perf_counter() - start)


async def ours(port: int, count: int, concurrency: int, workers: int) -> tuple[float, int, float]:
    """Dispatcher + MemoryOutbox + ApprisePlugins: (notices/s, sent, setup seconds)."""
    setup_start = time.perf_counter()
    now = datetime.now(UTC)
    outbox = MemoryOutbox()
    channels: dict[str, Channel] = {}
    for index in range(count):
        ref = f"contacts[{index}].channels[0]"
        channels[ref] = Channel(ref=ref, url=_url(port, index))
        outbox.enqueue(
            key=f"bench:{index}",
            incident_key="bench",
            event=IncidentEvent.confirmed,
            contact_ref=f"contacts[{index}]",
            channel_refs=(ref,),
            visibility=Visibility.private,
            notice=_notice(index),
            now=now,
        )
    setup_s = time.perf_counter() - setup_start
    async with ApprisePlugins(max_workers=workers) as sender:
        dispatcher = Dispatcher(
            outbox,
            sender,
            RateLimits(),
            channels=channels,
            concurrency=concurrency,
            max_attempts=3,
            backoff_base_s=1.0,
            jitter=random.random,
            clock=lambda: datetime.now(UTC),
        )
        start = time.perf_counter()
        summary = await dispatcher.dispatch_due()
        elapsed = time.perf_counter() - start
    sent = len(outbox.in_state(NoticeState.sent))
    assert summary.sent == sent
    return count / elapsed, sent, setup_s


def _machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            ram_kb = int(meminfo.readline().split()[1])
    except OSError:
        ram_kb = 0
    return (
        f"{multiprocessing.cpu_count()} CPU ({model}), {ram_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, apprise {apprise.__version__}"
    )


class _Sink:
    """One SMTP sink process on ``port``, driven through a pipe."""

    def __init__(self, port: int) -> None:
        self._control, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_sink, args=(port, child), daemon=True
        )
        self._process.start()
        if not self._control.poll(20) or self._control.recv() != "ready":
            raise SystemExit("the SMTP sink did not start")

    def ask(self, command: str) -> Any:
        self._control.send(command)
        return self._control.recv()

    def stop(self) -> dict[str, int]:
        """Stop the server (its connections cut) and return the messages it took, per
        recipient."""
        told: dict[str, int] = self.ask("stop_and_count")
        self._process.join(10)
        return told


def _outage_config(directory: Path, port: int, contacts: int, concurrency: int) -> Config:
    people = "".join(
        f'[[contacts]]\nid = "c{i:05d}"\nname = "Contact {i}"\ngroups = ["everyone"]\n'
        f'channels = [{{ email = "c{i:05d}@example.org" }}]\n\n'
        for i in range(contacts)
    )
    (directory / "contacts.toml").write_text(people)
    text = f"""
contacts_file = "contacts.toml"
[catalog]
builtin = false
[daemon]
database_url = "sqlite:///{directory}/failover.db"
[detection]
control_quorum = 0
[notify]
concurrency = {concurrency}
smtp_url = "mailto://127.0.0.1:{port}?from={SENDER}"
[notify.rate_per_minute]
mailto = 1000000
[platforms.whatsapp]
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
[groups.everyone]
[[routes]]
name = "everyone"
template = "outage"
groups = ["everyone"]
"""
    return parse_config(text, source="bench", env={}, cwd=directory)


async def outage(port: int, contacts: int, concurrency: int, down_s: float) -> dict[str, float]:
    """The daemon's path (NoticePump over SQLite, default retry policy) through an SMTP
    outage of ``down_s`` seconds that begins once a tenth of the messages are in."""
    configure_logging(level="warning", json=True, stream=sys.stderr)
    sink = _Sink(port)
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as directory:
        config = _outage_config(Path(directory), port, contacts, concurrency)
        now = datetime.now(UTC)
        incident = Incident(
            key="platform:whatsapp:bench",
            scope=IncidentScope.platform,
            kind=IncidentKind.unreachable,
            name="whatsapp",
            platforms=("whatsapp",),
            opened_at=now,
            confirmed_at=now,
        )
        changes = [(IncidentEvent.confirmed, incident)]
        with open_store(config) as store:
            store.record_decision(
                at=now, incident_events=changes, notices=plan_notices(config, changes, now=now)
            )
            stop = asyncio.Event()
            async with NoticePump(config=config, store=store) as pump:
                started = time.perf_counter()
                running = asyncio.create_task(pump.run(stop))
                await _until(lambda: sink.ask("count")[0] >= contacts // 10)
                before = sink.stop()
                went_down = time.perf_counter()
                attempts_before = await asyncio.to_thread(_failed_attempts, store)
                await asyncio.sleep(down_s)
                failed_meanwhile = (await asyncio.to_thread(store.outbox_counts))[OutboxState.failed]
                attempts_down = await asyncio.to_thread(_failed_attempts, store) - attempts_before
                sink = _Sink(port)
                came_back = time.perf_counter()
                first_after: float | None = None
                left = contacts - (await asyncio.to_thread(store.outbox_counts))[OutboxState.sent]
                marks: dict[int, float] = {}  # percent of those left at the return -> when
                while True:
                    counts = await asyncio.to_thread(store.outbox_counts)
                    moment = time.perf_counter()
                    if first_after is None and sink.ask("count")[0] > 0:
                        first_after = moment
                    done = left - (counts[OutboxState.pending] + counts[OutboxState.sending])
                    for percent in (50, 90, 99):
                        if percent not in marks and done * 100 >= left * percent:
                            marks[percent] = moment - came_back
                    if counts[OutboxState.pending] + counts[OutboxState.sending] == 0:
                        break
                    await asyncio.sleep(0.05)
                drained = time.perf_counter()
                stop.set()
                await running
            after = sink.stop()
            final = store.outbox_counts()
    told = {rcpt: before.get(rcpt, 0) + after.get(rcpt, 0) for rcpt in {*before, *after}}
    return {
        "contacts": contacts,
        "sent": final[OutboxState.sent],
        "failed": final[OutboxState.failed],
        "failed_during_outage": failed_meanwhile,
        "recipients": len(told),
        "duplicates": sum(n - 1 for n in told.values()),
        "before_outage": sum(before.values()),
        "down_s": came_back - went_down,
        "attempts_during_outage": attempts_down,
        "first_after_return_s": (first_after or drained) - came_back,
        "half_drained_s": marks.get(50, drained - came_back),
        "90_percent_drained_s": marks.get(90, drained - came_back),
        "99_percent_drained_s": marks.get(99, drained - came_back),
        "drain_after_return_s": drained - came_back,
        "total_s": drained - started,
    }


async def _until(condition: Callable[[], bool]) -> None:
    while True:
        if condition():
            return
        await asyncio.sleep(0.01)


def _failed_attempts(store: Store) -> int:
    # the store's own connection, read-only: attempts recorded as failed so far
    with store._engine.connect() as conn:
        return int(
            conn.exec_driver_sql("SELECT count(*) FROM deliveries WHERE outcome = 'failed'").scalar_one()
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--naive-contacts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8, help="sender threads (one SMTP connection each)")
    parser.add_argument(
        "--outage", type=float, metavar="SECONDS", help="measure the daemon's fan-out through an SMTP outage"
    )
    args = parser.parse_args()

    port = _free_port()
    if args.outage is not None:
        print(f"machine: {_machine()}")
        print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        result = asyncio.run(outage(port, args.contacts, 16, args.outage))
        for key, value in result.items():
            print(f"{key + ':':<26}{value:,.1f}" if isinstance(value, float) else f"{key + ':':<26}{value:,}")
        ok = result["sent"] == result["recipients"] == args.contacts and result["duplicates"] == 0
        print("verdict: " + ("OK: 0 lost, 0 duplicated" if ok else "LOST OR DUPLICATED"))
        if not ok:
            raise SystemExit(1)
        return
    parent, child = multiprocessing.Pipe()
    sink = multiprocessing.get_context("spawn").Process(target=_sink, args=(port, child), daemon=True)
    sink.start()
    try:
        if not parent.poll(20) or parent.recv() != "ready":
            raise SystemExit("the SMTP sink did not start")
        print(f"machine: {_machine()}")
        print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        naive_rate = naive(port, args.naive_contacts)
        parent.send("count")
        naive_messages, naive_recipients = parent.recv()
        parent.send("reset")
        parent.recv()
        print(
            f"naive:   {args.naive_contacts} contacts, {naive_rate:,.0f} notices/s "
            f"(→ {args.contacts / naive_rate:,.1f} s for {args.contacts}); sink saw {naive_messages} "
            f"messages to {naive_recipients} recipients"
        )

        cpu_start = time.process_time()
        rate, sent, setup_s = asyncio.run(ours(port, args.contacts, args.concurrency, args.workers))
        cpu_s = time.process_time() - cpu_start
        parent.send("count")
        messages, recipients = parent.recv()
        peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"ours:    {args.contacts} contacts, {rate:,.0f} notices/s "
            f"(concurrency {args.concurrency}, {args.workers} workers; enqueue {setup_s:.2f} s; "
            f"CPU {cpu_s / args.contacts * 1e3:.2f} ms/notice)"
        )
        print(f"sink:    {messages} messages to {recipients} distinct recipients; sent={sent}")
        print(f"speedup: {rate / naive_rate:,.1f}x naive")
        print(f"peak RSS: {peak_rss_mib:,.0f} MiB (before our run: {rss_before / 1024:,.0f} MiB)")
        ok = recipients == args.contacts and messages == args.contacts and sent == args.contacts
        print("verdict: " + ("OK" if ok and rate >= 500 and rate >= 10 * naive_rate else "BELOW GOAL"))
        if not ok:
            raise SystemExit("the sink's count of recipients does not match the contacts")
    finally:
        parent.send("stop")
        sink.join(10)


if __name__ == "__main__":
    main()
