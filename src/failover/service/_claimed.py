"""What a claimed notice becomes: rendered for delivery (:func:`prepare_notice`) from the
incident as stored and the configuration as loaded, in its recipient's language and time
zone, or set aside, with the state it ends in and why (:class:`SetAsideNotice`): its
incident resolved, was retracted or is no longer recorded, a silence or a maintenance
window holds it, its recipient is gone, its text does not render or would carry personal
data to the public. A retraction's correction goes through the channel its recipient was
told through (:func:`correction_channel`), and waits while their notice is in flight.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from failover.config import Config
from failover.domain import Contact, Incident, IncidentEvent, NoticeState, Visibility
from failover.errors import NotifyError
from failover.notify import (
    ChannelCursor,
    ClaimedNotice,
    SetAside,
    SetAsideReason,
    public_text_problems,
    render_notice,
)
from failover.service._maintenance import MaintenanceHold, MaintenanceQuiet
from failover.service._plan import SHARED_PREFIX, describe_silence, notice_template, silence_matching
from failover.store import Notice, Silence

__all__ = [
    "CORRECTION_WAIT",
    "SetAsideNotice",
    "WaitForOriginal",
    "correction_channel",
    "event_time",
    "may_be_superseded",
    "prepare_notice",
]


@dataclass(frozen=True, slots=True)
class SetAsideNotice:
    """A claimed notice that will not be delivered: the state it ends in, and why."""

    state: NoticeState
    why: SetAside

    @classmethod
    def of(cls, state: NoticeState, reason: SetAsideReason, detail: str) -> SetAsideNotice:
        return cls(state, SetAside(reason=reason, detail=detail))


def event_time(notice: Notice, incident: Incident | None) -> datetime:
    """When the event a notice tells of happened, for ``failover_notice_latency_seconds``:
    the incident's confirmation, opening or resolution, else the notice's creation (a
    reminder). A deliberate hold (a manual failover's cancellation window) is no latency:
    the clock starts when it ends."""
    at: datetime | None = None
    if incident is not None:
        if notice.event is IncidentEvent.confirmed:
            at = incident.confirmed_at
        elif notice.event in (IncidentEvent.opened, IncidentEvent.manual):
            at = incident.opened_at
        elif notice.event is IncidentEvent.resolved:
            at = incident.resolved_at
    at = at or notice.created_at
    if notice.not_before is not None and notice.not_before > at:
        at = notice.not_before
    return at


def _cursor(channel_refs: Sequence[str], notice: Notice) -> ChannelCursor:
    """Where delivery stands, as kept when the notice was last put back: at the channel it
    had reached, with the tries made on it. A channel no longer among the recipient's (the
    configuration changed) starts it over."""
    if notice.cursor_ref is None or notice.cursor_ref not in channel_refs:
        return ChannelCursor()
    return ChannelCursor(index=list(channel_refs).index(notice.cursor_ref), tries=notice.cursor_tries)


def may_be_superseded(notice: Notice, incident: Incident | None) -> bool:
    """A notice telling of an incident that has resolved since, other than its recovery
    (and a retraction's correction, which is about the incident's end)."""
    return (
        incident is not None
        and not incident.is_open
        and notice.event not in (IncidentEvent.resolved, IncidentEvent.reminder, IncidentEvent.retracted)
    )


class WaitForOriginal:
    """A correction whose recipient's notice of the incident is still on its way: it waits."""


#: how long a correction waits for its recipient's notice in flight to end, each time
CORRECTION_WAIT = timedelta(seconds=2)


def correction_channel(notices: Sequence[Notice], contact_ref: str) -> str | WaitForOriginal | None:
    """Where a retraction's correction for ``contact_ref`` goes, given the notices of its
    incident: the channel that recipient's first notice of it was sent through (the same
    channel), :class:`WaitForOriginal` while one of their notices is being sent (it may yet
    go out), None when none of them was sent (nothing to correct). A notice of theirs still
    pending is not waited for: the incident is retracted, so it is set aside when claimed."""
    told = [n for n in notices if n.contact_ref == contact_ref and n.event is not IncidentEvent.retracted]
    if any(n.state is NoticeState.sending for n in told):
        return WaitForOriginal()
    sent = sorted(
        (n for n in told if n.state is NoticeState.sent and n.channel_ref),
        key=lambda n: (n.sent_at or n.created_at, n.id),
    )
    return sent[0].channel_ref if sent else None


def prepare_notice(
    config: Config,
    notice: Notice,
    incident: Incident | None,
    silences: Sequence[Silence],
    now: datetime,
    *,
    recovered: Collection[str] = (),
    quiet: MaintenanceHold | MaintenanceQuiet | None = None,
    correct_via: str | None = None,
    contacts: Mapping[str, Contact] | None = None,
) -> ClaimedNotice | SetAsideNotice:
    """Render a claimed notice for delivery, or say why it will not be delivered.
    ``contacts``: the recipients of a claimed batch, looked up at once (else one by one);
    ``recovered``: the recipients that have a recovery notice of the notice's incident;
    ``quiet``: the maintenance window its incident opened and resolved within, if any;
    ``correct_via``: for a retraction's correction, the channel its recipient was told
    through (None: they were not, and there is nothing to correct)."""
    if incident is None:
        return SetAsideNotice.of(
            NoticeState.failed, SetAsideReason.incident_gone, "the incident is no longer recorded"
        )
    correction = notice.event is IncidentEvent.retracted
    if incident.retracted_at is not None and not correction:
        return SetAsideNotice.of(
            NoticeState.skipped,
            SetAsideReason.retracted,
            "the incident was retracted: only its corrections go out",
        )
    if correction and correct_via is None:
        return SetAsideNotice.of(
            NoticeState.skipped,
            SetAsideReason.nothing_to_correct,
            "no notice of the retracted incident reached this recipient: nothing to correct",
        )
    if isinstance(quiet, MaintenanceQuiet):
        return SetAsideNotice.of(NoticeState.silenced, SetAsideReason.maintenance, quiet.detail)
    if may_be_superseded(notice, incident) and notice.contact_ref in recovered:
        # still untold when the incident resolved: the recovery notice tells them instead
        return SetAsideNotice.of(
            NoticeState.skipped,
            SetAsideReason.superseded,
            f"the incident resolved before this {notice.event} notice went out; "
            "its recovery notice replaces it",
        )
    if notice.event is IncidentEvent.reminder and not incident.is_open:
        return SetAsideNotice.of(
            NoticeState.skipped,
            SetAsideReason.incident_resolved,
            "the incident was resolved before the reminder went out",
        )
    silence = silence_matching(config, incident, notice.event, silences, now)
    if silence is not None:
        return SetAsideNotice.of(NoticeState.silenced, SetAsideReason.silenced, describe_silence(silence))
    contact: Contact | None
    if notice.contact_ref.startswith(SHARED_PREFIX):
        shared = next((c for c in config.channels.values() if c.ref == notice.contact_ref), None)
        if shared is None:
            return SetAsideNotice.of(
                NoticeState.skipped,
                SetAsideReason.recipient_gone,
                f"{notice.contact_ref} is no longer configured",
            )
        channel_refs: tuple[str, ...] = (shared.ref,)
        # a shared channel has no contact; a private text greets the channel by its name
        name = notice.contact_ref[len(SHARED_PREFIX) :]
        contact = Contact(name=name, id=name, language=notice.language, timezone=config.daemon.timezone)
    else:
        contact = config.contact(notice.contact_ref) if contacts is None else contacts.get(notice.contact_ref)
        if contact is None:
            return SetAsideNotice.of(
                NoticeState.skipped,
                SetAsideReason.recipient_gone,
                f"contact {notice.contact_ref} is no longer configured",
            )
        channel_refs = tuple(channel.ref for channel in contact.channels)
    if correction and correct_via is not None:
        # the correction goes where the mistaken notice went, and nowhere else
        channel_refs = (correct_via,)
    try:
        template = notice_template(config, notice.template, notice.event)
        if notice.message:
            incident = replace(incident, message=notice.message)
        rendered = render_notice(
            template=template,
            language=notice.language,
            incident=incident,
            event=notice.event,
            contact=contact,
            now=now,
            alternatives=config.alternatives,
            platform_names={p.name: p.display_name for p in config.platforms},
            timezone=config.daemon.timezone,
            # an operator's update of any incident (the judge's too) shows their words; a
            # correction shows the operator's correction, never the retracted message
            message=notice.message or ("" if correction else None),
        )
    except NotifyError as exc:
        return SetAsideNotice.of(NoticeState.failed, SetAsideReason.unrenderable, str(exc))
    if template.visibility is Visibility.public:
        # the last guard: a manual message or an alert's words checked nowhere else
        problems = public_text_problems(f"{rendered.subject}\n{rendered.body}", config)
        if problems:
            detail = "public text with personal data: " + "; ".join(problems)
            return SetAsideNotice.of(NoticeState.failed, SetAsideReason.personal_data, detail)
    down = (
        frozenset(incident.platforms)
        if incident.is_open and notice.event is not IncidentEvent.resolved
        else frozenset()
    )
    return ClaimedNotice(
        id=notice.id,
        key=notice.idempotency_key,
        incident_key=notice.incident_key,
        event=notice.event,
        contact_ref=notice.contact_ref,
        channel_refs=channel_refs,
        visibility=template.visibility,
        notice=rendered,
        attempts=notice.attempts,
        cursor=_cursor(channel_refs, notice),
        down_platforms=down,
        last_error=notice.last_error or "",
        due_since=max(notice.created_at, notice.not_before or notice.created_at),
    )
