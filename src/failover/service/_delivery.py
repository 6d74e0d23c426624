"""Delivering an incident's notices from the command that queued them, when no daemon
runs: the same notice pump as the daemon's, followed until the incident's notices (or
those of one of its events) are finished.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from failover.config import Config
from failover.domain import NoticeState
from failover.logs import get_logger
from failover.service._database import open_store
from failover.service._pump import NoticePump
from failover.service._runtime import utc_now
from failover.store import Notice, Store

__all__ = [
    "DeliveryReport",
    "deliver_manual",
]

#: Notices that will not move any more.
FINAL_STATES = frozenset(
    {NoticeState.sent, NoticeState.failed, NoticeState.skipped, NoticeState.silenced, NoticeState.cancelled}
)


def _notices_of(store: Store, incident_id: int, event_key: str | None) -> list[Notice]:
    notices = store.notices(incident_id)
    return [n for n in notices if n.event_key == event_key] if event_key is not None else notices


def pending_of(store: Store, incident_id: int, event_key: str | None = None) -> tuple[int, int]:
    """(notices finished, notices in all) of one incident, or of one of its events."""
    notices = _notices_of(store, incident_id, event_key)
    return sum(1 for n in notices if n.state in FINAL_STATES), len(notices)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryReport:
    """How an incident's notices ended when the command delivered them itself."""

    states: dict[NoticeState, int]
    finished: bool

    @property
    def sent(self) -> int:
        return self.states.get(NoticeState.sent, 0)


async def deliver_manual(
    config: Config,
    incident_id: int,
    *,
    on_progress: Callable[[int, int], None],
    event_key: str | None = None,
    clock: Callable[[], datetime] = utc_now,
    poll_s: float = 0.2,
) -> DeliveryReport:
    """Deliver an incident's notices from this process (no daemon runs): the hold is
    respected (held notices are not due before it ends), ``on_progress(done, total)`` is
    called as they finish. ``event_key`` follows and reports only the notices of that
    event (an update of an incident that told people before). Cancelled (Ctrl-C), the
    notices still waiting stay in the outbox for the next daemon or command; a notice in
    flight ends first."""
    with open_store(config) as store:
        incident = store.incident(incident_id)
        platforms = incident.platforms if incident is not None else ()
        pump = NoticePump(
            config=config,
            store=store,
            clock=clock,
            down_platforms=lambda: platforms,
            log=get_logger("failover.notices"),
        )
        async with pump:
            stop = asyncio.Event()
            task = asyncio.create_task(pump.run(stop), name="failover-notice-pump")
            finished = False
            try:
                while not task.done():
                    done, total = await asyncio.to_thread(pending_of, store, incident_id, event_key)
                    on_progress(done, total)
                    if done >= total:
                        finished = True
                        break
                    pump.wake()
                    await asyncio.sleep(poll_s)
            finally:
                stop.set()
                await pump.drain(5.0)
                await task
        notices = _notices_of(store, incident_id, event_key)
    return DeliveryReport(states=dict(Counter(n.state for n in notices)), finished=finished)
