"""The journal of actions: who triggered, resolved, silenced or noted what and when, in
every export of the journal, in the organisation's language, and never in a notice."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from failover.config import load_config
from tests.api.test_openapi import start_surface
from tests.api.test_openapi import write_config as write_api_config
from tests.kit import FakeClock, SmtpSink
from tests.service.test_manual import write_config

OPERATOR = "claire.operateur"
NBSP = "\u00a0"


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    """The OS user running the commands."""
    monkeypatch.setattr("getpass.getuser", lambda: OPERATOR)
    return OPERATOR


def french(path: Path) -> Path:
    """The same deployment, for an organisation that speaks French first, in Paris."""
    text = path.read_text().replace("[daemon]\n", '[daemon]\ntimezone = "Europe/Paris"\n', 1)
    path.write_text(text + '\n[status_page]\nlanguages = ["fr", "en"]\n')
    return path


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(path)])


def export_json(path: Path) -> list[dict[str, object]]:
    result = invoke(path, "incidents", "--export", "json")
    assert result.exit_code == 0, result.output
    incidents: list[dict[str, object]] = json.loads(result.stdout)["incidents"]
    return incidents


def trigger_note_resolve(path: Path, smtp_sink: SmtpSink) -> None:
    """A CLI trigger delivered from here (3 notices), a note, a resolution (3 recoveries)."""
    result = invoke(path, "trigger", "whatsapp", "-m", "Write to us by e-mail", "--yes")
    assert result.exit_code == 0, result.output
    smtp_sink.wait_for(3)
    noted = invoke(path, "note", "1", "Called", "the", "ISP: fibre cut, repair by 18:00")
    assert noted.exit_code == 0, noted.output
    assert f"note by {OPERATOR}" in noted.output
    resolved = invoke(path, "resolve", "1")
    assert resolved.exit_code == 0, resolved.output
    smtp_sink.wait_for(6)


@pytest.mark.slow
class TestCli:
    """`failover trigger`, `note` and `resolve` from a shell: each is recorded with the OS
    user and the time, and shows in the three exports."""

    def test_every_export_says_who_did_what_and_when(
        self, tmp_path: Path, smtp_sink: SmtpSink, operator: str
    ) -> None:
        path = write_config(tmp_path, smtp_sink.port)
        trigger_note_resolve(path, smtp_sink)

        [incident] = export_json(path)
        actions = incident["actions"]
        assert isinstance(actions, list)
        assert [(a["actor"], a["kind"], a["text"]) for a in actions] == [
            (operator, "triggered", ""),
            (operator, "note", "Called the ISP: fibre cut, repair by 18:00"),
            (operator, "resolved", ""),
        ]
        times = [datetime.fromisoformat(a["at"]) for a in actions]
        assert times == sorted(times)
        assert all(t.utcoffset() is not None for t in times)

        [row] = csv.DictReader(io.StringIO(invoke(path, "incidents", "--export", "csv").stdout))
        assert row["actions"] == "; ".join(
            [
                f"{actions[0]['at']} {operator} triggered",
                f"{actions[1]['at']} {operator} note: Called the ISP: fibre cut, repair by 18:00",
                f"{actions[2]['at']} {operator} resolved",
            ]
        )

        markdown = invoke(path, "incidents", "--export", "markdown").stdout
        assert markdown.startswith("# Incident journal\n")
        journal = markdown.split("- **Journal:**\n", 1)[1].splitlines()[:3]
        local = [t.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S") for t in times]
        assert journal == [
            f"  - {local[0]} — {operator} — triggered",
            f"  - {local[1]} — {operator} — note: Called the ISP: fibre cut, repair by 18:00",
            f"  - {local[2]} — {operator} — resolved",
        ]

    def test_no_notice_names_the_operator(self, tmp_path: Path, smtp_sink: SmtpSink, operator: str) -> None:
        """The six notices (three outage, three recovery) reach the SMTP server without the
        user name of who triggered, noted and resolved, in any header or part."""
        trigger_note_resolve(write_config(tmp_path, smtp_sink.port), smtp_sink)
        received = smtp_sink.wait_for(6)
        assert len(received) == 6
        texts = [m.message.as_string() for m in received]
        assert all("Write to us by e-mail" in t for t in texts[:3])
        assert [t for t in texts if operator in t or "claire" in t.lower()] == []
        assert [t for t in texts if "fibre cut" in t] == []

    def test_a_silence_is_recorded_on_the_incidents_it_covers(
        self, tmp_path: Path, smtp_sink: SmtpSink, operator: str
    ) -> None:
        path = write_config(tmp_path, smtp_sink.port)
        assert invoke(path, "trigger", "whatsapp", "-m", "Write to us by e-mail", "--yes").exit_code == 0
        assert (
            invoke(path, "trigger", "--custom", "phones", "-m", "Our phones are down", "--yes").exit_code == 0
        )
        smtp_sink.wait_for(6)
        silenced = invoke(path, "silence", "meta", "--for", "2h", "--reason", "vendor maintenance")
        assert silenced.exit_code == 0, silenced.output
        kinds = {i["name"]: [(a["actor"], a["kind"]) for a in i["actions"]] for i in export_json(path)}  # type: ignore[union-attr]
        assert kinds == {
            "whatsapp": [(operator, "triggered"), (operator, "silenced")],
            "phones": [(operator, "triggered")],
        }

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [(["9", "text"], "no incident 9"), (["1", "   "], "a note needs a text")],
    )
    def test_a_note_needs_an_incident_and_a_text(
        self, tmp_path: Path, smtp_sink: SmtpSink, arguments: list[str], error: str
    ) -> None:
        path = write_config(tmp_path, smtp_sink.port)
        assert invoke(path, "trigger", "whatsapp", "-m", "Write to us by e-mail", "--yes").exit_code == 0
        result = invoke(path, "note", *arguments)
        assert (result.exit_code, error in result.output) == (1, True), result.output


class TestReportLanguage:
    """The markdown report is in the organisation's language: the first of the status
    page's languages; ``--language`` overrides it."""

    @pytest.mark.slow
    def test_a_french_deployment_reports_in_french(
        self, tmp_path: Path, smtp_sink: SmtpSink, operator: str
    ) -> None:
        path = french(write_config(tmp_path, smtp_sink.port))
        trigger_note_resolve(path, smtp_sink)
        [incident] = export_json(path)
        actions = incident["actions"]
        assert isinstance(actions, list)
        paris = [datetime.fromisoformat(a["at"]).astimezone(ZoneInfo("Europe/Paris")) for a in actions]

        text = invoke(path, "incidents", "--export", "markdown").stdout
        assert text.startswith("# Journal des incidents\n")
        assert f"Période{NBSP}: du " in text
        assert "Heures locales du fuseau Europe/Paris." in text
        assert "| N° | Début | Fin | Durée | Portée | Plateformes | Type |" in text
        assert f"## N° 1{NBSP}: whatsapp (manuel)" in text
        for label in (
            "Début",
            "Fin",
            "Durée",
            "Portée",
            "Message envoyé",
            "Notifications",
            "Journal des actions",
        ):
            assert f"- **{label}{NBSP}:**" in text, label
        assert f"- **Portée{NBSP}:** plateforme whatsapp (whatsapp)" in text
        assert f"  - {paris[0]:%d/%m/%Y %H:%M:%S} — {operator} — déclenchement" in text
        assert (
            f"  - {paris[1]:%d/%m/%Y %H:%M:%S} — {operator} — note{NBSP}: "
            "Called the ISP: fibre cut, repair by 18:00"
        ) in text
        assert f"  - {paris[2]:%d/%m/%Y %H:%M:%S} — {operator} — résolution" in text
        for english in ("Incident journal", "Opened", "Resolved", "Notices", "Period", "triggered"):
            assert english not in text, english

        overridden = invoke(path, "incidents", "--export", "markdown", "--language", "en").stdout
        assert overridden.startswith("# Incident journal\n")
        assert f"  - {paris[0]:%Y-%m-%d %H:%M:%S} — {operator} — triggered" in overridden

    def test_an_english_first_deployment_reports_in_english(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, 2525)
        path.write_text(path.read_text() + '\n[status_page]\nlanguages = ["en", "fr"]\n')
        assert invoke(path, "incidents", "--export", "markdown").stdout.startswith("# Incident journal\n")
        french_text = invoke(path, "incidents", "--export", "markdown", "--language", "fr").stdout
        assert "Aucun incident n'a été enregistré sur cette période." in french_text


class TestApi:
    """Over real HTTP on 127.0.0.1: what the API does is recorded as done by ``api``, what
    Alertmanager does by ``alertmanager``; a note is taken and shows in the journal."""

    @pytest.mark.slow
    def test_trigger_note_resolve_and_an_alert(self, tmp_path: Path) -> None:
        config = load_config(write_api_config(tmp_path), env={})
        clock = FakeClock()
        with start_surface(config, clock) as surface:
            opened = surface.call(
                "POST",
                "/api/v1/trigger",
                "/api/v1/trigger",
                json={"custom": True, "name": "phone-lines", "message": "Our phone lines are down"},
            )
            assert opened.status_code == 202, opened.text
            incident_id = opened.json()["id"]
            url = f"/api/v1/incidents/{incident_id}/notes"
            noted = surface.call("POST", None, url, json={"text": "Called the operator"})
            assert noted.status_code == 201, noted.text
            assert noted.json()["action"] == {
                "at": clock().isoformat(),
                "actor": "api",
                "kind": "note",
                "text": "Called the operator",
            }
            resolved = surface.call("POST", None, f"/api/v1/incidents/{incident_id}/resolve")
            assert resolved.status_code == 200
            firing = surface.call(
                "POST",
                None,
                "/api/v1/alertmanager",
                json={
                    "version": "4",
                    "status": "firing",
                    "receiver": "failover",
                    "groupKey": "{}:{}",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {"alertname": "Down", "platform": "telegram"},
                            "annotations": {"summary": "Telegram does not answer"},
                            "startsAt": "2021-10-04T16:00:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "",
                            "fingerprint": "f00d",
                        }
                    ],
                },
            )
            assert firing.status_code == 200
            assert len(firing.json()["opened"]) == 1
            journal = surface.client.get("/api/v1/incidents").json()["incidents"]
        actions = {i["name"]: [(a["actor"], a["kind"], a["text"]) for a in i["actions"]] for i in journal}
        assert actions == {
            "phone-lines": [
                ("api", "triggered", ""),
                ("api", "note", "Called the operator"),
                ("api", "resolved", ""),
            ],
            "telegram": [("alertmanager", "triggered", "")],
        }
