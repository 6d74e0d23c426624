"""The composition root: the only package that knows every sibling, reads the clock,
calls adapters and owns their lifecycles. The CLI and the HTTP surface go through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from failover.detect import PlatformStatus
from failover.service._backend import coverage_json, plan_json
from failover.service._check import CheckReport, check_once, select_platforms
from failover.service._contacts import (
    ContactRow,
    ExportReport,
    ImportedContact,
    ImportReport,
    ParsedContacts,
    contact_rows,
    export_contacts,
    import_contacts,
    parse_contacts_csv,
    parse_vcards,
)
from failover.service._daemon import Daemon, DaemonTimings, ListenError
from failover.service._database import open_store, prune_database, upgrade_database
from failover.service._maintenance import Occurrence, WindowSchedule, maintenance_schedule
from failover.service._manual import (
    MESSAGE_LANGUAGES,
    ApprovalError,
    ApproveOutcome,
    ApproveReport,
    CancelOutcome,
    Coverage,
    CoverageChangedError,
    DeliveryReport,
    FanOutDuration,
    IncidentNotFoundError,
    ManualPlan,
    ManualTarget,
    NothingToUpdateError,
    OwnApprovalError,
    PreviewGap,
    PreviewText,
    RejectOutcome,
    ResolveOutcome,
    ResolveReport,
    TargetError,
    TriggerAction,
    TriggerOutcome,
    approval_preview,
    approve_manual,
    cancel_manual,
    deliver_manual,
    find_target,
    note_manual,
    plan_manual,
    preview_manual,
    reject_manual,
    resolve_manual,
    trigger_manual,
)
from failover.service._notices import (
    NoticePump,
    NotifyTestReport,
    active_silences,
    add_silence,
    find_contact,
    notice_channels,
    notice_template,
    plan_notices,
    remove_silences,
    send_test_notice,
    silence_matching,
    validate_notifications,
)
from failover.service._record import (
    DaemonFacts,
    StatusReport,
    Watcher,
    journal,
    status_report,
)
from failover.service._retract import (
    AlreadyRetractedError,
    RetractOutcome,
    RetractPlan,
    RetractPost,
    RetractReport,
    retract_manual,
    retraction_json,
    retraction_preview,
)
from failover.service._runtime import raise_open_files_limit, run_async, utc_now
from failover.service._status import journal_json, status_json
from failover.service._status_page import SiteReport, build_status_site
from failover.service._stored_contacts import close_address_books
from failover.service._template_cache import install_template_cache
from failover.store import JournalEntry, NoticeDraft, PruneReport, Silence

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "MESSAGE_LANGUAGES",
    "AlreadyRetractedError",
    "ApprovalError",
    "ApproveOutcome",
    "ApproveReport",
    "CancelOutcome",
    "CheckReport",
    "ContactRow",
    "Coverage",
    "CoverageChangedError",
    "Daemon",
    "DaemonFacts",
    "DaemonTimings",
    "DeliveryReport",
    "ExportReport",
    "FanOutDuration",
    "ImportReport",
    "ImportedContact",
    "IncidentNotFoundError",
    "JournalEntry",
    "ListenError",
    "ManualPlan",
    "ManualTarget",
    "NothingToUpdateError",
    "NoticeDraft",
    "NoticePump",
    "NotifyTestReport",
    "Occurrence",
    "OwnApprovalError",
    "ParsedContacts",
    "PlatformStatus",
    "PreviewGap",
    "PreviewText",
    "PruneReport",
    "RejectOutcome",
    "ResolveOutcome",
    "ResolveReport",
    "RetractOutcome",
    "RetractPlan",
    "RetractPost",
    "RetractReport",
    "Silence",
    "SiteReport",
    "StatusReport",
    "TargetError",
    "TriggerAction",
    "TriggerOutcome",
    "Watcher",
    "WindowSchedule",
    "active_silences",
    "add_silence",
    "approval_preview",
    "approve_manual",
    "build_status_site",
    "cancel_manual",
    "check_once",
    "close_address_books",
    "contact_rows",
    "coverage_json",
    "deliver_manual",
    "export_contacts",
    "find_contact",
    "find_target",
    "import_contacts",
    "install_template_cache",
    "journal",
    "journal_json",
    "maintenance_schedule",
    "note_manual",
    "notice_channels",
    "notice_template",
    "open_store",
    "parse_contacts_csv",
    "parse_vcards",
    "plan_json",
    "plan_manual",
    "plan_notices",
    "preview_manual",
    "prune_database",
    "raise_open_files_limit",
    "reject_manual",
    "remove_silences",
    "resolve_manual",
    "retract_manual",
    "retraction_json",
    "retraction_preview",
    "run_async",
    "run_demo",
    "select_platforms",
    "send_test_notice",
    "silence_matching",
    "status_json",
    "status_report",
    "trigger_manual",
    "upgrade_database",
    "utc_now",
    "validate_notifications",
]


async def run_demo(console: Console, *, speed: float = 1.0) -> int:
    """``failover demo`` (see :mod:`failover.service._demo`), loaded when asked for: the
    daemon does not carry the demo's servers and scenario in memory."""
    from failover.service._demo import run_demo as demo

    return await demo(console, speed=speed)
