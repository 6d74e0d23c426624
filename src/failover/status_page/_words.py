"""The site's own words, in French and English. Incident texts are not here: they are the
notifier's public templates (see :class:`failover.status_page.Wording`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from failover.domain import Health, IncidentKind

__all__ = ["LANGUAGES", "Words", "words"]

_MONTHS_SHORT = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
}


class Words:
    """Every sentence of the page, the feed and the badges in one language."""

    def __init__(self, language: str, table: Mapping[str, str]) -> None:
        self.language = language
        self._table = table

    def __getattr__(self, key: str) -> str:
        try:
            return self._table[key]
        except KeyError:
            raise AttributeError(key) from None

    def health(self, health: Health) -> str:
        return self._table[f"health_{health.value}"]

    def kind(self, kind: IncidentKind) -> str:
        return self._table[f"kind_{kind.value}"]

    def day(self, day: date) -> str:
        """``4 Oct 2021`` / ``4 oct. 2021``."""
        return f"{day.day} {_MONTHS_SHORT[self.language][day.month - 1]} {day.year}"

    def percent(self, share: float) -> str:
        """A share as a percentage, never rounded up to 100 % when something was lost:
        ``99.95 %`` / ``99,95 %``."""
        hundredths = int(share * 10_000)  # floor: 99.999 % shows 99.99 %, not 100 %
        text = f"{hundredths // 100}.{hundredths % 100:02d}"
        if text.endswith(".00"):
            text = text[:-3]
        if self.language == "fr":
            return text.replace(".", ",") + "\u00a0%"
        return text + " %"

    def every(self, seconds: float) -> str:
        """How often, coarse: ``10 s``, ``5 min``, ``1 h 30 min``."""
        whole = max(1, round(seconds))
        if whole < 60:
            return f"{whole} s"
        hours, minutes = divmod(whole // 60, 60)
        if not hours:
            return f"{minutes} min"
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"

    def format(self, key: str, **values: object) -> str:
        return self._table[key].format(**values)


_EN = {
    "language_name": "English",
    "languages": "Languages",
    "title": "Service status",
    "skip": "Skip to the content",
    "updated": "Last updated:",
    "refresh": "This page is updated whenever a platform's state changes, and every {every} "
    "otherwise. If the time above is much older than that, the page could not be updated.",
    "banner_up": "All our lines work normally.",
    "banner_trouble": "Some of our lines are affected.",
    "banner_trouble_reach": "Some of our lines are affected: here is how to reach us now.",
    "banner_unknown": "The state of our lines cannot be checked at the moment.",
    "current": "Current incidents",
    "reach": "How to reach us now",
    "platforms": "Platforms",
    "legend": "Each bar is one day, the oldest on the left: red, unavailable; orange, not "
    "working properly; grey, not watched. Point at a bar to see its minutes.",
    "history": "Incident history",
    "history_none": "No incident in the last {days} days.",
    "history_more": "{count} earlier incidents are listed in status.json.",
    "col_start": "Started",
    "col_what": "What",
    "col_duration": "Duration",
    "ongoing": "ongoing",
    "since": "since {time}",
    "not_checked": "not checked yet",
    "started": "Started {time}",
    "so_far": "{duration} so far",
    "lasted": "lasted {duration}",
    "ended": "Ended {time}",
    "bars_label": "Last {days} days: {down} with an outage, {degraded} with disruptions, "
    "{unwatched} not watched",
    "availability": "{percent} available over {days} days",
    "no_data": "Not watched over the last {days} days yet",
    "day_down": "{day}: unavailable {minutes}",
    "day_degraded": "{day}: not working properly {minutes}",
    "footer": "This page is published by failover, apart from the platforms it watches: "
    "it keeps answering when they do not.",
    "feed": "Incident feed (Atom)",
    "json": "status.json",
    "badges": "Badges:",
    "feed_subtitle": "Incidents of the platforms we use to talk with you, and how to reach us meanwhile.",
    "health_up": "Working",
    "health_degraded": "Not working properly",
    "health_down": "Unavailable",
    "health_unknown": "Unknown",
    "badge_up": "up",
    "badge_degraded": "degraded",
    "badge_down": "down",
    "badge_unknown": "unknown",
    "kind_unreachable": "Outage",
    "kind_degraded": "Disruption",
    "kind_manual": "Notice",
}

_FR = {
    "language_name": "Français",
    "languages": "Langues",
    "title": "État des services",
    "skip": "Aller au contenu",
    "updated": "Dernière mise à jour :",
    "refresh": "Cette page est mise à jour à chaque changement d'état d'une plateforme, et "
    "toutes les {every} sinon. Si l'heure ci-dessus est bien plus ancienne, la page n'a pas "
    "pu être mise à jour.",
    "banner_up": "Toutes nos lignes fonctionnent normalement.",
    "banner_trouble": "Certaines de nos lignes sont touchées.",
    "banner_trouble_reach": "Certaines de nos lignes sont touchées : voici comment nous joindre.",
    "banner_unknown": "L'état de nos lignes ne peut pas être vérifié pour le moment.",
    "current": "Incidents en cours",
    "reach": "Comment nous joindre en ce moment",
    "platforms": "Plateformes",
    "legend": "Chaque barre est un jour, le plus ancien à gauche : rouge, indisponible ; "
    "orange, fonctionne mal ; gris, non surveillé. Survolez une barre pour voir ses minutes.",
    "history": "Historique des incidents",
    "history_none": "Aucun incident ces {days} derniers jours.",
    "history_more": "{count} incidents plus anciens figurent dans status.json.",
    "col_start": "Début",
    "col_what": "Quoi",
    "col_duration": "Durée",
    "ongoing": "en cours",
    "since": "depuis le {time}",
    "not_checked": "pas encore vérifié",
    "started": "Depuis le {time}",
    "so_far": "{duration} jusqu'ici",
    "lasted": "a duré {duration}",
    "ended": "Terminé le {time}",
    "bars_label": "{days} derniers jours : {down} avec une panne, {degraded} avec des "
    "perturbations, {unwatched} non surveillés",
    "availability": "{percent} de disponibilité sur {days} jours",
    "no_data": "Pas encore surveillé ces {days} derniers jours",
    "day_down": "{day} : indisponible {minutes}",
    "day_degraded": "{day} : fonctionne mal {minutes}",
    "footer": "Cette page est publiée par failover, à l'écart des plateformes qu'il surveille : "
    "elle répond encore quand elles ne répondent plus.",
    "feed": "Flux des incidents (Atom)",
    "json": "status.json",
    "badges": "Badges :",
    "feed_subtitle": "Les incidents des plateformes par lesquelles nous échangeons avec vous, "
    "et comment nous joindre en attendant.",
    "health_up": "Fonctionne",
    "health_degraded": "Fonctionne mal",
    "health_down": "Indisponible",
    "health_unknown": "Inconnu",
    "badge_up": "en service",
    "badge_degraded": "perturbé",
    "badge_down": "en panne",
    "badge_unknown": "inconnu",
    "kind_unreachable": "Panne",
    "kind_degraded": "Perturbations",
    "kind_manual": "Annonce",
}

#: The languages the site is written in.
LANGUAGES: Mapping[str, Words] = MappingProxyType({"en": Words("en", _EN), "fr": Words("fr", _FR)})


def words(language: str) -> Words:
    """The site's words in ``language`` (its base language's, else English)."""
    return LANGUAGES.get(language) or LANGUAGES.get(language.split("-", maxsplit=1)[0]) or LANGUAGES["en"]
