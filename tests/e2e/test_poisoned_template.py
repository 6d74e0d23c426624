"""A template that passes ``failover config validate`` but fails for one real recipient:
that recipient's notice is ``failed`` with the reason, the others are told, and the daemon
keeps running and telling (its recovery notices too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from failover.config import load_config
from failover.domain import NoticeState
from failover.service import open_store
from tests.e2e.conftest import WAIT_S, Daemon, wait_until
from tests.kit import API_TOKEN, World

pytestmark = pytest.mark.slow

#: renders for the sample recipient the configuration check uses, and for "Person 0";
#: divides by zero for "Person 1" (its name is 8 characters long)
_TRAP = "{% if contact_name == 'Person 1' %}{{ 100 // (contact_name|length - 8) }}{% endif %}"
POISONED = f"""
[templates.poisoned]
en = {{ subject = "{{{{ names }}}} {{{{ event }}}}", body = "{_TRAP}{{{{ names }}}}: {{{{ event }}}}" }}
fr = {{ subject = "{{{{ names }}}} {{{{ event }}}}", body = "{_TRAP}{{{{ names }}}} : {{{{ event }}}}" }}
"""


def test_a_template_failing_for_one_recipient_fails_that_notice_only(
    world: World, start_daemon: Callable[[Path], Daemon]
) -> None:
    path = world.write_config()
    path.write_text(path.read_text().replace('template = "outage"', 'template = "poisoned"') + POISONED)
    config = load_config(path, env={})  # what `config validate` accepts
    daemon = start_daemon(path)
    daemon.wait_ready(world.api)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}

    world.go_dark()
    first = world.smtp.wait_for(1, timeout=WAIT_S)
    world.come_back()
    wait_until("the recovery to reach Person 0", lambda: len(world.smtp.messages) >= 2, log=daemon.log)
    # the daemon lives on: it answers, and a manual failover afterwards is told too
    trigger = httpx.post(
        f"{world.api}/api/v1/trigger",
        json={"target": "whatsapp", "message": "Write to us by e-mail"},
        headers=headers,
        timeout=10,
    )
    assert trigger.status_code == 202, trigger.text
    wait_until("the manual notice", lambda: len(world.smtp.messages) >= 3, log=daemon.log)
    assert daemon.process.poll() is None, daemon.text()[-3000:]
    assert httpx.get(f"{world.api}/readyz", timeout=5).status_code == 200

    received = [m.rcpt_tos for m in world.smtp.messages]
    assert received == [["p0@example.org"]] * 3, received
    assert "whatsapp" in first[0].message.get_content().lower()
    assert daemon.stop() == 0
    with open_store(config) as store:
        notices = [n for entry in store.incidents() for n in store.notices(entry.incident.id)]
    by_contact = {
        contact: sorted((str(n.event), n.state) for n in notices if n.contact_ref == contact)
        for contact in ("p0", "p1")
    }
    told = [("confirmed", NoticeState.sent), ("manual", NoticeState.sent), ("resolved", NoticeState.sent)]
    assert by_contact["p0"] == told
    assert by_contact["p1"] == [(event, NoticeState.failed) for event, _ in told]
    for notice in notices:
        if notice.contact_ref == "p1":
            # the reason, and no more: the exception's own words could quote personal data
            assert notice.last_error is not None
            assert "template 'poisoned'" in notice.last_error
            assert "ZeroDivisionError" in notice.last_error
