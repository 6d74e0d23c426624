"""The composition root: the only package that knows every sibling, reads the clock,
calls adapters and owns their lifecycles. The CLI and the HTTP surface go through it.
"""

from __future__ import annotations

from failover.contacts import (
    ContactRow,
    ExportReport,
    ImportedContact,
    ParsedContacts,
    contact_rows,
    export_contacts,
    parse_contacts_csv,
    parse_vcards,
)
from failover.detect import PlatformStatus
from failover.service._approval import (
    ApproveOutcome,
    ApproveReport,
    RejectOutcome,
    approval_preview,
    approve_manual,
    reject_manual,
)
from failover.service._channels import notice_channels
from failover.service._check import CheckReport, check_once, select_platforms
from failover.service._contacts import ImportReport, import_contacts
from failover.service._daemon import Daemon, DaemonTimings
from failover.service._database import open_store, prune_database, upgrade_database
from failover.service._delivery import DeliveryReport, deliver_manual
from failover.service._http import ListenError
from failover.service._incident_actions import (
    CancelOutcome,
    ResolveOutcome,
    ResolveReport,
    cancel_manual,
    note_manual,
    resolve_manual,
)
from failover.service._maintenance import Occurrence, WindowSchedule, maintenance_schedule
from failover.service._manual_plan import (
    MESSAGE_LANGUAGES,
    FanOutDuration,
    ManualPlan,
    PreviewGap,
    PreviewText,
    plan_manual,
)
from failover.service._manual_target import (
    ApprovalError,
    Coverage,
    CoverageChangedError,
    IncidentNotFoundError,
    ManualTarget,
    NothingToUpdateError,
    OwnApprovalError,
    TargetError,
    find_target,
)
from failover.service._notify_test import NotifyTestReport, find_contact, send_test_notice
from failover.service._plan import notice_template, plan_notices, silence_matching, validate_notifications
from failover.service._pump import NoticePump
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
from failover.service._round import Watcher
from failover.service._runtime import raise_open_files_limit, run_async, utc_now
from failover.service._silences import active_silences, add_silence, remove_silences
from failover.service._status import (
    DaemonFacts,
    StatusReport,
    coverage_json,
    journal,
    journal_json,
    plan_json,
    status_json,
    status_report,
)
from failover.service._status_page import SiteReport, build_status_site
from failover.service._stored_contacts import close_address_books
from failover.service._template_cache import install_template_cache
from failover.service._trigger import TriggerAction, TriggerOutcome, preview_manual, trigger_manual
from failover.store import JournalEntry, NoticeDraft, PruneReport, Silence

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
