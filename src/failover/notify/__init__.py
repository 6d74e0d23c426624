"""notify: render and deliver. A failed delivery is a value, not an exception.

Rendering (:func:`render_notice`, :func:`validate_template`) is pure. Delivery goes
through the :class:`Dispatcher` over an :class:`Outbox` port (the store's SQL outbox,
or :class:`MemoryOutbox`), a :class:`Sender` (:class:`ApprisePlugins`) and per-scheme
:class:`RateLimits`. Channel URLs are secrets: only :func:`redact_channel` forms and
channel refs ever leave this package.
"""

from failover.notify._channels import (
    ChannelRefusedError,
    channel_platforms,
    channel_scheme,
    check_channel,
    eligible_channels,
    ensure_may_carry,
    ineligibility,
    mastodon_visibility,
    redact_channel,
)
from failover.notify._dispatch import ClaimedNotice, Dispatcher, DispatchSummary, Outbox
from failover.notify._memory import DeliveryAttempt, MemoryOutbox, NoticeRecord, NoticeState
from failover.notify._ratelimit import RateLimit, RateLimits, TokenBucket
from failover.notify._render import (
    FALLBACK_LANGUAGE,
    RenderedNotice,
    format_duration,
    format_time,
    render_notice,
    validate_template,
)
from failover.notify._send import ApprisePlugins, Sender, SendResult
from failover.notify._texts import BUILTIN_TEMPLATES, builtin_template

__all__ = [
    "BUILTIN_TEMPLATES",
    "FALLBACK_LANGUAGE",
    "ApprisePlugins",
    "ChannelRefusedError",
    "ClaimedNotice",
    "DeliveryAttempt",
    "DispatchSummary",
    "Dispatcher",
    "MemoryOutbox",
    "NoticeRecord",
    "NoticeState",
    "Outbox",
    "RateLimit",
    "RateLimits",
    "RenderedNotice",
    "SendResult",
    "Sender",
    "TokenBucket",
    "builtin_template",
    "channel_platforms",
    "channel_scheme",
    "check_channel",
    "eligible_channels",
    "ensure_may_carry",
    "format_duration",
    "format_time",
    "ineligibility",
    "mastodon_visibility",
    "redact_channel",
    "render_notice",
    "validate_template",
]
