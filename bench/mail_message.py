"""What building one e-mail costs in a fan-out: CPU per message.

One subject, one sender, 20,000 recipients, each greeted by name in a French body of a
few paragraphs, built by ``failover.notify._mail.mail_message`` as the sender threads build
them. "before" runs with ``src/failover`` as of ``--before`` (git), "after" with the
working tree's, each in a process of its own, alternated; the median of ``--runs`` each.

    .venv/bin/python bench/mail_message.py --before ddda866
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _side_by_side import main

#: run in a child process, with ``failover`` from the tree on its path
CHILD = """
import sys, time
from failover.notify._mail import MailRoute, SmtpServer, mail_message
from failover.notify._render import RenderedNotice
count = int(sys.argv[1])
server = SmtpServer("127.0.0.1", 25, "insecure", None, None, True, 10.0)
paragraph = (
    "Notre ligne WhatsApp est indisponible depuis le 4 octobre à 17 h 40. Écrivez-nous par "
    "e-mail à contact@example.org ou par Signal ; nous répondons sous une heure.\\n\\n"
)
jobs = [
    (
        MailRoute(server=server, from_name="Équipe support", from_addr="failover@example.org",
                  to_name=None, to_addr=f"contact.{i:06d}@example.org", headers=()),
        RenderedNotice(subject="WhatsApp indisponible : comment nous joindre",
                       body=f"Bonjour Contact {i:06d},\\n\\n" + paragraph * 3, language="fr"),
    )
    for i in range(count)
]
started = time.process_time()
for route, notice in jobs:
    mail_message(route, notice)
print((time.process_time() - started) / count * 1e6)
"""


if __name__ == "__main__":
    main(CHILD, doc=__doc__, unit="message")
