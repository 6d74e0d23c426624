"""notify: render and deliver. A failed delivery is a value, not an exception.

Rendering (:func:`render_notice`, :func:`validate_template`) is pure. Delivery goes
through the :class:`Dispatcher` over an :class:`Outbox` port (the store's SQL outbox,
or :class:`MemoryOutbox`), a :class:`Sender` (:class:`ApprisePlugins`) and per-scheme
:class:`RateLimits`. Channel URLs are secrets: only :func:`redact_channel` forms and
channel refs ever leave this package. :func:`public_text_problems` finds personal data
in text bound for a public channel.
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
from failover.notify._dispatch import (
    ChannelCursor,
    ClaimedNotice,
    Dispatcher,
    DispatchSummary,
    Outbox,
    SetAside,
    SetAsideReason,
)
from failover.notify._mastodon import PostDeletion, delete_post, deletion_problem
from failover.notify._memory import DeliveryAttempt, MemoryOutbox, NoticeRecord
from failover.notify._public import public_text_problems
from failover.notify._ratelimit import RateLimit, RateLimits, TokenBucket
from failover.notify._render import (
    FALLBACK_LANGUAGE,
    Alternatives,
    LanguageGap,
    RenderedNotice,
    alternatives_in,
    format_duration,
    format_time,
    in_language,
    join_words,
    language_gaps,
    manual_message,
    render_notice,
    use_bytecode_cache,
    validate_template,
)
from failover.notify._send import ApprisePlugins, Sender, SendResult, inert_mentions
from failover.notify._texts import (
    BUILTIN_TEMPLATES,
    CORRECTION_TEMPLATES,
    TEST_TEMPLATE,
    builtin_template,
    correction_template,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "CORRECTION_TEMPLATES",
    "FALLBACK_LANGUAGE",
    "TEST_TEMPLATE",
    "Alternatives",
    "ApprisePlugins",
    "ChannelCursor",
    "ChannelRefusedError",
    "ClaimedNotice",
    "DeliveryAttempt",
    "DispatchSummary",
    "Dispatcher",
    "LanguageGap",
    "MemoryOutbox",
    "NoticeRecord",
    "Outbox",
    "PostDeletion",
    "RateLimit",
    "RateLimits",
    "RenderedNotice",
    "SendResult",
    "Sender",
    "SetAside",
    "SetAsideReason",
    "TokenBucket",
    "alternatives_in",
    "builtin_template",
    "channel_platforms",
    "channel_scheme",
    "check_channel",
    "correction_template",
    "delete_post",
    "deletion_problem",
    "eligible_channels",
    "ensure_may_carry",
    "format_duration",
    "format_time",
    "in_language",
    "ineligibility",
    "inert_mentions",
    "join_words",
    "language_gaps",
    "manual_message",
    "mastodon_visibility",
    "public_text_problems",
    "redact_channel",
    "render_notice",
    "use_bytecode_cache",
    "validate_template",
]
