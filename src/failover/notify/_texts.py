"""The built-in templates, in French and English, private and public.

Public texts are written for a post anyone can read: they speak for the organisation
("our WhatsApp line") and name no contact. Private texts greet the contact by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from failover.domain import IncidentEvent, Template, TemplateText, Visibility

__all__ = [
    "BUILTIN_TEMPLATES",
    "CORRECTION_TEMPLATES",
    "TEST_TEMPLATE",
    "builtin_template",
    "correction_template",
]

_ALTERNATIVES_EN = (
    "{% if alternatives %}You can reach us through:\n"
    "{% for way in alternatives %}- {{ way }}\n{% endfor +%}\n{% endif %}"
)
_ALTERNATIVES_FR = (
    "{% if alternatives %}Vous pouvez nous joindre par :\n"
    "{% for way in alternatives %}- {{ way }}\n{% endfor +%}\n{% endif %}"
)
# ("+%}" keeps the newline after the list: a blank line before what follows it)
_JOIN_EN = "{% if alternatives %} Reach us through: {{ alternatives | join('; ') }}.{% endif %}"
_JOIN_FR = "{% if alternatives %} Joignez-nous par : {{ alternatives | join(' ; ') }}.{% endif %}"
#: what the incident is about: "Facebook et WhatsApp", "A, B and C", or a custom name
_N = "{{ names }}"
_STARTED = "{{ started_at }}"
_DURATION = "{{ duration }}"
_MESSAGE = "{% if message %}{{ message }}\n\n{% endif %}"
_MESSAGE_INLINE = "{% if message %}{{ message }} {% endif %}"


def _plural(one: str, many: str) -> str:
    """Jinja choosing the singular or the plural by the number of platforms (a custom
    incident, which has none, is one thing)."""
    return f"{{{{ '{many}' if platforms | length > 1 else '{one}' }}}}"


def _by_kind(*, unreachable: str, degraded: str, manual: str | None = None) -> str:
    """Jinja choosing a text by the incident's kind; without a ``manual`` text, a manual
    incident reads like an outage."""
    chosen = f"{{% if kind == 'degraded' %}}{degraded}"
    if manual is not None:
        chosen += f"{{% elif kind == 'manual' %}}{manual}"
    return f"{chosen}{{% else %}}{unreachable}{{% endif %}}"


_HAS = _plural("has", "have")
_IS = _plural("is", "are")
_WORKS = _plural("works", "work")
_LINE = _plural("line", "lines")
_IT_WORKS = _plural("it works", "they work")
_IT_IS = _plural("it is", "they are")
_EST = _plural("est", "sont")
_INDISPONIBLE = _plural("indisponible", "indisponibles")
_FONCTIONNE = _plural("fonctionne", "fonctionnent")
_NOTRE_LIGNE = _plural("Notre ligne", "Nos lignes")
_NOTRE_LIGNE_LOWER = _plural("notre ligne", "nos lignes")

_HELLO = "Hello {{ contact_name }},\n\n"
_BONJOUR = "Bonjour {{ contact_name }},\n\n"
_BACK_TO_NORMAL = f"{_N}: back to normal"
_RETOUR_A_LA_NORMALE = f"{_N} : retour à la normale"
_AS_USUAL = f"{_BACK_TO_NORMAL}. You can reach us as usual again."
_COMME_D_HABITUDE = f"{_RETOUR_A_LA_NORMALE}. Vous pouvez de nouveau nous joindre comme d'habitude."
_CHANGED = "{% if message %}{{ message }}{% else %}We have changed how to reach us for now.{% endif %}"
_CHANGE = (
    "{% if message %}{{ message }}{% else %}Nous changeons de moyen de contact pour le moment.{% endif %}"
)

_PRIVATE: dict[str, dict[str, TemplateText]] = {
    "outage": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"{_N} unavailable: how to reach us",
                degraded=f"{_N} not working properly: how to reach us",
            ),
            body=_HELLO
            + _by_kind(
                unreachable=f"{_N} {_HAS} been unavailable since {_STARTED}.\n\n",
                degraded=f"{_N} {_HAS} not been working properly since {_STARTED}.\n\n",
            )
            + _ALTERNATIVES_EN
            + _by_kind(
                unreachable=f"We will tell you when {_IT_WORKS} again.\n",
                degraded=f"We will tell you when {_IT_IS} back to normal.\n",
            ),
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"{_N} {_INDISPONIBLE} : comment nous joindre",
                degraded=f"{_N} {_FONCTIONNE} mal : comment nous joindre",
            ),
            body=_BONJOUR
            + _by_kind(
                unreachable=f"{_N} {_EST} {_INDISPONIBLE} depuis le {_STARTED}.\n\n",
                degraded=f"{_N} {_FONCTIONNE} mal depuis le {_STARTED}.\n\n",
            )
            + _ALTERNATIVES_FR
            + _by_kind(
                unreachable="Nous vous préviendrons dès que le service sera rétabli.\n",
                degraded="Nous vous préviendrons dès que tout sera rentré dans l'ordre.\n",
            ),
        ),
    },
    "update": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"Update: {_N} unavailable",
                degraded=f"Update: {_N} not working properly",
            ),
            body=_HELLO
            + _MESSAGE
            + _by_kind(
                unreachable=f"{_N} {_IS} now unavailable (the outage began on {_STARTED}).\n\n",
                degraded=f"{_N} {_IS} now not working properly "
                "(the disruption began on {{ started_at }}).\n\n",
            )
            + _ALTERNATIVES_EN
            + f"We will tell you when {_IT_WORKS} again.\n",
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"Mise à jour : {_N} {_INDISPONIBLE}",
                degraded=f"Mise à jour : {_N} {_FONCTIONNE} mal",
            ),
            body=_BONJOUR
            + _MESSAGE
            + _by_kind(
                unreachable=f"{_N} {_EST} désormais {_INDISPONIBLE} "
                "(la panne a commencé le {{ started_at }}).\n\n",
                degraded=f"{_N} {_FONCTIONNE} désormais mal "
                "(les perturbations ont commencé le {{ started_at }}).\n\n",
            )
            + _ALTERNATIVES_FR
            + "Nous vous préviendrons dès que le service sera rétabli.\n",
        ),
    },
    "recovery": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"{_N} {_WORKS} again",
                degraded=f"{_N} {_WORKS} normally again",
                manual=_BACK_TO_NORMAL,
            ),
            body=_HELLO
            + _by_kind(
                unreachable=f"{_N} {_WORKS} again, after an outage of {_DURATION} "
                "that began on {{ started_at }}.\n",
                degraded=f"{_N} {_WORKS} normally again, after {_DURATION} of disruption "
                "that began on {{ started_at }}.\n",
                manual=f"{_AS_USUAL}\n",
            ),
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"{_N} {_FONCTIONNE} à nouveau",
                degraded=f"{_N} {_FONCTIONNE} de nouveau normalement",
                manual=_RETOUR_A_LA_NORMALE,
            ),
            body=_BONJOUR
            + _by_kind(
                unreachable=f"{_N} {_FONCTIONNE} à nouveau, après une interruption de {_DURATION} "
                "commencée le {{ started_at }}.\n",
                degraded=f"{_N} {_FONCTIONNE} de nouveau normalement, après {_DURATION} "
                "de perturbations commencées le {{ started_at }}.\n",
                manual=f"{_COMME_D_HABITUDE}\n",
            ),
        ),
    },
    "manual": {
        "en": TemplateText(
            subject=f"{_N}: how to reach us now",
            body=_HELLO
            + _MESSAGE
            + f"{{% if platforms %}}Please do not use {_N} for now.\n\n{{% endif %}}"
            + _ALTERNATIVES_EN,
        ),
        "fr": TemplateText(
            subject=f"{_N} : comment nous joindre en ce moment",
            body=_BONJOUR
            + _MESSAGE
            + f"{{% if platforms %}}Merci de ne pas utiliser {_N} pour le moment.\n\n{{% endif %}}"
            + _ALTERNATIVES_FR,
        ),
    },
    "reminder": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"Reminder: {_N} still unavailable",
                degraded=f"Reminder: {_N} still not working properly",
                manual=f"Reminder: how to reach us ({_N})",
            ),
            body=_HELLO
            + _by_kind(
                unreachable=f"{_N} {_HAS} been unavailable since {_STARTED} ({_DURATION}).\n\n",
                degraded=f"{_N} {_HAS} not been working properly since {_STARTED} ({{{{ duration }}}}).\n\n",
                manual=_MESSAGE,
            )
            + _ALTERNATIVES_EN,
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"Rappel : {_N} toujours {_INDISPONIBLE}",
                degraded=f"Rappel : {_N} {_FONCTIONNE} toujours mal",
                manual=f"Rappel : comment nous joindre ({_N})",
            ),
            body=_BONJOUR
            + _by_kind(
                unreachable=f"{_N} {_EST} toujours {_INDISPONIBLE} depuis le {_STARTED} "
                "({{ duration }}).\n\n",
                degraded=f"{_N} {_FONCTIONNE} toujours mal depuis le {_STARTED} ({{{{ duration }}}}).\n\n",
                manual=_MESSAGE,
            )
            + _ALTERNATIVES_FR,
        ),
    },
}

_PUBLIC: dict[str, dict[str, TemplateText]] = {
    "outage": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"Our {_N} {_LINE} {_IS} unavailable",
                degraded=f"Our {_N} {_LINE} {_IS} not working properly",
            ),
            body=_by_kind(
                unreachable=f"Our {_N} {_LINE} {_HAS} been unavailable since {_STARTED}.",
                degraded=f"Our {_N} {_LINE} {_HAS} not been working properly since {_STARTED}.",
            )
            + _JOIN_EN,
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_EST} {_INDISPONIBLE}",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} mal",
            ),
            body=_by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_EST} {_INDISPONIBLE} depuis le {_STARTED}.",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} mal depuis le {_STARTED}.",
            )
            + _JOIN_FR,
        ),
    },
    "update": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"Update: our {_N} {_LINE} {_IS} unavailable",
                degraded=f"Update: our {_N} {_LINE} {_IS} not working properly",
            ),
            body=_MESSAGE_INLINE
            + _by_kind(
                unreachable=f"Our {_N} {_LINE} {_IS} now unavailable (the outage began on {_STARTED}).",
                degraded=f"Our {_N} {_LINE} {_IS} now not working properly "
                "(the disruption began on {{ started_at }}).",
            )
            + _JOIN_EN,
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"Mise à jour : {_NOTRE_LIGNE_LOWER} {_N} {_EST} {_INDISPONIBLE}",
                degraded=f"Mise à jour : {_NOTRE_LIGNE_LOWER} {_N} {_FONCTIONNE} mal",
            ),
            body=_MESSAGE_INLINE
            + _by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_EST} désormais {_INDISPONIBLE} "
                "(la panne a commencé le {{ started_at }}).",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} désormais mal "
                "(les perturbations ont commencé le {{ started_at }}).",
            )
            + _JOIN_FR,
        ),
    },
    "recovery": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"Our {_N} {_LINE} {_WORKS} again",
                degraded=f"Our {_N} {_LINE} {_WORKS} normally again",
                manual=_BACK_TO_NORMAL,
            ),
            body=_by_kind(
                unreachable=f"Our {_N} {_LINE} {_WORKS} again, after an outage of {_DURATION}.",
                degraded=f"Our {_N} {_LINE} {_WORKS} normally again, after {_DURATION} of disruption.",
                manual=_AS_USUAL,
            ),
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} à nouveau",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} de nouveau normalement",
                manual=_RETOUR_A_LA_NORMALE,
            ),
            body=_by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} à nouveau, après {_DURATION} d'interruption.",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} de nouveau normalement, "
                "après {{ duration }} de perturbations.",
                manual=_COMME_D_HABITUDE,
            ),
        ),
    },
    "manual": {
        "en": TemplateText(subject=f"{_N}: how to reach us now", body=_CHANGED + _JOIN_EN),
        "fr": TemplateText(subject=f"{_N} : comment nous joindre en ce moment", body=_CHANGE + _JOIN_FR),
    },
    "reminder": {
        "en": TemplateText(
            subject=_by_kind(
                unreachable=f"Our {_N} {_LINE} {_IS} still unavailable",
                degraded=f"Our {_N} {_LINE} {_IS} still not working properly",
                manual=f"Reminder: how to reach us ({_N})",
            ),
            body=_by_kind(
                unreachable=f"Our {_N} {_LINE} {_HAS} been unavailable since {_STARTED}.",
                degraded=f"Our {_N} {_LINE} {_HAS} not been working properly since {_STARTED}.",
                manual=_CHANGED,
            )
            + _JOIN_EN,
        ),
        "fr": TemplateText(
            subject=_by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_EST} toujours {_INDISPONIBLE}",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} toujours mal",
                manual=f"Rappel : comment nous joindre ({_N})",
            ),
            body=_by_kind(
                unreachable=f"{_NOTRE_LIGNE} {_N} {_EST} toujours {_INDISPONIBLE} depuis le {_STARTED}.",
                degraded=f"{_NOTRE_LIGNE} {_N} {_FONCTIONNE} toujours mal depuis le {_STARTED}.",
                manual=_CHANGE,
            )
            + _JOIN_FR,
        ),
    },
}

#: ``failover notify-test``: says it is a test, that nothing is down, and shows the
#: alternatives the contact would be given. Private only, and no route may name it.
TEST_TEMPLATE = Template(
    name="test",
    visibility=Visibility.private,
    texts=MappingProxyType(
        {
            "en": TemplateText(
                subject="Test message: failover can reach you",
                body=_HELLO + "This is a test message from failover: no platform is down, and there is "
                "nothing to do. Should one go dark, this is where we will tell you how to "
                "reach us.\n\n" + _ALTERNATIVES_EN,
            ),
            "fr": TemplateText(
                subject="Message d'essai : failover peut vous joindre",
                body=_BONJOUR + "Ceci est un message d'essai de failover : aucune plateforme n'est en panne, "
                "vous n'avez rien à faire. Si l'une d'elles devient injoignable, c'est ici que "
                "nous vous dirons comment nous joindre.\n\n" + _ALTERNATIVES_FR,
            ),
        }
    ),
)


#: A retraction's correction, sent to whoever was told of the incident (on the channel and in
#: the language they were told in): the operator's words, if any, then the built-in text.
#: Not a template a route may name: what a correction says does not depend on a route.
_CORRECTION_PRIVATE = {
    "en": TemplateText(
        subject=f"Correction: {_N}",
        body=_HELLO + _MESSAGE + f"Please disregard our earlier message about {_N}: it was sent by mistake. "
        "You can reach us as usual.\n",
    ),
    "fr": TemplateText(
        subject=f"Rectificatif : {_N}",
        body=_BONJOUR
        + _MESSAGE
        + f"Merci de ne pas tenir compte de notre précédent message concernant {_N} : "
        "il a été envoyé par erreur. Vous pouvez nous joindre comme d'habitude.\n",
    ),
}
_CORRECTION_PUBLIC = {
    "en": TemplateText(
        subject=f"Correction: {_N}",
        body=_MESSAGE_INLINE + f"Our earlier message about {_N} was sent by mistake: please disregard it. "
        "You can reach us as usual.",
    ),
    "fr": TemplateText(
        subject=f"Rectificatif : {_N}",
        body=_MESSAGE_INLINE
        + f"Notre précédent message concernant {_N} a été envoyé par erreur : merci de ne pas "
        "en tenir compte. Vous pouvez nous joindre comme d'habitude.",
    ),
}
#: ``correction`` (private) and ``correction-public``
CORRECTION_TEMPLATES: Mapping[str, Template] = MappingProxyType(
    {
        "correction": Template(
            name="correction", visibility=Visibility.private, texts=MappingProxyType(_CORRECTION_PRIVATE)
        ),
        "correction-public": Template(
            name="correction-public", visibility=Visibility.public, texts=MappingProxyType(_CORRECTION_PUBLIC)
        ),
    }
)


def correction_template(visibility: Visibility) -> Template:
    """The correction a retraction sends: ``correction``, or ``correction-public`` for a
    public channel."""
    return CORRECTION_TEMPLATES["correction" if visibility is Visibility.private else "correction-public"]


def _templates() -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for kind, texts in _PRIVATE.items():
        templates[kind] = Template(name=kind, visibility=Visibility.private, texts=MappingProxyType(texts))
    for kind, texts in _PUBLIC.items():
        name = f"{kind}-public"
        templates[name] = Template(name=name, visibility=Visibility.public, texts=MappingProxyType(texts))
    return templates


#: ``outage``, ``update``, ``recovery``, ``manual``, ``reminder`` and their ``-public`` variants.
BUILTIN_TEMPLATES: Mapping[str, Template] = MappingProxyType(_templates())

_KIND_OF_EVENT = {
    IncidentEvent.opened: "outage",
    IncidentEvent.confirmed: "outage",
    # rendered when sent, so it names every member down by then; says it is an update
    IncidentEvent.updated: "update",
    IncidentEvent.resolved: "recovery",
    IncidentEvent.manual: "manual",
    IncidentEvent.reminder: "reminder",
}


def builtin_template(event: IncidentEvent, visibility: Visibility) -> Template:
    """The built-in template for an event: outage for opened/confirmed, update when more
    platforms joined, recovery for resolved, manual, reminder; the ``-public`` variant for
    a public visibility; the correction for a retraction. Each speaks of an outage, a
    degraded platform or a manual failover in its own words (``kind``)."""
    if event is IncidentEvent.retracted:
        return correction_template(visibility)
    kind = _KIND_OF_EVENT[event]
    return BUILTIN_TEMPLATES[kind if visibility is Visibility.private else f"{kind}-public"]
