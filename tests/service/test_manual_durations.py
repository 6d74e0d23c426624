"""How long telling everyone takes: a manual failover's preview says, for each channel kind,
how many recipients it reaches and how long they take at the configured rates ("10,000
recipients by e-mail: about 2 h 47 min at 60/min"), in the CLI's preview, the approval's,
``trigger --json`` and the API's dry run. More concurrency goes no faster than the rate:
the duration is the recipients divided by the rate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from failover.api import create_app
from failover.cli import main
from failover.config import Config, load_config
from failover.metrics import exposition_app
from failover.service import Daemon, FanOutDuration, find_target, open_store, plan_manual
from failover.service._approval import approval_plan
from failover.service._http import DaemonBackend
from failover.service._trigger import record_trigger
from tests.api.test_api import TOKEN, serving
from tests.api.test_openapi import component, problems
from tests.kit import FakeClock

NOW = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)


def write_config(
    tmp_path: Path,
    *,
    email: int = 0,
    signal: int = 0,
    mastodon: int = 0,
    bridged: int = 0,
    rates: str = "",
    extra: str = "",
) -> Path:
    """``email`` contacts by e-mail, ``signal`` by Signal, ``mastodon`` by Mastodon direct
    message and ``bridged`` through a bridge that needs WhatsApp (no usable channel while
    it is down); every odd one in the ``board`` group, the others in ``team``. Nothing
    listens anywhere: nothing is sent."""
    kinds = (
        ['{ email = "c%d@example.org" }'] * email
        + ['{ signal = "+1555%07d" }'] * signal
        + ['{ url = "mastodon://t0ken@127.0.0.1:9/@c%d?visibility=direct", depends_on = [] }'] * mastodon
        + ['{ url = "json://127.0.0.1:9/c%d", depends_on = ["whatsapp"], visibility = "private" }'] * bridged
    )
    people = "".join(
        f'[[contacts]]\nid = "c{index}"\nname = "Contact {index}"\n'
        f'groups = ["{"board" if index % 2 else "team"}"]\nchannels = [{kind % index}]\n\n'
        for index, kind in enumerate(kinds)
    )
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[detection]
control_quorum = 0

[notify]
smtp_url = "mailto://127.0.0.1:9?from=failover@example.org"
signal_url = "signal://127.0.0.1:9/+15551234567"
{rates}
{extra}
[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.team]
[groups.board]

{people}
[[routes]]
name = "everyone"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team", "board"]
"""
    )
    return path


def plan_for(path: Path, **options: Any) -> tuple[Config, Any]:
    config = load_config(path, env={})
    return config, plan_manual(config, find_target(config, "whatsapp"), message="Call us", now=NOW, **options)


class TestFanOutDuration:
    """recipients * 60 / rate, said as people say it, with the channel kind's name."""

    @pytest.mark.parametrize(
        ("scheme", "recipients", "rate", "seconds", "text"),
        [
            ("mailto", 10_000, 60, 10_000.0, "10,000 recipients by e-mail: about 2 h 47 min at 60/min"),
            ("mailtos", 3, 60, 3.0, "3 recipients by e-mail: under a minute at 60/min"),
            ("signal", 1, 10, 6.0, "1 recipient by Signal: under a minute at 10/min"),
            ("signal", 10, 10, 60.0, "10 recipients by Signal: about 1 min at 10/min"),
            ("mastodon", 300, 1, 18_000.0, "300 recipients by Mastodon: about 5 h at 1/min"),
            ("toot", 2_000, 1, 120_000.0, "2,000 recipients by Mastodon: about 1 day and 9 h at 1/min"),
            ("tgram", 45_000, 1500, 1_800.0, "45,000 recipients by Telegram: about 30 min at 1,500/min"),
            ("json", 7, 60, 7.0, "7 recipients by json: under a minute at 60/min"),
        ],
    )
    def test_the_numbers_and_the_words(
        self, scheme: str, recipients: int, rate: int, seconds: float, text: str
    ) -> None:
        duration = FanOutDuration(scheme=scheme, recipients=recipients, rate_per_minute=rate)
        assert duration.seconds == seconds
        assert duration.text == text


class TestPlan:
    """The plan counts each recipient once, by the first channel it would use."""

    def test_each_channel_kind_at_its_built_in_rate(self, tmp_path: Path) -> None:
        _, plan = plan_for(write_config(tmp_path, email=3, signal=2, mastodon=1, bridged=1))
        assert plan.channels == (("mailto", 3), ("signal", 2), ("mastodon", 1), ("none", 1))
        assert plan.durations == (
            FanOutDuration(scheme="mailto", recipients=3, rate_per_minute=60),
            FanOutDuration(scheme="signal", recipients=2, rate_per_minute=10),
            FanOutDuration(scheme="mastodon", recipients=1, rate_per_minute=1),
        )
        assert [d.text for d in plan.durations] == [
            "3 recipients by e-mail: under a minute at 60/min",
            "2 recipients by Signal: under a minute at 10/min",
            "1 recipient by Mastodon: about 1 min at 1/min",
        ]

    def test_the_configured_rates_override_the_built_in_ones(self, tmp_path: Path) -> None:
        rates = "[notify.rate_per_minute]\nSIGNAL = 1\ndefault = 2\nmailto = 120\n"
        _, plan = plan_for(write_config(tmp_path, email=240, signal=90, bridged=1, rates=rates))
        assert [(d.scheme, d.rate_per_minute, d.seconds) for d in plan.durations] == [
            ("mailto", 120, 120.0),
            ("signal", 1, 5_400.0),
        ]
        assert plan.durations[1].text == "90 recipients by Signal: about 1 h 30 min at 1/min"

    def test_only_the_recipients_a_trigger_reaches_are_counted(self, tmp_path: Path) -> None:
        _, plan = plan_for(write_config(tmp_path, email=4, signal=4), groups=["board"])
        assert [(d.scheme, d.recipients) for d in plan.durations] == [("mailto", 2), ("signal", 2)]

    def test_nobody_to_tell_takes_no_time(self, tmp_path: Path) -> None:
        _, plan = plan_for(write_config(tmp_path, bridged=2))
        assert plan.channels == (("none", 2),)
        assert plan.durations == ()


class TestApproval:
    """The approval's preview counts the notices the trigger recorded, not the routes'."""

    def test_the_recorded_notices_and_their_duration(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, email=4, signal=20, extra='[manual]\napproval = "required"\n')
        config, plan = plan_for(path, groups=["board"])
        with open_store(config) as store:
            record = record_trigger(
                store, plan, update=False, via="cli", now=NOW, actor="alice", awaiting_approval=True
            )
            assert record.incident.id is not None
            approving = approval_plan(store, config, record.incident.id, now=NOW)
        assert approving.channels == (("signal", 10), ("mailto", 2))
        assert [d.text for d in approving.durations] == [
            "10 recipients by Signal: about 1 min at 10/min",
            "2 recipients by e-mail: under a minute at 60/min",
        ]
        result = CliRunner().invoke(main, ["approve", str(record.incident.id), "--config", str(path)])
        assert "add --yes" in result.output  # not a terminal: it shows, then stops
        assert "10 recipients by Signal: about 1 min at 10/min" in result.output


@pytest.mark.slow
class TestTriggerCommand:
    """``failover trigger --dry-run`` says it in words; ``--json`` as the API does."""

    def test_ten_thousand_recipients_by_email(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, email=10_000)
        result = CliRunner().invoke(
            main, ["trigger", "whatsapp", "-m", "Call us", "--dry-run", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert "10,000 recipients by e-mail: about 2 h 47 min at 60/min" in result.output

    def test_json_is_the_api_dry_runs_answer_and_records_nothing(self, tmp_path: Path) -> None:
        path = write_config(tmp_path, email=3, signal=25, rates="[notify.rate_per_minute]\nsignal = 5\n")
        result = CliRunner().invoke(
            main, ["trigger", "whatsapp", "-m", "Call us", "--json", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        assert problems(component("TriggerPreview"), answer) == []
        assert answer["preview"]["durations"] == [
            {"scheme": "signal", "recipients": 25, "rate_per_minute": 5, "seconds": 300.0},
            {"scheme": "mailto", "recipients": 3, "rate_per_minute": 60, "seconds": 3.0},
        ]
        with open_store(load_config(path, env={})) as store:
            assert store.open_incidents() == []


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    path = write_config(tmp_path, email=2, mastodon=3)
    config = load_config(path, env={})
    daemon = Daemon(config, reload=lambda: config, env={}, clock=FakeClock(NOW))
    with open_store(config) as store:
        daemon.store = store
        app = create_app(DaemonBackend(daemon), token=TOKEN, metrics=exposition_app(daemon.registry))
        with serving(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            yield client


class TestApiDryRun:
    """``POST /api/v1/trigger`` with ``dry_run``: the durations, structured."""

    def test_the_preview_carries_each_channel_kinds_duration(self, api: httpx.Client) -> None:
        response = api.post(
            "/api/v1/trigger",
            json={"target": "whatsapp", "message": "Call us", "dry_run": True},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert problems(component("TriggerPreview"), answer) == []
        assert answer["preview"]["durations"] == [
            {"scheme": "mastodon", "recipients": 3, "rate_per_minute": 1, "seconds": 180.0},
            {"scheme": "mailto", "recipients": 2, "rate_per_minute": 60, "seconds": 2.0},
        ]
