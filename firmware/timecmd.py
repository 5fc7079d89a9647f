"""Commands about time: time sync|set, timer (the console and commands.py pass them here). Loaded for one command,
then dropped."""
import time

from firmware import app, clock
from micropython import const

who = "timer"  # the reason a timer's switch-on is given (orders.line sets its own)
_TIME = const("time | time sync | time set YYYY-MM-DD HH:MM[:SS] (local time)")
_TIMER = const("timer | timer N for 30m | timer N on|off HH:MM|45m|90s|2h | timer N cancel")


def run(cmd, args):
    return app.handle(globals(), cmd, args, _TIME if cmd == "time" else _TIMER, "sched")


def secs(s):
    k = s[-1:]
    if k in "smh" and s[:-1].isdigit():
        return int(s[:-1]) * {"s": 1, "m": 60, "h": 3600}[k]
    raise ValueError("%r: a length like 90s, 30m or 2h, or a time HH:MM" % s)


def _timer(a):
    now = time.time()
    if not a:
        t = [(i, x) for i, x in enumerate(clock.timers) if x]
        return ["%d %s at %s" % (i + 1, "on" if x[1] else "off", clock.text(x[0])) for i, x in t] or "no timers"
    i = app.outlet(a[0])
    if a[1] == "cancel":
        clock.timer(i, None, 0, 0)
    elif a[1] == "for":
        clock.timer(i, now + secs(a[2]), False, True)
        app.outlets.wish(i, True, who)
    elif a[1] in ("on", "off"):
        if ":" in a[2]:
            if not clock.trust:
                raise ValueError("the time is not trusted (%s)" % clock.why)
            from firmware import sched

            h, m = a[2].split(":")
            p = sched.peak(now, clock)
            w = p // 86400 * 86400 + int(h) * 3600 + int(m) * 60  # today, local
            at = sched.instant(w + (86400 if w <= p else 0), clock)  # or tomorrow
            clock.timer(i, at, a[1] == "on", False)
        else:
            clock.timer(i, now + secs(a[2]), a[1] == "on", True)
    else:
        raise ValueError("unknown")
    return _timer(())


def _time(a):
    """`time sync`: ask NTP now; `time set YYYY-MM-DD HH:MM[:SS]` (local time): set the clocks by hand. The clock
    task does it within a second (and the log says how it went), so that this module is not on the heap then."""
    if a == ["sync"]:
        if not app.cfg["time"]["ntp"]:
            raise ValueError("no NTP server configured (time.ntp)")
        clock.ask = "ntp"
        return "time: asking NTP %s" % app.cfg["time"]["ntp"]
    if len(a) != 3 or a[0] != "set":
        raise ValueError("unknown")
    d = [int(x) for x in a[1].split("-")] + [int(x) for x in a[2].split(":")]
    if len(d) not in (5, 6) or not (2025 <= d[0] < 2100 and 0 < d[1] < 13 and 0 < d[2] < 32):
        raise ValueError("a date and time from 2025 on, like 2026-11-21 14:05")
    from firmware import sched

    w = time.mktime(tuple(d) + (0,) * (8 - len(d)))  # the wall time, counted like an instant
    t = sched.instant(w, clock)
    if t + clock.offset(t) != w:
        raise ValueError("%s %s does not exist here (the clocks skip it)" % (a[1], a[2]))
    clock.ask = [t, "manual"]
    return "time: set to %s" % clock.text(t)
