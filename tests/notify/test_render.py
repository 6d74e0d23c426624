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
    TEST_TEMPLATE,
    LanguageGap,
    alternatives_in,
    builtin_template,
    format_duration,
    format_time,
    in_language,
    join_words,
    language_gaps,
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
                "Facebook et WhatsApp indisponibles : comment nous joindre",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "en",
                "Facebook and WhatsApp unavailable: how to reach us",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "fr",
                "Nos lignes Facebook et WhatsApp sont indisponibles",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "en",
                "Our Facebook and WhatsApp lines are unavailable",
            ),
            (
                IncidentEvent.resolved,
                Visibility.public,
                "fr",
                "Nos lignes Facebook et WhatsApp fonctionnent à nouveau",
            ),
            (IncidentEvent.resolved, Visibility.private, "en", "Facebook and WhatsApp work again"),
            (
                IncidentEvent.reminder,
                Visibility.private,
                "fr",
                "Rappel : Facebook et WhatsApp toujours indisponibles",
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
    @pytest.mark.slow
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
            (timedelta(hours=1), "fr", "1 h"),
            (timedelta(hours=1, seconds=59), "en", "1 h"),
            (timedelta(hours=2, minutes=5), "en", "2 h 5 min"),
            (timedelta(days=1), "fr", "1 jour"),
            (timedelta(days=1, minutes=40), "en", "1 day"),
            (timedelta(days=3), "fr", "3 jours"),
            (timedelta(days=3), "en", "3 days"),
            (timedelta(days=2, hours=3), "fr", "2 jours et 3 h"),
            (timedelta(days=2, hours=3), "en", "2 days and 3 h"),
            (timedelta(days=3), "de", "3 days"),
            (timedelta(days=3), "fr-CA", "3 jours"),
        ],
    )
    def test_durations(self, span: timedelta, language: str, expected: str) -> None:
        assert format_duration(span, language=language) == expected


FAMILY = dataclasses.replace(
    INCIDENT, scope=IncidentScope.family, name="meta", platforms=("facebook", "whatsapp", "instagram")
)
DEGRADED = dataclasses.replace(INCIDENT, kind=IncidentKind.degraded)
MANUAL = dataclasses.replace(INCIDENT, kind=IncidentKind.manual, message="Nous passons sur Signal.")
CUSTOM = dataclasses.replace(MANUAL, scope=IncidentScope.custom, name="site web", platforms=())
ALL_NAMES = {**NAMES, "instagram": "Instagram"}
BY_LANGUAGE = {"fr": ("Courriel : contact@example.org",), "en": ("E-mail: contact@example.org",)}


def resolved(incident: Incident) -> Incident:
    return dataclasses.replace(incident, resolved_at=NOW)


class TestLists:
    """A list reads as a sentence in each language: "et" in French, "and" in English."""

    @pytest.mark.parametrize(
        ("items", "language", "expected"),
        [
            ((), "fr", ""),
            (("WhatsApp",), "fr", "WhatsApp"),
            (("Facebook", "WhatsApp"), "fr", "Facebook et WhatsApp"),
            (("Facebook", "WhatsApp"), "en", "Facebook and WhatsApp"),
            (("A", "B", "C"), "fr", "A, B et C"),
            (("A", "B", "C"), "en", "A, B and C"),
            (("A", "B"), "fr-BE", "A et B"),
            (("A", "B"), "de", "A and B"),
        ],
    )
    def test_join_words(self, items: tuple[str, ...], language: str, expected: str) -> None:
        assert join_words(items, language=language) == expected

    @pytest.mark.parametrize(
        ("event", "visibility", "language", "subject"),
        [
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "fr",
                "Facebook, WhatsApp et Instagram indisponibles",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "en",
                "Facebook, WhatsApp and Instagram unavailable",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "fr",
                "Nos lignes Facebook, WhatsApp et Instagram sont",
            ),
            (
                IncidentEvent.resolved,
                Visibility.public,
                "en",
                "Our Facebook, WhatsApp and Instagram lines work",
            ),
            (
                IncidentEvent.updated,
                Visibility.private,
                "fr",
                "Mise à jour : Facebook, WhatsApp et Instagram",
            ),
        ],
    )
    def test_a_family_of_three_is_named_with_et_or_and(
        self, event: IncidentEvent, visibility: Visibility, language: str, subject: str
    ) -> None:
        incident = resolved(FAMILY) if event is IncidentEvent.resolved else FAMILY
        notice = render(
            builtin_template(event, visibility),
            language=language,
            incident=incident,
            event=event,
            platform_names=ALL_NAMES,
        )
        assert notice.subject.startswith(subject)
        conjunction = "et" if language == "fr" else "and"
        assert f"Facebook, WhatsApp {conjunction} Instagram" in notice.body

    def test_templates_may_join_words_in_the_readers_language(self) -> None:
        own = Template(
            name="own",
            visibility=Visibility.private,
            texts={
                language: TemplateText(subject="s", body="{{ platforms | join_words }}")
                for language in ("fr", "en")
            },
        )
        assert (
            render(own, incident=FAMILY, platform_names=ALL_NAMES).body == "Facebook, WhatsApp et Instagram\n"
        )
        english = render(own, language="en", incident=FAMILY, platform_names=ALL_NAMES)
        assert english.body == "Facebook, WhatsApp and Instagram\n"


class TestTimeZones:
    """Times in the reader's zone: the contact's for private texts, the organisation's
    (``daemon.timezone``) for public ones and whenever there is no contact."""

    def test_a_private_text_uses_the_contacts_zone_not_the_organisations(self) -> None:
        tokyo = dataclasses.replace(ALICE, timezone="Asia/Tokyo")
        notice = render(
            builtin_template(IncidentEvent.confirmed, Visibility.private),
            contact=tokyo,
            timezone="Europe/Paris",
        )
        assert "5 octobre 2021 à 00:40 JST" in notice.body

    def test_a_public_text_uses_the_organisations_zone_whoever_it_is_rendered_for(self) -> None:
        tokyo = dataclasses.replace(ALICE, timezone="Asia/Tokyo")
        template = builtin_template(IncidentEvent.confirmed, Visibility.public)
        notice = render(template, contact=tokyo, timezone="Europe/Paris")
        assert "depuis le 4 octobre 2021 à 17:40 CEST" in notice.body
        assert "JST" not in notice.body
        assert notice == render(template, contact=None, timezone="Europe/Paris")

    def test_without_contact_nor_zone_times_are_utc(self) -> None:
        notice = render(builtin_template(IncidentEvent.confirmed, Visibility.public), language="en")
        assert "since 4 October 2021 at 15:40 UTC" in notice.body

    def test_the_first_of_the_month_is_premier_in_french(self) -> None:
        first = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
        assert format_time(first, language="fr", zone="Europe/Paris") == "1er mars 2024 à 09:00 CET"
        assert format_time(first, language="en", zone="Europe/Paris") == "1 March 2024 at 09:00 CET"


class TestAlternativesPerLanguage:
    """Alternatives may be written per language; each reader gets theirs, or, when their
    language has none, another language's rather than nothing."""

    def test_each_reader_gets_the_lines_of_their_language(self) -> None:
        template = builtin_template(IncidentEvent.confirmed, Visibility.private)
        french = render(template, alternatives=BY_LANGUAGE)
        english = render(template, language="en", alternatives=BY_LANGUAGE)
        assert "- Courriel : contact@example.org" in french.body
        assert "E-mail" not in french.body
        assert "- E-mail: contact@example.org" in english.body
        assert "Courriel" not in english.body

    def test_public_texts_too(self) -> None:
        template = builtin_template(IncidentEvent.confirmed, Visibility.public)
        assert (
            "Joignez-nous par : Courriel : contact@example.org."
            in render(template, alternatives=BY_LANGUAGE).body
        )
        english = render(template, language="en", alternatives=BY_LANGUAGE)
        assert "Reach us through: E-mail: contact@example.org." in english.body

    @pytest.mark.parametrize(
        ("alternatives", "language", "expected"),
        [
            (("one", "two"), "fr", ("one", "two")),
            ({"fr": ("un",), "en": ("one",)}, "fr-CA", ("un",)),
            ({"fr": ("un",), "en": ("one",)}, "de", ("one",)),
            ({"fr": ("un",)}, "en", ("un",)),
            ({"fr": ("un",), "en": ()}, "en", ("un",)),
            ({"fr": (), "en": ()}, "fr", ()),
            ((), "fr", ()),
        ],
    )
    def test_which_lines_a_reader_gets(
        self, alternatives: object, language: str, expected: tuple[str, ...]
    ) -> None:
        assert alternatives_in(alternatives, language) == expected  # type: ignore[arg-type]

    def test_in_language_prefers_own_then_base_then_fallback_then_first(self) -> None:
        assert in_language({"fr": 1, "en": 2}, "fr-CA") == ("fr", 1)
        assert in_language({"fr": 1, "en": 2}, "de") == ("en", 2)
        assert in_language({"fr": 1, "nl": 2}, "de") == ("fr", 1)
        assert in_language({}, "fr") is None


class TestManualMessagesPerLanguage:
    """A manual failover's message may be written per language, like the alternatives."""

    def test_each_reader_gets_the_message_in_their_language(self) -> None:
        template = builtin_template(IncidentEvent.manual, Visibility.private)
        message = {"fr": "Nous passons sur Signal.", "en": "We are moving to Signal."}
        french = render(template, incident=MANUAL, event=IncidentEvent.manual, message=message)
        english = render(
            template, language="en", incident=MANUAL, event=IncidentEvent.manual, message=message
        )
        assert "Nous passons sur Signal." in french.body
        assert "We are moving to Signal." in english.body
        assert "Nous passons" not in english.body

    def test_a_language_without_message_gets_another_ones(self) -> None:
        template = builtin_template(IncidentEvent.manual, Visibility.public)
        notice = render(
            template,
            language="en",
            incident=MANUAL,
            event=IncidentEvent.manual,
            message={"fr": "Passez par Signal."},
        )
        assert notice.body.startswith("Passez par Signal.")

    def test_a_given_message_replaces_the_incidents_own(self) -> None:
        template = builtin_template(IncidentEvent.manual, Visibility.private)
        notice = render(template, incident=MANUAL, event=IncidentEvent.manual, message="Autre texte.")
        assert "Autre texte." in notice.body
        assert "Nous passons sur Signal." not in notice.body


class TestLanguageGaps:
    """What the preview warns about: a language without alternatives or message, and
    which language its readers get instead."""

    def test_a_plain_list_and_a_plain_message_leave_no_gap(self) -> None:
        assert language_gaps(["fr", "en"], alternatives=("one",), message="text") == ()

    def test_a_language_left_out_is_a_gap_filled_by_another(self) -> None:
        gaps = language_gaps(
            ["fr", "en", "fr"], alternatives={"fr": ("un",), "en": ()}, message={"en": "hello"}
        )
        assert gaps == (
            LanguageGap(language="en", what="alternatives", used="fr"),
            LanguageGap(language="fr", what="message", used="en"),
        )

    def test_no_alternatives_at_all_is_a_gap_for_everyone(self) -> None:
        assert language_gaps(["en"], alternatives=()) == (
            LanguageGap(language="en", what="alternatives", used=None),
        )
        assert language_gaps(["fr"], alternatives={"fr": (), "en": ()}) == (
            LanguageGap(language="fr", what="alternatives", used=None),
        )


class TestDegradedWording:
    """A degraded platform is not working properly; it is not unavailable."""

    @pytest.mark.parametrize(
        ("event", "visibility", "language", "subject", "sentence"),
        [
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "fr",
                "WhatsApp fonctionne mal : comment nous joindre",
                "WhatsApp fonctionne mal depuis le 4 octobre 2021 à 17:40 CEST.",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.private,
                "en",
                "WhatsApp not working properly: how to reach us",
                "WhatsApp has not been working properly since 4 October 2021 at 17:40 CEST.",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "fr",
                "Notre ligne WhatsApp fonctionne mal",
                "Notre ligne WhatsApp fonctionne mal depuis le",
            ),
            (
                IncidentEvent.confirmed,
                Visibility.public,
                "en",
                "Our WhatsApp line is not working properly",
                "Our WhatsApp line has not been working properly since",
            ),
            (
                IncidentEvent.reminder,
                Visibility.private,
                "fr",
                "Rappel : WhatsApp fonctionne toujours mal",
                "WhatsApp fonctionne toujours mal depuis le",
            ),
            (
                IncidentEvent.resolved,
                Visibility.private,
                "fr",
                "WhatsApp fonctionne de nouveau normalement",
                "après 6 h 5 min de perturbations",
            ),
            (
                IncidentEvent.resolved,
                Visibility.public,
                "en",
                "Our WhatsApp line works normally again",
                "after 6 h 5 min of disruption.",
            ),
        ],
    )
    def test_degraded_texts(
        self, event: IncidentEvent, visibility: Visibility, language: str, subject: str, sentence: str
    ) -> None:
        incident = resolved(DEGRADED) if event is IncidentEvent.resolved else DEGRADED
        notice = render(
            builtin_template(event, visibility),
            language=language,
            incident=incident,
            event=event,
            timezone="Europe/Paris",
        )
        assert notice.subject == subject
        assert sentence in notice.body
        assert "indisponible" not in notice.subject + notice.body
        assert "unavailable" not in notice.subject + notice.body

    def test_the_family_grammar_holds_when_degraded(self) -> None:
        family = dataclasses.replace(FAMILY, kind=IncidentKind.degraded, platforms=("facebook", "whatsapp"))
        notice = render(builtin_template(IncidentEvent.confirmed, Visibility.private), incident=family)
        assert notice.subject == "Facebook et WhatsApp fonctionnent mal : comment nous joindre"


class TestSubjectsNameWhatTheyAreAbout:
    """Every subject of every built-in text names the platforms, or a custom failover's name."""

    @pytest.mark.parametrize("language", ["fr", "en"])
    @pytest.mark.parametrize("visibility", [Visibility.private, Visibility.public])
    @pytest.mark.parametrize(
        ("incident", "event", "named"),
        [
            (INCIDENT, IncidentEvent.confirmed, "WhatsApp"),
            (FAMILY, IncidentEvent.updated, "Instagram"),
            (DEGRADED, IncidentEvent.reminder, "WhatsApp"),
            (MANUAL, IncidentEvent.manual, "WhatsApp"),
            (MANUAL, IncidentEvent.reminder, "WhatsApp"),
            (resolved(MANUAL), IncidentEvent.resolved, "WhatsApp"),
            (CUSTOM, IncidentEvent.manual, "Site web"),
            (resolved(CUSTOM), IncidentEvent.resolved, "Site web"),
        ],
    )
    def test_subject_names_it(
        self, incident: Incident, event: IncidentEvent, named: str, visibility: Visibility, language: str
    ) -> None:
        notice = render(
            builtin_template(event, visibility),
            language=language,
            incident=incident,
            event=event,
            platform_names=ALL_NAMES,
        )
        assert named in notice.subject

    def test_a_manual_subject_names_the_platform(self) -> None:
        template = builtin_template(IncidentEvent.manual, Visibility.private)
        assert render(template, incident=MANUAL, event=IncidentEvent.manual).subject == (
            "WhatsApp : comment nous joindre en ce moment"
        )
        english = render(template, language="en", incident=MANUAL, event=IncidentEvent.manual)
        assert english.subject == "WhatsApp: how to reach us now"

    def test_the_recovery_of_a_custom_failover_names_it(self) -> None:
        """Not "work again" about nothing: the failover's name, back to normal."""
        notice = render(
            builtin_template(IncidentEvent.resolved, Visibility.private),
            incident=resolved(CUSTOM),
            event=IncidentEvent.resolved,
        )
        assert notice.subject == "Site web : retour à la normale"
        assert (
            "Site web : retour à la normale. Vous pouvez de nouveau nous joindre comme d'habitude."
            in notice.body
        )
        english = render(
            builtin_template(IncidentEvent.resolved, Visibility.public),
            language="en",
            incident=resolved(CUSTOM),
            event=IncidentEvent.resolved,
        )
        assert english.body == "Site web: back to normal. You can reach us as usual again.\n"

    def test_an_update_says_so_and_names_every_member(self) -> None:
        notice = render(
            builtin_template(IncidentEvent.updated, Visibility.private),
            language="en",
            incident=FAMILY,
            event=IncidentEvent.updated,
            platform_names=ALL_NAMES,
        )
        assert notice.subject == "Update: Facebook, WhatsApp and Instagram unavailable"
        assert "Facebook, WhatsApp and Instagram are now unavailable (the outage began on" in notice.body


class TestTestNotices:
    """``failover notify-test`` sends a text that says it is a test, in both languages."""

    @pytest.mark.parametrize(
        ("language", "subject", "sentence"),
        [
            ("fr", "Message d'essai : failover peut vous joindre", "Ceci est un message d'essai de failover"),
            ("en", "Test message: failover can reach you", "This is a test message from failover"),
        ],
    )
    def test_it_says_it_is_a_test(self, language: str, subject: str, sentence: str) -> None:
        test = dataclasses.replace(CUSTOM, name="test", message="")
        notice = render(
            TEST_TEMPLATE,
            language=language,
            incident=test,
            event=IncidentEvent.manual,
            alternatives=BY_LANGUAGE,
        )
        assert notice.subject == subject
        assert sentence in notice.body
        assert notice.body.startswith(("Bonjour Alice Martin,", "Hello Alice Martin,"))
        assert ("Courriel" if language == "fr" else "E-mail") in notice.body

    def test_it_is_no_route_template(self) -> None:
        validate_template(TEST_TEMPLATE)
        assert TEST_TEMPLATE.name not in BUILTIN_TEMPLATES


class TestEventAwareTemplates:
    """A template of one's own is used for every event of its routes: validation refuses
    one that would read the same at recovery as at the outage."""

    BLIND = Template(
        name="blind",
        visibility=Visibility.private,
        texts={"fr": TemplateText(subject="{{ names }} est en panne", body="{{ names }} ne répond plus.")},
    )
    AWARE = Template(
        name="aware",
        visibility=Visibility.private,
        texts={
            "fr": TemplateText(
                subject="{{ names }} {{ 'fonctionne' if event == 'resolved' else 'est en panne' }}",
                body="{% if event == 'resolved' %}Retour à la normale.{% else %}{{ message }}{% endif %}",
            )
        },
    )

    def test_an_event_blind_template_for_outage_and_recovery_is_refused(self) -> None:
        with pytest.raises(
            TemplateError, match=r"'blind' \(fr\) reads the same when an incident is resolved"
        ):
            validate_template(self.BLIND, events={IncidentEvent.confirmed, IncidentEvent.resolved})

    def test_an_event_blind_template_for_manual_and_recovery_is_refused(self) -> None:
        with pytest.raises(TemplateError, match="as when it is manual"):
            validate_template(self.BLIND, events={IncidentEvent.manual, IncidentEvent.resolved})

    def test_one_event_needs_no_test_of_it(self) -> None:
        validate_template(self.BLIND, events={IncidentEvent.confirmed})
        validate_template(self.BLIND)

    def test_an_event_aware_template_passes(self) -> None:
        validate_template(self.AWARE, events=set(IncidentEvent))

    @pytest.mark.parametrize("visibility", [Visibility.private, Visibility.public])
    @pytest.mark.parametrize(
        "incident", [INCIDENT, DEGRADED, MANUAL, CUSTOM], ids=["down", "degraded", "manual", "custom"]
    )
    def test_a_builtin_name_speaks_of_the_recovery_in_other_words(
        self, incident: Incident, visibility: Visibility
    ) -> None:
        """A route naming a built-in gets each event's own text, for every kind of incident."""
        events = [IncidentEvent.manual] if incident.kind is IncidentKind.manual else [IncidentEvent.confirmed]
        for event in [*events, IncidentEvent.reminder]:
            for language in ("fr", "en"):
                during = render(
                    builtin_template(event, visibility), language=language, incident=incident, event=event
                )
                after = render(
                    builtin_template(IncidentEvent.resolved, visibility),
                    language=language,
                    incident=resolved(incident),
                    event=IncidentEvent.resolved,
                )
                assert during.subject != after.subject
                assert during.body != after.body
