"""The words of the journal's markdown report, in each language it is written in.

Dates are formatted here rather than with ``strftime("%B")``, which follows the process's
locale: the report's language is the organisation's, not the shell's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Literal

__all__ = ["REPORT_LANGUAGES", "ReportLanguage", "ReportWords", "report_words"]

ReportLanguage = Literal["en", "fr"]
REPORT_LANGUAGES: tuple[ReportLanguage, ...] = ("en", "fr")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportWords:
    """Every heading and label of the report in one language."""

    title: str
    period_since: str  # {start} {end} {zone} {scope}
    period_all: str  # {end} {zone} {scope}
    platform_scope: str  # {platform}
    nothing: str
    incidents: tuple[str, str]  # one, several
    total: str  # {count} {incidents} {duration}
    still_open_count: str  # {count}
    table_header: str
    open: str
    section: str  # {id} {name} {kind}
    opened: str
    confirmed: str
    resolved: str
    still_open: str
    duration: str
    scope: str
    cause: str
    message: str
    message_in: str  # {language}
    notices_label: str
    notices: str  # {sent} {failed} {skipped} {pending}
    evidence: str
    journal: str
    colon: str
    kinds: MappingProxyType[str, str]
    scopes: MappingProxyType[str, str]
    actions: MappingProxyType[str, str]
    months: tuple[str, ...]
    day_unit: str
    #: a moment to the minute (the period), and to the second (each fact)
    long_format: str  # {day} {month} {year} {time}
    short_format: str  # strftime, with %H:%M
    full_format: str  # strftime, with %H:%M:%S

    def long_date(self, moment: datetime) -> str:
        return self.long_format.format(
            day=moment.day, month=self.months[moment.month - 1], year=moment.year, time=f"{moment:%H:%M}"
        )


_ENGLISH = ReportWords(
    title="Incident journal",
    period_since="Period: since {start} to {end} ({zone}){scope}. Times are local to {zone}.",
    period_all="Period: all recorded incidents to {end} ({zone}){scope}. Times are local to {zone}.",
    platform_scope=", platform {platform}",
    nothing="No incident was recorded in this period.",
    incidents=("incident", "incidents"),
    total="{count} {incidents}, {duration} of disruption in total",
    still_open_count=", {count} still open",
    table_header=(
        "| # | Opened | Resolved | Duration | Scope | Platforms | Kind | Notices sent | Notices failed |"
    ),
    open="open",
    section="#{id}: {name} ({kind})",
    opened="Opened",
    confirmed="Confirmed",
    resolved="Resolved",
    still_open="still open",
    duration="Duration",
    scope="Scope",
    cause="Cause",
    message="Message sent",
    message_in="Message sent ({language})",
    notices_label="Notices",
    notices=(
        "{sent} sent, {failed} failed, {skipped} not sent (skipped, silenced or cancelled), {pending} pending"
    ),
    evidence="Evidence",
    journal="Journal",
    colon=":",
    kinds=MappingProxyType({"unreachable": "unreachable", "degraded": "degraded", "manual": "manual"}),
    scopes=MappingProxyType({"platform": "platform", "family": "family", "custom": "custom"}),
    actions=MappingProxyType(
        {
            "triggered": "triggered",
            "updated": "update sent",
            "resolved": "resolved",
            "cancelled": "cancelled",
            "note": "note",
            "silenced": "silenced",
            "attached": "trigger attached",
            "approved": "approved",
            "rejected": "rejected",
            "retracted": "retracted (corrections sent)",
        }
    ),
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    day_unit="d",
    long_format="{day:02d} {month} {year} {time}",
    short_format="%Y-%m-%d %H:%M",
    full_format="%Y-%m-%d %H:%M:%S",
)

# French typography: a no-break space before a colon, "n°" before a number
_NBSP = "\u00a0"
_FRENCH = ReportWords(
    title="Journal des incidents",
    period_since=(
        f"Période{_NBSP}: du {{start}} au {{end}} ({{zone}}){{scope}}. Heures locales du fuseau {{zone}}."
    ),
    period_all=(
        f"Période{_NBSP}: tous les incidents enregistrés jusqu'au {{end}} ({{zone}}){{scope}}. "
        "Heures locales du fuseau {zone}."
    ),
    platform_scope=", plateforme {platform}",
    nothing="Aucun incident n'a été enregistré sur cette période.",
    incidents=("incident", "incidents"),
    total="{count} {incidents}, {duration} de perturbation au total",
    still_open_count=", {count} encore en cours",
    table_header=(
        "| N° | Début | Fin | Durée | Portée | Plateformes | Type | Notifications envoyées "
        "| Notifications en échec |"
    ),
    open="en cours",
    section=f"N° {{id}}{_NBSP}: {{name}} ({{kind}})",
    opened="Début",
    confirmed="Confirmation",
    resolved="Fin",
    still_open="toujours en cours",
    duration="Durée",
    scope="Portée",
    cause="Cause",
    message="Message envoyé",
    message_in="Message envoyé ({language})",
    notices_label="Notifications",
    notices=(
        "{sent} envoyée(s), {failed} en échec, {skipped} non envoyée(s) (écartées, mises en sourdine "
        "ou annulées), {pending} en attente"
    ),
    evidence="Constats",
    journal="Journal des actions",
    colon=_NBSP + ":",
    kinds=MappingProxyType({"unreachable": "injoignable", "degraded": "dégradé", "manual": "manuel"}),
    scopes=MappingProxyType({"platform": "plateforme", "family": "famille", "custom": "autre"}),
    actions=MappingProxyType(
        {
            "triggered": "déclenchement",
            "updated": "mise à jour envoyée",
            "resolved": "résolution",
            "cancelled": "annulation",
            "note": "note",
            "silenced": "mise en sourdine",
            "attached": "déclenchement rattaché",
            "approved": "approbation",
            "rejected": "rejet",
            "retracted": "retrait (rectificatifs envoyés)",
        }
    ),
    months=(
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    day_unit="j",
    long_format="{day} {month} {year} à {time}",
    short_format="%d/%m/%Y %H:%M",
    full_format="%d/%m/%Y %H:%M:%S",
)

_WORDS: MappingProxyType[ReportLanguage, ReportWords] = MappingProxyType({"en": _ENGLISH, "fr": _FRENCH})


def report_words(language: ReportLanguage) -> ReportWords:
    return _WORDS[language]
