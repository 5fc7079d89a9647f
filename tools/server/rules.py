"""Which outlets a badge may power on a device at a given local time, and for how long: plain values in and out."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    badge: str | None          # badge hash; None: every enrolled badge
    device: str | None         # device id; None: every device
    outlets: list | None       # outlet numbers; None: every outlet of the device
    days: list | None          # ISO weekdays, 1 = Monday; None: every day
    start: str | None          # "HH:MM" local time, with end; None: all day
    end: str | None            # "HH:MM", up to "24:00"; end before start: the window runs past midnight
    max_seconds: int | None    # None: no limit
    enabled: bool = True


@dataclass(frozen=True)
class Decision:
    allow: bool
    outlets: list
    seconds: int | None
    reason: str


def minutes(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_window(rule, when):
    """True when `when` (an aware local datetime) falls in the rule's days and hours. In a window that runs past
    midnight, the hours after midnight belong to the day the window opened."""
    day = when.isoweekday()
    now = when.hour * 60 + when.minute
    if rule.start is None:
        return rule.days is None or day in rule.days
    start, end = minutes(rule.start), minutes(rule.end)
    if start < end:
        return start <= now < end and (rule.days is None or day in rule.days)
    if now >= start:
        return rule.days is None or day in rule.days
    yesterday = 7 if day == 1 else day - 1
    return now < end and (rule.days is None or yesterday in rule.days)


def decide(rules, badge, enrolled, device, outlet_count, when):
    """The answer to a tap of `badge` on `device` (which has `outlet_count` outlets) at `when`."""
    if not enrolled:
        return Decision(False, [], None, "unknown badge")
    mine = [r for r in rules if r.badge in (None, badge) and r.device in (None, device)]
    enabled = [r for r in mine if r.enabled]
    now = [r for r in enabled if in_window(r, when)]
    if not now:
        reason = "not now" if enabled else "disabled" if mine else "no rule"
        return Decision(False, [], None, reason)
    outlets = set()
    for r in now:
        outlets.update(range(1, outlet_count + 1) if r.outlets is None else r.outlets)
    outlets = sorted(o for o in outlets if 1 <= o <= outlet_count)
    if not outlets:
        return Decision(False, [], None, "no outlet")
    limits = [r.max_seconds for r in now if r.max_seconds is not None]
    return Decision(True, outlets, min(limits) if limits else None, "ok")
