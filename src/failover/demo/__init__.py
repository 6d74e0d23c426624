"""``failover demo``: the real daemon against fake platforms on 127.0.0.1, in under a minute.

Everything runs in this process: the fake world of :mod:`failover.testing` (a DNS server,
an HTTP front door per platform, three control targets, a webhook sink and an SMTP sink,
each on an ephemeral loopback port) and the :class:`~failover.service.Daemon` with short
intervals. WhatsApp goes dark (DNS SERVFAIL, connections reset), then the whole Meta family,
then everything recovers; the demo prints a timeline, what each contact received and the
measured latencies (dark → confirmed → first e-mail received).

A user surface above the composition root, like :mod:`failover.cli`, which loads it only
when ``failover demo`` is asked for: the daemon never carries the demo or its servers.
"""

from failover.demo._scenario import DemoError, run_demo

__all__ = ["DemoError", "run_demo"]
