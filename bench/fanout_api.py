"""Fan-out benchmark over HTTP APIs: N contacts by Signal or by Mastodon direct message,
one request each, against fakes that take ``--latency`` seconds to answer.

The production path: ``Dispatcher`` + ``MemoryOutbox`` + ``ApprisePlugins`` sized from
``[notify] concurrency`` (as ``NoticePump`` builds it), the real apprise plugins
(``signal://``, ``mastodon://``), rate limits lifted so that only concurrency and latency
bound the pace. The fakes (``tests.kit.FakeSignal``, ``tests.kit.FakeMastodon``) run in a
separate process, so their CPU is not counted as ours; they count the requests they
answer at the same time. The ceiling is ``concurrency / latency`` notices per second;
"notices/s" counts the whole run, its start included, "steady" the pace once every slot is
busy (after the first round: see :func:`steady_rate`). Only 127.0.0.1.

    .venv/bin/python bench/fanout_api.py                       # signal and mastodon, 16 and 32
    .venv/bin/python bench/fanout_api.py --schemes signal --concurrency 16 --notices 320

Each run is bounded: ``--notices`` per run (default: 20 x concurrency) and ``--max-seconds``
per run (the run is abandoned, and said so, past it).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import apprise

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.kit, from a checkout

from failover.domain import Channel, IncidentEvent, NoticeState, Visibility
from failover.notify import ApprisePlugins, Dispatcher, MemoryOutbox, RateLimits, RenderedNotice

SCHEMES = ("signal", "mastodon")


def _fake(scheme: str, latency_s: float, control: multiprocessing.connection.Connection) -> None:
    """The fake API's process: serve until told to stop; report what it saw."""
    from tests.kit import FakeMastodon, FakeSignal

    fake = FakeSignal(latency_s=latency_s) if scheme == "signal" else FakeMastodon(latency_s=latency_s)
    with fake:
        control.send(fake.port)
        while (command := control.recv()) != "stop":
            if command == "stats":
                control.send((len(fake.received), fake.max_in_flight))


class _FakeProcess:
    def __init__(self, scheme: str, latency_s: float) -> None:
        self._control, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_fake, args=(scheme, latency_s, child), daemon=True
        )
        self._process.start()
        if not self._control.poll(30):
            raise SystemExit(f"the fake {scheme} API did not start")
        self.port: int = self._control.recv()

    def stats(self) -> tuple[int, int]:
        """(requests received, most requests answered at the same time)."""
        self._control.send("stats")
        received, most = self._control.recv()
        return received, most

    def stop(self) -> None:
        self._control.send("stop")
        self._process.join(10)


def _url(scheme: str, port: int, index: int) -> str:
    if scheme == "signal":
        return f"signal://127.0.0.1:{port}/+15550000000/+1555{index:07d}"
    return f"mastodon://s3cr3t-token@127.0.0.1:{port}/@contact{index}?visibility=direct"


def _notice(index: int) -> RenderedNotice:
    if index % 2:
        return RenderedNotice(subject="WhatsApp indisponible", body="Joignez-nous par e-mail.", language="fr")
    return RenderedNotice(subject="WhatsApp is down", body="Reach us by e-mail.", language="en")


def steady_rate(finished: list[datetime], concurrency: int) -> float:
    """Notices a second once every slot is busy: those sent after the first ``concurrency``
    (the first round, which carries the start: threads, the plugin's import), over the time
    from the first round's end to the last notice's. At the ceiling, one round of
    ``concurrency`` ends every ``latency``: ``concurrency / latency``."""
    moments = sorted(finished)
    if len(moments) <= concurrency:
        return 0.0
    span = (moments[-1] - moments[concurrency - 1]).total_seconds()
    return (len(moments) - concurrency) / span if span > 0 else 0.0


async def fan_out(
    scheme: str, port: int, count: int, concurrency: int, max_s: float
) -> tuple[int, float, float, float]:
    """(sent, seconds, CPU seconds, steady notices a second) for ``count`` notices through
    the production path."""
    now = datetime.now(UTC)
    outbox = MemoryOutbox()
    channels: dict[str, Channel] = {}
    for index in range(count):
        ref = f"contacts[{index}].channels[0]"
        channels[ref] = Channel(ref=ref, url=_url(scheme, port, index))
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
    async with ApprisePlugins(max_workers=concurrency) as sender:
        dispatcher = Dispatcher(
            outbox,
            sender,
            RateLimits(),
            channels=channels,
            concurrency=concurrency,
            max_attempts=1,
            jitter=random.random,
            clock=lambda: datetime.now(UTC),
        )
        cpu_start, start = time.process_time(), time.perf_counter()
        try:
            await asyncio.wait_for(dispatcher.dispatch_due(), max_s)
        except TimeoutError:
            print(f"  (abandoned after {max_s:.0f} s)")
            await dispatcher.drain()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    sent = outbox.in_state(NoticeState.sent)
    finished = [record.finished_at for record in sent if record.finished_at is not None]
    return len(sent), elapsed, cpu, steady_rate(finished, concurrency)


def _machine() -> str:
    model, ram_kb = "unknown CPU", 0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model
            )
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            ram_kb = int(meminfo.readline().split()[1])
    except OSError:
        pass
    return (
        f"nproc {multiprocessing.cpu_count()} ({model}), {ram_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, apprise {apprise.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, default=list(SCHEMES))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--latency", type=float, default=0.25, help="seconds the fake takes to answer")
    parser.add_argument("--notices", type=int, help="per run (default: 20 x concurrency)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="per run")
    args = parser.parse_args()

    print(f"machine: {_machine()}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"latency: {args.latency * 1000:.0f} ms per request at the fake")
    print(
        f"{'scheme':<9}{'conc.':>6}{'notices':>9}{'sent':>7}{'s':>8}{'notices/s':>11}{'steady':>8}"
        f"{'ceiling':>9}{'max in flight':>15}{'CPU ms/notice':>15}"
    )
    failed = False
    for scheme in args.schemes:
        for concurrency in args.concurrency:
            fake = _FakeProcess(scheme, args.latency)
            try:
                count = args.notices or 20 * concurrency
                sent, elapsed, cpu, steady = asyncio.run(
                    fan_out(scheme, fake.port, count, concurrency, args.max_seconds)
                )
                received, most = fake.stats()
            finally:
                fake.stop()
            failed |= sent != count
            print(
                f"{scheme:<9}{concurrency:>6}{count:>9}{sent:>7}{elapsed:>8.1f}{sent / elapsed:>11.1f}"
                f"{steady:>8.1f}{concurrency / args.latency:>9.0f}{most:>15}"
                f"{cpu / max(sent, 1) * 1000:>15.2f}"
            )
            if received < sent:
                raise SystemExit(f"the fake saw {received} requests for {sent} notices sent")
    if failed:
        raise SystemExit("some notices were not sent")


if __name__ == "__main__":
    main()
