"""What one log line costs, through the whole logging pipeline: CPU per line.

The line is the daemon's busiest: one ``notice_delivery`` event per delivery attempt,
through ``configure_logging`` as the daemon sets it up (JSON lines, every field redacted
and stripped of terminal escapes) to a file, each line for another contact, with the
secrets of a small configuration handed to the redactor. "before" runs the same lines with
``src/failover`` as of ``--before`` (git), "after" with the working tree's, each in a
process of its own, alternated; the median of ``--runs`` each.

    .venv/bin/python bench/log_line.py --before ddda866
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _side_by_side import main

#: run in a child process, with ``failover`` from the tree on its path
CHILD = """
import sys, tempfile, time
from failover.logs import configure_logging, get_logger
lines = int(sys.argv[1])
with tempfile.TemporaryFile("w") as out:
    redactor = configure_logging(level="info", json=True, stream=out, journal=False)
    redactor.add_secrets(["hunter2-0123456789", "mailto://relay.example.org?from=a@example.org"])
    log = get_logger("failover.notices")
    started = time.process_time()
    for i in range(lines):
        log.info(
            "notice_delivery", notice_id=i, contact=f"contacts[c{i:06d}]", incident_event="confirmed",
            channel=f"contacts[c{i:06d}].channels[0]", scheme="mailto", outcome="sent", attempt=1,
            error=None,
        )
    print((time.process_time() - started) / lines * 1e6)
"""


if __name__ == "__main__":
    main(CHILD, doc=__doc__, unit="line")
