"""Fan-out benchmark: N contacts by e-mail to a local SMTP sink, one message each.

Our path (Dispatcher + MemoryOutbox + ApprisePlugins, bounded concurrency, pooled
SMTP connections) side by side with the naive one (a fresh ``apprise.Apprise()`` per
recipient, sequential ``notify()``), the latter on a bounded subset and extrapolated.
The sink (aiosmtpd) runs in a separate process so its CPU is not counted as ours; it
accepts, discards and counts. Only 127.0.0.1.

    .venv/bin/python bench/fanout.py --contacts 10000
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
import time
from datetime import UTC, datetime

import apprise

from failover.domain import Channel, IncidentEvent, Visibility
from failover.notify import (
    ApprisePlugins,
    Dispatcher,
    MemoryOutbox,
    NoticeState,
    RateLimits,
    RenderedNotice,
)

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

        async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:  # noqa: N802
            self.messages += 1
            self.recipients.update(envelope.rcpt_tos)  # type: ignore[attr-defined]
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
    finally:
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--naive-contacts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8, help="sender threads (one SMTP connection each)")
    args = parser.parse_args()

    port = _free_port()
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
