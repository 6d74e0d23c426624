"""``failover notify-test``: one test message to a contact, rendered in its language and
time zone and sent through its first eligible channel (or the one asked for), with
notify's dispatcher over an outbox in memory; nothing is written to the journal.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime

from failover.config import Config
from failover.domain import Contact, Incident, IncidentEvent, IncidentKind, IncidentScope, Visibility
from failover.errors import ConfigError
from failover.notify import (
    TEST_TEMPLATE,
    ApprisePlugins,
    Dispatcher,
    MemoryOutbox,
    RateLimits,
    Sender,
    SetAsideReason,
    channel_scheme,
    render_notice,
)
from failover.service._channels import notice_channels
from failover.service._database import open_store
from failover.service._pump import mute_apprise
from failover.service._runtime import utc_now

__all__ = ["NotifyTestReport", "find_contact", "send_test_notice"]


@dataclass(frozen=True, kw_only=True, slots=True)
class NotifyTestReport:
    """What ``notify-test`` did: the text, the channel used (or that would be), the outcome."""

    contact_id: str
    language: str
    subject: str
    body: str
    #: ``sent``, ``failed``, ``skipped`` (no eligible channel) or ``dry-run``
    outcome: str
    channel_ref: str | None
    scheme: str
    detail: str = ""


def find_contact(config: Config, wanted: str) -> Contact:
    """The contact whose id (or, typed by an operator, exact name) is ``wanted``."""
    contact = config.contact(wanted) or next((c for c in config.everyone() if c.name == wanted), None)
    if contact is None:
        raise ConfigError(
            f"no contact with id {wanted!r} (see `failover contacts list`)", source=config.source
        )
    return contact


async def send_test_notice(
    config: Config,
    contact_id: str,
    *,
    channel: int | None = None,
    dry_run: bool = False,
    sender: Sender | None = None,
    now: datetime | None = None,
) -> NotifyTestReport:
    """Send one test message to a contact: through its first eligible channel (channels
    of platforms with an open incident are passed over, as for a real notice), or through
    channel number ``channel`` (0 = first) only; one attempt per channel. ``dry_run``
    renders and shows the text, and sends nothing. Nothing is written to the journal."""
    contact = find_contact(config, contact_id)
    if channel is not None and not 0 <= channel < len(contact.channels):
        raise ConfigError(
            f"contact {contact.id} has channels 0 to {len(contact.channels) - 1}, not {channel}"
        )
    now = now or utc_now()
    with open_store(config) as store:
        down = {name for incident in store.open_incidents() for name in incident.platforms}
    incident = Incident(
        key=f"test:{contact.id}:{now:%Y%m%dT%H%M%S}",
        scope=IncidentScope.custom,
        kind=IncidentKind.manual,
        name="test",
        platforms=(),
        opened_at=now,
    )
    # a text of its own: it says it is a test, in the contact's language and time zone
    rendered = render_notice(
        template=TEST_TEMPLATE,
        language=contact.language,
        incident=incident,
        event=IncidentEvent.manual,
        contact=contact,
        now=now,
        alternatives=config.alternatives,
        platform_names={},
        timezone=config.daemon.timezone,
    )
    refs = [c.ref for c in contact.channels] if channel is None else [contact.channels[channel].ref]
    outbox = MemoryOutbox()
    notice_id = outbox.enqueue(
        key=incident.key,
        incident_key=incident.key,
        event=IncidentEvent.manual,
        contact_ref=contact.id,
        channel_refs=refs,
        visibility=Visibility.private,
        notice=rendered,
        now=now,
        down_platforms=down if channel is None else (),
    )
    async with AsyncExitStack() as stack:
        if sender is None:
            mute_apprise()
            sender = await stack.enter_async_context(ApprisePlugins(max_workers=1))
        dispatcher = Dispatcher(
            outbox,
            sender,
            RateLimits(),
            channels=notice_channels(config),
            concurrency=1,
            max_attempts=1,
            backoff_base_s=0.0,
            one_shot=True,
            jitter=lambda: 0.0,
            clock=utc_now,
            dry_run=dry_run,
        )
        await dispatcher.dispatch_due()
    record = outbox.get(notice_id)
    used = record.channel_ref or (record.deliveries[-1].channel_ref if record.deliveries else None)
    if record.why is not None and record.why.reason is SetAsideReason.dry_run:
        outcome = "dry-run"
        used = record.why.channel_ref
    else:
        outcome = str(record.state)
    channels = notice_channels(config)
    return NotifyTestReport(
        contact_id=contact.id,
        language=rendered.language,
        subject=rendered.subject,
        body=rendered.body,
        outcome=outcome,
        channel_ref=used,
        scheme=channel_scheme(channels[used].url) if used is not None and used in channels else "",
        detail=record.reason,
    )
