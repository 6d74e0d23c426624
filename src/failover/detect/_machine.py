"""The judge: controls first, then one state machine per platform, then the incidents.

Per platform the machine keeps a confirmed ``health`` and moves it only on agreement:

* **worse** (up → degraded/down, degraded → down): a first look that reads worse starts a
  suspect phase and asks for re-probes after ``policy.confirm_after_s``. Every later look
  must show the *same evidence* again (the suspect keeps the intersection of the signals);
  when it no longer stands for something worse, the suspect is forgotten (no incident, no
  event; a look that itself reads worse starts a new suspect). A look that shows all of
  the suspect's evidence and more, and reads worse for it, starts the suspect again at
  that worse health from the same first failure: an outage caught half-way is told as
  what it became, not as its first glimpse. Strong evidence is
  confirmed after ``1 + len(confirm_after_s)`` agreeing looks (the first round plus the
  re-probes); thin evidence needs ``recover_after - 1`` more.
* **better**: after ``policy.recover_after`` consecutive better looks (hysteresis), to the
  worst of them.
* **flapping**: more than ``flap_max_transitions`` health changes within ``flap_window``
  holds the worse of the two states (an incident stays open rather than opening and closing
  again) with one Transition marked ``flapping=True``; the hold is released, with one
  Transition marked ``flapping=False``, once no more than half that many changes remain in
  the window. While held, only a change for the worse is shown (its Transition is marked
  ``flapping=True`` too).

Unknown (our own connectivity lost) is not a look: suspects are dropped and recovery
counters reset, nothing opens or resolves, open incidents stay open. A round without any
control observation (a re-probe round that skipped them) reuses the last connectivity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from failover.detect._decision import (
    ConnectivityChange,
    Decision,
    Reprobe,
    Verdict,
)
from failover.detect._evidence import (
    Reading,
    Severity,
    Signal,
    cause_line,
    classify,
    common_signals,
    read_platform,
    severity_rank,
    worst,
)
from failover.detect._incidents import Ledger, Move
from failover.detect._state import Connectivity, JudgeState, Lingering, PlatformState, Suspect
from failover.domain import ConnectivityEvent, DetectionPolicy, Health, Observation, Transition


@dataclass(frozen=True, kw_only=True, slots=True)
class _Change:
    """The confirmed health changed."""

    previous: Health
    current: Health
    reason: str
    signals: tuple[Signal, ...] = ()
    opened_at: datetime | None = None


def judge(
    *,
    observations: Sequence[Observation],
    state: JudgeState,
    now: datetime,
    policy: DetectionPolicy,
    families: Mapping[str, str | None],
    probed: Collection[str] | None = None,
) -> Decision:
    """Judge one round of observations against the remembered state.

    ``families`` maps every watched platform to its family (None for none); only these are
    judged. ``probed`` names the platforms this round covered (a re-probe round covers only
    the suspects); by default every platform in ``families``. Control observations
    (``is_control=True``) decide first whether our own connectivity works.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    connectivity = _judge_connectivity(observations, state.connectivity, policy)
    connectivity_events, connectivity_since = _connectivity_changes(state, connectivity, now)
    lost = connectivity.ok is False

    covered = set(families) if probed is None else set(probed) & set(families)
    by_platform: dict[str, list[Observation]] = {}
    for observation in observations:
        if not observation.is_control and observation.target in covered:
            by_platform.setdefault(observation.target, []).append(observation)

    platforms = dict(state.platforms)
    verdicts: dict[str, Verdict] = {}
    transitions: list[Transition] = []
    moves: list[Move] = []
    reprobe: list[Reprobe] = []
    falling: list[str] = []  # new suspects of an outage: their family is looked at at once
    for name in sorted(covered):
        remembered = platforms.get(name)
        if lost:
            verdicts[name] = _unknown(name, _lost_summary(connectivity))
            if remembered is not None:
                platforms[name] = replace(
                    remembered, suspect=None, better_looks=0, better_worst=Health.up, lingering=None
                )
            continue
        if name not in by_platform:
            verdicts[name] = _unknown(name, "unknown: no observations this round")
            continue
        reading = read_platform(by_platform[name])
        if remembered is None:
            remembered = PlatformState(health=Health.up, shown=Health.up, since=now)
        current, change, asks_reprobe = _observe(remembered, reading, now, policy)
        if change is not None:
            current, transition, move = _show_change(name, current, change, now, policy)
        else:
            current, transition, move = _release_if_calm(name, current, now, policy)
        platforms[name] = current
        if transition is not None:
            transitions.append(transition)
        if move is not None:
            moves.append(move)
        if asks_reprobe:
            reprobe.extend(Reprobe(platform=name, delay_s=delay) for delay in policy.confirm_after_s)
            if current.suspect is not None and current.suspect.health is Health.down:
                falling.append(name)
        verdicts[name] = Verdict(
            platform=name,
            health=reading.health,
            evidence=reading.evidence,
            summary=_summary(reading, current, policy),
        )

    # siblings probed in this very round were just looked at
    asked = {r.platform for r in reprobe} | set(by_platform)
    reprobe.extend(_family_looks(falling, platforms, families, asked=asked))
    ledger = Ledger(incidents=state.incidents, platforms=platforms, families=families, now=now, policy=policy)
    if not lost:
        ledger.settle(moves)
    new_state = JudgeState(
        connectivity=connectivity,
        connectivity_since=connectivity_since,
        platforms=ledger.platforms,
        incidents=ledger.incidents,
    )
    return Decision(
        state=new_state,
        verdicts=verdicts,
        connectivity=connectivity,
        transitions=tuple(transitions),
        incident_events=tuple(ledger.events),
        incident_updates=ledger.updates,
        connectivity_events=connectivity_events,
        reprobe=tuple(sorted(reprobe, key=lambda r: (r.delay_s, r.platform))),
    )


def _family_looks(
    falling: Sequence[str],
    platforms: Mapping[str, PlatformState],
    families: Mapping[str, str | None],
    asked: Collection[str],
) -> list[Reprobe]:
    """When a member of a family starts to look down, its siblings are looked at now rather
    than at their next scheduled round: a family falling together is then confirmed
    together, and told once."""
    looks: list[Reprobe] = []
    wanted = {families.get(name) for name in falling} - {None}
    for sibling, family in sorted(families.items()):
        if family not in wanted or sibling in falling or sibling in asked:
            continue
        remembered = platforms.get(sibling)
        if remembered is not None and (
            remembered.suspect is not None
            or remembered.shown is Health.down
            or remembered.incident is not None
        ):
            continue
        looks.append(Reprobe(platform=sibling, delay_s=0.0))
    return looks


# -- connectivity ---------------------------------------------------------------------------


def _judge_connectivity(
    observations: Sequence[Observation], previous: Connectivity, policy: DetectionPolicy
) -> Connectivity:
    """A control target passes when all its checks pass; a quorum of targets must pass."""
    latest: dict[tuple[str, str], Observation] = {}
    for observation in observations:
        if observation.is_control:
            key = (observation.target, observation.check)
            seen = latest.get(key)
            if seen is None or observation.at >= seen.at:
                latest[key] = observation
    if not latest:
        return previous
    passing_by_target: dict[str, bool] = {}
    for (target, _), observation in latest.items():
        passing_by_target[target] = passing_by_target.get(target, True) and observation.ok
    total = len(passing_by_target)
    passing = sum(passing_by_target.values())
    # a quorum larger than the controls observed cannot be met; ask for all of them instead
    required = min(policy.control_quorum, total)
    return Connectivity(ok=passing >= required, passing=passing, required=required, total=total)


def _connectivity_changes(
    state: JudgeState, connectivity: Connectivity, now: datetime
) -> tuple[tuple[ConnectivityChange, ...], datetime | None]:
    was = state.connectivity.ok
    if connectivity.ok is False and was is not False:
        event = ConnectivityEvent.lost
    elif connectivity.ok is True and was is False:
        event = ConnectivityEvent.restored
    else:
        since = state.connectivity_since if connectivity.ok == was else now
        return (), since
    return (ConnectivityChange(event=event, at=now, connectivity=connectivity),), now


def _lost_summary(connectivity: Connectivity) -> str:
    return (
        f"unknown: local connectivity lost ({connectivity.passing} of {connectivity.total} "
        f"controls passing, {connectivity.required} required)"
    )


def _unknown(platform: str, summary: str) -> Verdict:
    return Verdict(platform=platform, health=Health.unknown, evidence=(), summary=summary)


# -- one platform ---------------------------------------------------------------------------


def _looks_needed(strong: bool, policy: DetectionPolicy) -> int:
    fast = 1 + len(policy.confirm_after_s)
    return fast if strong else fast + max(policy.recover_after - 1, 0)


#: a source failing alone must fail in at least this many looks in a row (and for
#: ``degraded_after``) before the platform is degraded; see the package docstring
LINGER_MIN_LOOKS = 8


def _linger(previous: Lingering | None, reading: Reading, now: datetime) -> Lingering | None:
    """The sources that have failed in every look since the first: weak status evidence (a
    status page we cannot read) never counts, it says nothing about the platform."""
    failing = tuple(signal for signal in reading.signals if signal.severity is not Severity.weak)
    if not failing:
        return None
    if previous is not None:
        common = common_signals(previous.signals, failing)
        if common:
            return Lingering(
                signals=common, first_failing_at=previous.first_failing_at, looks=previous.looks + 1
            )
    return Lingering(signals=failing, first_failing_at=reading.first_failing_at or now, looks=1)


def _lingered(lingering: Lingering | None, now: datetime, policy: DetectionPolicy) -> bool:
    return (
        lingering is not None
        and lingering.looks >= LINGER_MIN_LOOKS
        and now - lingering.first_failing_at >= policy.degraded_after
    )


def _observe(
    platform: PlatformState, reading: Reading, now: datetime, policy: DetectionPolicy
) -> tuple[PlatformState, _Change | None, bool]:
    """Feed one look to the machine: the new state, a confirmed change, whether to re-probe."""
    health = platform.health
    lingering = _linger(platform.lingering, reading, now)
    if lingering != platform.lingering:
        platform = replace(platform, lingering=lingering)
    if reading.health is Health.up and lingering is not None:
        if health is Health.up and _lingered(lingering, now, policy):
            minutes = (now - lingering.first_failing_at).total_seconds() / 60
            lasted = _Change(
                previous=health,
                current=Health.degraded,
                reason=(
                    f"degraded: {cause_line(lingering.signals)} for {minutes:.1f} min "
                    f"({lingering.looks} looks agree)"
                ),
                signals=lingering.signals,
                opened_at=lingering.first_failing_at,
            )
            return replace(platform, suspect=None), lasted, False
        if health is not Health.up and lingering.looks > 1:
            # the same source still fails: not a look that counts towards recovery
            reading = replace(reading, health=Health.degraded)
    if reading.health is health and platform.suspect is None and not platform.better_looks:
        return platform, None, False
    if severity_rank(reading.health) < severity_rank(health):
        return _better(platform, reading, policy)
    platform = replace(platform, better_looks=0, better_worst=Health.up)
    if severity_rank(reading.health) == severity_rank(health):
        return replace(platform, suspect=None), None, False
    if platform.suspect is not None:
        signals = common_signals(platform.suspect.signals, reading.signals)
        sources = platform.suspect.sources | reading.sources
        candidate, strong = classify(signals, sources)
        grew = len(signals) == len(platform.suspect.signals) and severity_rank(
            reading.health
        ) > severity_rank(candidate)
        if grew:
            # the outage is getting worse as we watch (caught half-way, as DNS caches expire
            # one by one): confirm what it has become, not the first glimpse of it
            return _suspect(platform, reading, now, policy, since=platform.suspect.first_failing_at)
        if severity_rank(candidate) > severity_rank(health):
            suspect = replace(
                platform.suspect,
                health=candidate,
                strong=strong,
                looks=platform.suspect.looks + 1,
                signals=signals,
                sources=sources,
            )
            confirmed, change = _confirm_if_agreed(platform, suspect, policy)
            return confirmed, change, False
    # a first look that reads worse, or one whose evidence differs from the suspect's
    return _suspect(platform, reading, now, policy, since=reading.first_failing_at or now)


def _suspect(
    platform: PlatformState, reading: Reading, now: datetime, policy: DetectionPolicy, *, since: datetime
) -> tuple[PlatformState, _Change | None, bool]:
    """Start confirming what this look reads, from its first failure ``since``."""
    suspect = Suspect(
        health=reading.health,
        strong=reading.strong,
        first_failing_at=since,
        started_at=now,
        looks=1,
        signals=reading.signals,
        sources=reading.sources,
    )
    confirmed, change = _confirm_if_agreed(platform, suspect, policy)
    return confirmed, change, change is None


def _better(
    platform: PlatformState, reading: Reading, policy: DetectionPolicy
) -> tuple[PlatformState, _Change | None, bool]:
    looks = platform.better_looks + 1
    seen = reading.health if platform.better_looks == 0 else worst(platform.better_worst, reading.health)
    if looks < policy.recover_after:
        return replace(platform, suspect=None, better_looks=looks, better_worst=seen), None, False
    reason = (
        f"recovered after {looks} healthy rounds"
        if seen is Health.up
        else f"improved to {seen} after {looks} rounds"
    )
    change = _Change(previous=platform.health, current=seen, reason=reason)
    return replace(platform, suspect=None, better_looks=0, better_worst=Health.up), change, False


def _confirm_if_agreed(
    platform: PlatformState, suspect: Suspect, policy: DetectionPolicy
) -> tuple[PlatformState, _Change | None]:
    if suspect.looks < _looks_needed(suspect.strong, policy):
        return replace(platform, suspect=suspect), None
    verb = "escalated to" if platform.health is not Health.up else "confirmed"
    change = _Change(
        previous=platform.health,
        current=suspect.health,
        reason=f"{verb} {suspect.health}: {cause_line(suspect.signals)} ({suspect.looks} looks agree)",
        signals=suspect.signals,
        opened_at=suspect.first_failing_at,
    )
    return replace(platform, suspect=None), change


def _show_change(
    name: str, platform: PlatformState, change: _Change, now: datetime, policy: DetectionPolicy
) -> tuple[PlatformState, Transition | None, Move | None]:
    """Record a confirmed change and decide what is shown, holding the state while flapping."""
    horizon = now - policy.flap_window
    changes = (*(at for at in platform.changes if at > horizon), now)
    platform = replace(platform, health=change.current, changes=changes)
    shown_before = platform.shown
    if platform.flapping:
        if severity_rank(change.current) <= severity_rank(shown_before):
            return platform, None, None
        target, flapping, reason = change.current, True, f"{change.reason} (while flapping)"
    elif len(changes) > policy.flap_max_transitions:
        target, flapping = worst(shown_before, change.current), True
        reason = (
            f"flapping: {len(changes)} health changes within {policy.flap_window}; holding {target}"
            f" ({change.reason})"
        )
    else:
        target, flapping, reason = change.current, False, change.reason
    transition = Transition(
        platform=name, previous=shown_before, current=target, at=now, reason=reason, flapping=flapping
    )
    if target == shown_before:
        return replace(platform, flapping=flapping), transition, None
    platform = replace(platform, shown=target, since=now, flapping=flapping)
    move = Move(
        platform=name,
        previous=shown_before,
        current=target,
        signals=change.signals,
        opened_at=change.opened_at,
    )
    return platform, transition, move


def _release_if_calm(
    name: str, platform: PlatformState, now: datetime, policy: DetectionPolicy
) -> tuple[PlatformState, Transition | None, Move | None]:
    if not platform.flapping:
        return platform, None, None
    horizon = now - policy.flap_window
    recent = tuple(at for at in platform.changes if at > horizon)
    if len(recent) > policy.flap_max_transitions // 2:
        return replace(platform, changes=recent), None, None
    released = replace(platform, changes=recent, flapping=False, shown=platform.health)
    transition = Transition(
        platform=name,
        previous=platform.shown,
        current=platform.health,
        at=now,
        reason=f"flapping ended: {len(recent)} health changes within {policy.flap_window}",
    )
    if platform.shown == platform.health:
        return released, transition, None
    move = Move(platform=name, previous=platform.shown, current=platform.health)
    return replace(released, since=now), transition, move


def _summary(reading: Reading, platform: PlatformState, policy: DetectionPolicy) -> str:
    failing = f"{len(reading.evidence)} of {reading.checks} checks failing"
    if not reading.evidence:
        text = f"up: all {reading.checks} checks passing"
    elif reading.health is Health.up:
        text = f"up: {failing}, not corroborated ({cause_line(reading.signals)})"
    else:
        text = f"{reading.health}: {cause_line(reading.signals)} ({failing})"
    suspect = platform.suspect
    if suspect is not None:
        text += (
            f"; confirming {suspect.health}, look {suspect.looks} of {_looks_needed(suspect.strong, policy)}"
        )
    elif platform.better_looks:
        text += (
            f"; judged {platform.shown}, recovering, look {platform.better_looks} of {policy.recover_after}"
        )
    elif platform.health is Health.up and platform.lingering is not None and reading.health is Health.up:
        lasting = policy.degraded_after.total_seconds() / 60
        text += f"; degraded if it lasts {lasting:g} min (look {platform.lingering.looks})"
    elif platform.shown is not reading.health:
        text += f"; judged {platform.shown}"
    if platform.flapping:
        text += " (flapping)"
    return text
