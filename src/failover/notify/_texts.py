"""The built-in templates, in French and English, private and public.

Public texts are written for a post anyone can read: they speak for the organisation
("our WhatsApp line") and name no contact. Private texts greet the contact by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from failover.domain import IncidentEvent, Template, TemplateText, Visibility

__all__ = ["BUILTIN_TEMPLATES", "builtin_template"]

_ALTERNATIVES_EN = (
    "{% if alternatives %}You can reach us through:\n"
    "{% for way in alternatives %}- {{ way }}\n{% endfor %}{% endif %}"
)
_ALTERNATIVES_FR = (
    "{% if alternatives %}Vous pouvez nous joindre par :\n"
    "{% for way in alternatives %}- {{ way }}\n{% endfor %}{% endif %}"
)
_PLATFORMS = "{{ platforms | join(', ') }}"


def _one_or_many(one: str, many: str) -> str:
    """A Jinja expression choosing the singular or the plural by the number of platforms."""
    return f"{{{{ '{one}' if platforms | length == 1 else '{many}' }}}}"


_UNAVAILABLE_FR = _one_or_many("indisponible", "indisponibles")
_HAS_BEEN_EN = _one_or_many("has been", "have been")
_OUR_LINE_EN = "Our {{ platforms | join(', ') }} " + _one_or_many("line", "lines")
_OUR_LINE_FR = _one_or_many("Notre ligne", "Nos lignes") + " {{ platforms | join(', ') }}"
_EST_OR_SONT = _one_or_many("est", "sont")
_IS_EN = _one_or_many("is", "are")
_IS_FR = _one_or_many("est indisponible", "sont indisponibles")
_STILL_FR = _one_or_many("est toujours indisponible", "sont toujours indisponibles")
_WORKS_FR = _one_or_many("fonctionne", "fonctionnent")
_WORK_EN = _one_or_many("works", "work")
_JOIN_EN = "{% if alternatives %} Reach us through: {{ alternatives | join(', ') }}.{% endif %}"
_JOIN_FR = "{% if alternatives %} Joignez-nous par : {{ alternatives | join(', ') }}.{% endif %}"

_PRIVATE: dict[str, dict[str, TemplateText]] = {
    "outage": {
        "en": TemplateText(
            subject=f"{_PLATFORMS} unavailable: how to reach us",
            body=(
                "Hello {{ contact_name }},\n\n"
                f"{_PLATFORMS} {_HAS_BEEN_EN} unavailable since {{{{ started_at }}}}.\n\n"
                f"{_ALTERNATIVES_EN}We will tell you when it works again.\n"
            ),
        ),
        "fr": TemplateText(
            subject=f"{_PLATFORMS} {_UNAVAILABLE_FR} : comment nous joindre",
            body=(
                "Bonjour {{ contact_name }},\n\n"
                f"{_PLATFORMS} {_IS_FR} depuis le {{{{ started_at }}}}.\n\n"
                f"{_ALTERNATIVES_FR}Nous vous préviendrons dès que le service sera rétabli.\n"
            ),
        ),
    },
    "recovery": {
        "en": TemplateText(
            subject=f"{_PLATFORMS} {_WORK_EN} again",
            body=(
                "Hello {{ contact_name }},\n\n"
                f"{_PLATFORMS} {_WORK_EN} again, after an outage of {{{{ duration }}}} "
                "that began on {{ started_at }}.\n"
            ),
        ),
        "fr": TemplateText(
            subject=f"{_PLATFORMS} {_WORKS_FR} à nouveau",
            body=(
                "Bonjour {{ contact_name }},\n\n"
                f"{_PLATFORMS} {_WORKS_FR} à nouveau, après une interruption de {{{{ duration }}}} "
                "commencée le {{ started_at }}.\n"
            ),
        ),
    },
    "manual": {
        "en": TemplateText(
            subject="How to reach us now",
            body=(
                "Hello {{ contact_name }},\n\n"
                "{% if message %}{{ message }}\n\n{% endif %}"
                f"{{% if platforms %}}Please do not use {_PLATFORMS} for now.\n{{% endif %}}"
                f"{_ALTERNATIVES_EN}"
            ),
        ),
        "fr": TemplateText(
            subject="Comment nous joindre en ce moment",
            body=(
                "Bonjour {{ contact_name }},\n\n"
                "{% if message %}{{ message }}\n\n{% endif %}"
                f"{{% if platforms %}}Merci de ne pas utiliser {_PLATFORMS} pour le moment.\n{{% endif %}}"
                f"{_ALTERNATIVES_FR}"
            ),
        ),
    },
    "reminder": {
        "en": TemplateText(
            subject=f"Reminder: {_PLATFORMS} still unavailable",
            body=(
                "Hello {{ contact_name }},\n\n"
                f"{_PLATFORMS} {_HAS_BEEN_EN} unavailable since {{{{ started_at }}}} "
                "({{ duration }}).\n"
                f"{_ALTERNATIVES_EN}"
            ),
        ),
        "fr": TemplateText(
            subject=f"Rappel : {_PLATFORMS} toujours {_UNAVAILABLE_FR}",
            body=(
                "Bonjour {{ contact_name }},\n\n"
                f"{_PLATFORMS} {_STILL_FR}, depuis le {{{{ started_at }}}} "
                "({{ duration }}).\n"
                f"{_ALTERNATIVES_FR}"
            ),
        ),
    },
}

_PUBLIC: dict[str, dict[str, TemplateText]] = {
    "outage": {
        "en": TemplateText(
            subject=f"{_OUR_LINE_EN} {_IS_EN} unavailable",
            body=f"{_OUR_LINE_EN} {_HAS_BEEN_EN} unavailable since {{{{ started_at }}}}.{_JOIN_EN}",
        ),
        "fr": TemplateText(
            subject=f"{_OUR_LINE_FR} {_EST_OR_SONT} {_UNAVAILABLE_FR}",
            body=f"{_OUR_LINE_FR} {_EST_OR_SONT} {_UNAVAILABLE_FR} depuis le {{{{ started_at }}}}.{_JOIN_FR}",
        ),
    },
    "recovery": {
        "en": TemplateText(
            subject=f"{_OUR_LINE_EN} {_WORK_EN} again",
            body=f"{_OUR_LINE_EN} {_WORK_EN} again, after an outage of {{{{ duration }}}}.",
        ),
        "fr": TemplateText(
            subject=f"{_OUR_LINE_FR} {_WORKS_FR} à nouveau",
            body=f"{_OUR_LINE_FR} {_WORKS_FR} à nouveau, après {{{{ duration }}}} d'interruption.",
        ),
    },
    "manual": {
        "en": TemplateText(
            subject="How to reach us now",
            body="{% if message %}{{ message }}{% else %}We have changed how to reach us.{% endif %}"
            + _JOIN_EN,
        ),
        "fr": TemplateText(
            subject="Comment nous joindre en ce moment",
            body="{% if message %}{{ message }}{% else %}Nous changeons de moyen de contact.{% endif %}"
            + _JOIN_FR,
        ),
    },
    "reminder": {
        "en": TemplateText(
            subject=f"{_OUR_LINE_EN} {_IS_EN} still unavailable",
            body=f"{_OUR_LINE_EN} {_HAS_BEEN_EN} unavailable since {{{{ started_at }}}}.{_JOIN_EN}",
        ),
        "fr": TemplateText(
            subject=f"{_OUR_LINE_FR} {_EST_OR_SONT} toujours {_UNAVAILABLE_FR}",
            body=(
                f"{_OUR_LINE_FR} {_EST_OR_SONT} toujours {_UNAVAILABLE_FR}, "
                f"depuis le {{{{ started_at }}}}.{_JOIN_FR}"
            ),
        ),
    },
}


def _templates() -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for kind, texts in _PRIVATE.items():
        templates[kind] = Template(name=kind, visibility=Visibility.private, texts=MappingProxyType(texts))
    for kind, texts in _PUBLIC.items():
        name = f"{kind}-public"
        templates[name] = Template(name=name, visibility=Visibility.public, texts=MappingProxyType(texts))
    return templates


#: ``outage``, ``recovery``, ``manual``, ``reminder`` and their ``-public`` variants.
BUILTIN_TEMPLATES: Mapping[str, Template] = MappingProxyType(_templates())

_KIND_OF_EVENT = {
    IncidentEvent.opened: "outage",
    IncidentEvent.confirmed: "outage",
    IncidentEvent.updated: "outage",  # rendered when sent: names every member down by then
    IncidentEvent.resolved: "recovery",
    IncidentEvent.manual: "manual",
    IncidentEvent.reminder: "reminder",
}


def builtin_template(event: IncidentEvent, visibility: Visibility) -> Template:
    """The built-in template for an event: outage for opened/confirmed, recovery for
    resolved, manual, reminder; the ``-public`` variant for a public visibility."""
    kind = _KIND_OF_EVENT[event]
    return BUILTIN_TEMPLATES[kind if visibility is Visibility.private else f"{kind}-public"]
