"""The judge: from one round's observations and the remembered state to a decision.

Pure: no clock reads, no I/O, no logging, no randomness. ``judge`` takes ``now``, the
observations, the previous ``JudgeState``, the ``DetectionPolicy`` and the platforms'
families, and returns a ``Decision``: the new state, a verdict per platform, transitions,
incident events, connectivity events and the re-probes it wants.

Verdict rules (one look at one platform)
----------------------------------------
A *source* is one independent piece of evidence: the authoritative DNS checks (one source,
failing when all of them fail), the resolver DNS checks (likewise), each front-door check
(TCP, TLS, HTTP) on its own, and the status source (a major or minor statement, or *weak*
when it cannot be read: ``status_unreachable``, ``parse_error``).

* **down**: every front door fails hard (no answer: DNS, connect, TLS or transport failure;
  for a platform without front doors, every DNS group fails) *and* this is corroborated,
  e.g. authoritative DNS SERVFAIL plus HTTPS unreachable;
* **degraded**: corroborated trouble short of that (slow, 5xx or unexpected answers, DNS
  failing while the doors still answer), or the status source reporting a major outage
  while the probes pass;
* **up**: otherwise. One failing source out of several is noted, never believed.

*Corroborated* means at least two failing sources (every source, for a platform that has
only one), at least one of them more than weak status evidence or a minor notice.
*Strong* evidence has at least three failing sources, or every source the platform has.

Confirmation demands the *same* evidence in every look (the suspect keeps the intersection
of the failing sources and their severity): strong evidence is confirmed after the first
round plus the re-probes (``1 + len(confirm_after_s)`` looks, seconds); thin evidence needs
``recover_after - 1`` further looks (the next regular rounds: half a minute at the default
15 s interval).

False-alarm arithmetic
----------------------
Assume every check fails independently with p = 0.1 per look (pessimistic: real glitch
rates are nearer 0.01). A catalog Meta platform has four sources (authoritative, resolvers,
front door, status); one with two front doors has five.

* Fast path: some three sources must fail in all three looks: (p^3)^3 = 1e-9 per set of
  three, at most C(5,3) = 10 sets: <= 1e-8 per platform and round.
* Thin path: some two sources in all five looks: (p^2)^5 = 1e-10 per pair, at most 10
  pairs: <= 1e-9. The status source saying "major" on its own in five looks, even if a
  quarter of its failures read "major" (0.025 per look): 0.025^5 ~ 1e-8.
* Together <= 2.1e-8 per platform and round (suspects started in re-probe rounds add about
  a fifth), so four Meta platforms over 10,000 rounds expect about 1e-3 false incidents;
  at p = 0.01 the bound falls below 1e-13 per round.
* For comparison, believing any single failing check after three agreeing looks gives
  4 * p^3 = 4e-3 per round (about 160 false incidents in the same 10,000 rounds), and
  two-source corroboration without requiring the same evidence gives about six
  ((1 - 0.9^4 - 4 * 0.1 * 0.9^3)^3 = 1.4e-4 per round).

The price: when only two sources fail (a one-door platform whose authoritative DNS and
front door fail while resolvers still answer from cache and the status page stands), the
outage is confirmed after about half a minute instead of five seconds. On 4 Oct 2021
metastatus.com fell with the platforms, which makes three sources and the fast path.
A platform with two checks only (resolver and front door) has every source failing at
p^2 per look, p^6 = 1e-6 per round over three looks: such shapes need more checks to be
as quiet.

Controls
--------
Control observations (``is_control=True``) come first. A control target passes when all its
checks pass; with fewer than ``control_quorum`` passing targets (at most all observed
ones) our own connectivity is lost: every verdict is *unknown*, suspects are dropped,
recovery counts restart, nothing opens or resolves (open incidents stay open), and one
``ConnectivityChange`` (lost, later restored) is recorded instead. A round without control
observations (a re-probe round that skipped them) reuses the last connectivity; if none was
ever observed, connectivity is not checked (``Connectivity.ok is None``).

Incidents
---------
A confirmed change for the worse opens a platform incident (event ``confirmed``;
``opened_at`` the first failing observation, ``confirmed_at`` now; key
``platform:<name>:<opened_at as %Y%m%dT%H%M%SZ>``, so a replayed decision reopens nothing).
Degraded to down escalates its kind to unreachable (an ``incident_updates`` entry and a
Transition, no new incident); ``recover_after`` healthy rounds resolve it (event
``resolved``). Two or more platforms of one family confirmed down within ``family_window``
(the same round included) make one family incident (``family:<family>:...``, opened when
its first member failed); a member's own platform incident is folded into it: closed in
``incident_updates`` with cause "merged into family incident <key>; was: <cause>", never a
``resolved`` event. Members confirmed down later join it silently; it resolves when every
member is up again. Only outages (down) are grouped; degraded platforms keep their own.

Flapping and recovery are described in ``_machine``; the state's JSON form in ``_state``.
"""

from failover.detect._decision import (
    ConnectivityChange,
    Decision,
    PlatformStatus,
    Reprobe,
    Verdict,
    health_of,
)
from failover.detect._incidents import incident_key
from failover.detect._machine import judge
from failover.detect._state import Connectivity, JudgeState

__all__ = [
    "Connectivity",
    "ConnectivityChange",
    "Decision",
    "JudgeState",
    "PlatformStatus",
    "Reprobe",
    "Verdict",
    "health_of",
    "incident_key",
    "judge",
]
