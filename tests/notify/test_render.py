"""Rendering: pure, sandboxed, strict, localised, and blind to contacts when public."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover.domain import (
    Contact,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Template,
    TemplateText,
    Visibility,
)
from failover.errors import TemplateError
from failover.notify import (
    BUILTIN_TEMPLATES,
    builtin_template,
    format_duration,
    format_time,
    render_notice,
    validate_template,
)

OPENED = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
NOW = OPENED + timedelta(hours=6, minutes=5)
NAMES = {"whatsapp": "WhatsApp", "facebook": "Facebook"}
INCIDENT = Incident(
    key="platform:whatsapp:2021-10-04T15:40",
    scope=IncidentScope.platform,
    kind=IncidentKind.unreachable,
    name="whatsapp",
    platforms=("whatsapp",),
    opened_at=OPENED,
)
ALICE = Contact(name="Alice Martin", language="fr", timezone="Europe/Paris")


def render(template: Template, *, language: str = "fr", contact: Contact | None = ALICE, **kwargs: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "template": template,
        "language": language,
        "incident": INCIDENT,
        "event": IncidentEvent.confirmed,
        "contact": contact,
        "now": NOW,
        "alternatives": ("e-mail : contact@example.org",),
        "platform_names": NAMES,
    }
    arguments.update(kwargs)
    return render_notice(**arguments)  # type: ignore[arg-type]


class TestBuiltinTexts:
    """The built-in templates speak French and English, in private and in public."""

    def test_every_builtin_validates(self) -> None:
        for template in BUILTIN_TEMPLATES.values():
            validate_template(template)
            assert set(template.texts) == {"fr", "en"}

    def test_private_outage_greets_the_contact_in_their_language_and_zone(self) -> None:
        notice = render(builtin_template(IncidentEvent.confirmed, Visibility.private))
        assert notice.language == "fr"
        assert notice.body.startswith("Bonjour Alice Martin,")
        assert "WhatsApp est indisponible depuis le 4 octobre 2021 à 17:40 CEST" in notice.body
        assert "- e-mail : contact@example.org" in notice.body

    def test_public_outage_speaks_for_the_organisation(self) -> None:
        notice = render(builtin_template(IncidentEvent.confirmed, Visibility.public))
        assert notice.subject == "Notre ligne WhatsApp est indisponible"
        assert "Joignez-nous par : e-mail : contact@example.org." in notice.body
        assert "15:40 UTC" in notice.body

    def test_recovery_states_the_duration(self) -> None:
        notice = render(builtin_template(IncidentEvent.resolved, Visibility.private), language="en")
        assert "6 h 5 min" in notice.body
        assert notice.subject == "WhatsApp works again"

    @pytest.mark.parametrize(
        ("event", "visibility", "language", "subject"),
        [
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "fr",
                "Facebook, WhatsApp indisponibles : comment nous joindre",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "en",
                "Facebook, WhatsApp unavailable: how to reach us",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "fr",
                "Nos lignes Facebook, WhatsApp sont indisponibles",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "en",
                "Our Facebook, WhatsApp lines are unavailable",
            ),
            (
                IncidentEvent.resolved,
                Visibility.public,
                "fr",
                "Nos lignes Facebook, WhatsApp fonctionnent à nouveau",
            ),
            (IncidentEvent.resolved, Visibility.private, "en", "Facebook, WhatsApp work again"),
            (
                IncidentEvent.reminder,
                Visibility.private,
                "fr",
                "Rappel : Facebook, WhatsApp toujours indisponibles",
            ),
        ],
    )
    def test_several_platforms_agree_in_number(
        self, event: IncidentEvent, visibility: Visibility, language: str, subject: str
    ) -> None:
        """A family outage names every platform and the grammar follows: plural in both languages."""
        family = dataclasses.replace(
            INCIDENT, scope=IncidentScope.family, name="meta", platforms=("facebook", "whatsapp")
        )
        notice = render(builtin_template(event, visibility), language=language, incident=family, event=event)
        assert notice.subject == subject

    def test_an_outage_in_english_has_been_going_on_since(self) -> None:
        notice = render(builtin_template(IncidentEvent.confirmed, Visibility.private), language="en")
        assert "WhatsApp has been unavailable since" in notice.body

    def test_manual_incident_carries_its_message(self) -> None:
        manual = Incident(
            key="manual:1",
            scope=IncidentScope.custom,
            kind=IncidentKind.manual,
            name="move",
            platforms=(),
            opened_at=OPENED,
            message="Nous passons sur Signal.",
        )
        notice = render(builtin_template(IncidentEvent.manual, Visibility.public), incident=manual)
        assert notice.body.startswith("Nous passons sur Signal.")

    def test_an_unknown_language_falls_back_to_english(self) -> None:
        notice = render(builtin_template(IncidentEvent.reminder, Visibility.private), language="de")
        assert notice.language == "en"
        assert notice.body.startswith("Hello Alice Martin,")

    def test_a_regional_language_uses_its_base(self) -> None:
        notice = render(builtin_template(IncidentEvent.confirmed, Visibility.private), language="fr-CA")
        assert notice.language == "fr"


class TestPublicTemplatesSeeNoContact:
    """A public template renders without any contact data, whatever it is given."""

    def test_contact_name_is_undefined_in_a_public_template(self) -> None:
        leaky = Template(
            name="leaky",
            visibility=Visibility.public,
            texts={"en": TemplateText(subject="Hi", body="Dear {{ contact_name }}")},
        )
        with pytest.raises(TemplateError, match=r"'leaky' \(en\).*contact_name"):
            render(leaky, language="en")
        with pytest.raises(TemplateError, match="leaky"):
            validate_template(leaky)

    def test_contact_name_is_defined_in_a_private_template(self) -> None:
        private = Template(
            name="greeting",
            visibility=Visibility.private,
            texts={"en": TemplateText(subject="Hi", body="Dear {{ contact_name }}")},
        )
        assert render(private, language="en").body == "Dear Alice Martin\n"

    @given(
        name=st.from_regex(r"[A-Z][a-z]{3,12} [A-Z][a-z]{3,12}", fullmatch=True),
        local=st.from_regex(r"[a-z]{4,12}", fullmatch=True),
        zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]),
    )
    def test_a_rendered_public_template_never_contains_the_contact(
        self, name: str, local: str, zone: str
    ) -> None:
        contact = Contact(name=name, language="fr", timezone=zone)
        email = f"{local}@contacts.example"
        for event in (IncidentEvent.confirmed, IncidentEvent.resolved, IncidentEvent.reminder):
            template = builtin_template(event, Visibility.public)
            notice = render(template, contact=contact, event=event)
            assert name not in notice.subject + notice.body
            assert email not in notice.subject + notice.body
            assert notice == render(template, contact=None, event=event)


class TestStrictSandbox:
    """Templates come from files: undefined names and unsafe access are errors."""

    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            ("{{ nothing_here }}", "nothing_here"),
            ("{{ platforms.__class__.__mro__ }}", "unsafe|access"),
            ("{% for %}", "[Ee]xpected"),
        ],
    )
    def test_a_broken_template_is_refused_naming_it(self, body: str, fragment: str) -> None:
        broken = Template(
            name="broken", visibility=Visibility.private, texts={"fr": TemplateText(subject="s", body=body)}
        )
        with pytest.raises(TemplateError, match=rf"'broken' \(fr\): .*({fragment})"):
            validate_template(broken)

    def test_text_is_not_html_escaped(self) -> None:
        plain = Template(
            name="plain",
            visibility=Visibility.private,
            texts={"en": TemplateText(subject="{{ platform }}", body="<{{ alternatives | join(' & ') }}>")},
        )
        notice = render(plain, language="en", alternatives=("a", "b"), platform_names={"whatsapp": "W&A"})
        assert notice.body == "<a & b>\n"
        assert notice.subject == "W&A"

    def test_an_empty_template_is_refused(self) -> None:
        with pytest.raises(TemplateError, match="no text"):
            validate_template(Template(name="empty", visibility=Visibility.private, texts={}))


class TestFormatting:
    """Times and durations as people read them."""

    def test_time_in_the_contacts_zone(self) -> None:
        assert format_time(OPENED, language="en", zone="America/New_York") == "4 October 2021 at 11:40 EDT"
        assert format_time(OPENED, language="de", zone="UTC") == "2021-10-04 15:40 UTC"

    def test_an_unknown_zone_falls_back_to_utc_and_says_so(self) -> None:
        assert format_time(OPENED, language="fr", zone="Nowhere/Void") == "4 octobre 2021 à 15:40 UTC"

    @pytest.mark.parametrize(
        ("span", "language", "expected"),
        [
            (timedelta(seconds=20), "fr", "moins d'une minute"),
            (timedelta(minutes=12), "en", "12 min"),
            (timedelta(hours=6, minutes=5), "fr", "6 h 5 min"),
            (timedelta(days=2, hours=3), "fr", "2 j 3 h"),
            (timedelta(days=2, hours=3), "en", "2 d 3 h"),
        ],
    )
    def test_durations(self, span: timedelta, language: str, expected: str) -> None:
        assert format_duration(span, language=language) == expected
