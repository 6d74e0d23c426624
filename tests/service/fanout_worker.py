"""A dispatcher process for the fan-out tests (tests/service/test_fanout_crash.py,
tests/service/test_outbox_outage.py): loads a configuration, delivers its outbox with a NoticePump
until nothing is left to send, and on SIGTERM stops gracefully (the deliveries in flight
end and are recorded, nothing new is claimed). Logs JSON lines on stderr.

Usage: python tests/service/fanout_worker.py CONFIG
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from failover.config import load_config
from failover.domain import NoticeState
from failover.errors import StoreError
from failover.logs import configure_logging
from failover.service import NoticePump, open_store


async def deliver(config_path: Path) -> int:
    configure_logging(level="info", json=True, stream=sys.stderr)
    config = load_config(config_path, env={})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    with open_store(config) as store:
        async with NoticePump(config=config, store=store) as pump:
            task = asyncio.create_task(pump.run(stop))
            while not stop.is_set():
                try:
                    counts = await asyncio.to_thread(store.outbox_counts)
                except StoreError:  # the database is away for a moment (the tests do that)
                    counts = None
                if counts is not None and counts[NoticeState.pending] + counts[NoticeState.sending] == 0:
                    stop.set()
                    break
                await asyncio.sleep(0.1)
            await task
            await pump.drain(10.0)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(deliver(Path(sys.argv[1]))))
