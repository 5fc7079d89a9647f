"""Time the board can trust, and what runs on it: schedule edges and timers.

Sources, most trusted first: NTP (when online), the RTC chip (read at boot, re-read every hour), a time set by hand.
Without one, `trust` is None, `why` says why, and schedules wait: outlets keep their state. The code that talks to
the sources (timesync.py) and the schedule code (sched.py) are loaded only when due, then dropped."""
import time

import firmware
from firmware import app
from firmware.log import log

CHIP_EVERY_S = 3600  # the ESP8266's own clock drifts: re-read the chip this often (it must be read every 7 h)
T_MIN = 789004800  # 2025-01-01: a source that says earlier has no real time (seconds since 2000)
T_MAX = 3155760000  # 2100-01-01
# where the time came from ("ntp", "ds3231", "ds1307", "manual"), or None: not to be trusted; why not; time.time()
# of the last good NTP answer. Kept in firmware.time while this module is unloaded (at the REPL, bringup.stop).
trust, why, synced = getattr(firmware, "time", None) or (None, "no time source yet", None)
fired = []  # per outlet: the wall time of the schedule edge it fired last (sched.py), None before its first
timers = []  # per outlet: None or [at (time.time()), on, relative]: a relative timer moves with clock corrections
next_at = 0  # when sched.tick() is due again (0: at once)
chip_due = False  # the chip is to be set from the ESP8266's clock (after NTP), at the next chip job
rebase = False  # the clock was set here: keep() takes it as it is now, not as a jump to correct for
ask = None  # asked for, done by keep() within a second: "ntp" (sync now), or [the instant to set the clock to, from]
changes = []  # [(instant, offset from then on)] of the time zone, around the instants asked about
base = 0  # the offset before the first change
span = (1, 0)  # the instants changes is right for
at = [0, 0, 60]  # time.ticks_ms() when NTP is due, when the chip is, the wait after a failed NTP sync (s)


def init(n):
    global fired, timers
    from firmware import log

    log.zone = known  # log lines in local time (bringup.stop takes it back: it holds this module's globals)
    if len(fired) != n:
        fired = [None] * n
        timers = [None] * n


def moved(step):
    """The clock was set by step seconds: relative timers and open badge sessions keep their length, schedules
    look again."""
    global next_at, rebase
    rebase = True
    if abs(step) > 2:
        log("clock: set %+d s" % step)
    for t in timers:
        if t and t[2]:
            t[0] += step
    import sys

    link = sys.modules.get("firmware.link")
    if app.stats["ready_ms"] and link and [s for s in link.sessions if s]:  # sessions started on this clock (at
        for s in link.sessions:  # boot, those in open.json were timed by the clock of before the reset)
            if s:
                s[2] += step  # its length is what ran
        app.save(link.OPEN, link.sessions)
    next_at = 0


def offset(t):
    """Seconds east of UTC in force at the instant t, from the changes of offset around t (sched.zone() works
    them out from the TZ string, about once a year)."""
    o = known(t)
    if o is None:
        from firmware import sched

        sched.zone(t)
        firmware.drop("sched")
        o = known(t)
    return o


def known(t):
    """offset(t) when the changes around t are worked out already, else None: it loads nothing (the log asks)."""
    if not span[0] <= t < span[1]:
        return None
    o = base
    for c, a in changes:
        if t >= c:
            o = a
    return o


def text(t):
    """'YYYY-MM-DD HH:MM:SS UTC+hh:mm': the local time at the instant t."""
    o = offset(t)
    v = time.gmtime(t + o)
    o //= 60
    return "%d-%02d-%02d %02d:%02d:%02d UTC%s%02d:%02d" % (v[:6] + ("+" if o >= 0 else "-", abs(o) // 60, abs(o) % 60))


def timer(i, at, on, relative):
    timers[i] = [at, on, relative] if at is not None else None


def on_switch(i, on, why):
    """Outlet listener: an outlet with a pulse length switches off again after it."""
    p = app.cfg["pulse_s"][i]
    if on and p and why != "timer":
        timer(i, time.time() + p, False, True)


def due(now):
    global next_at
    for i, t in enumerate(timers):
        if t and now >= t[0]:
            timers[i] = None
            app.outlets.wish(i, t[1], "timer")
    if trust and now >= next_at:
        try:
            from firmware import clock, sched

            next_at = sched.tick(now, app.cfg, app.outlets, fired, clock)
        finally:
            firmware.drop("sched")


def _sources(ntp, up, k):
    """The job that asks NTP or the chip, or sets the time asked for (timesync.job), in a function of its own: the
    module leaves the heap with its frame."""
    try:
        from firmware import timesync

        timesync.job(ntp, up, k)
    except MemoryError:  # the heap is in pieces just now: in a minute
        log("clock: not enough memory for %s just now; in a minute" % ("NTP" if ntp else "the RTC chip"))
        at[0] = at[1] = time.ticks_add(k, 60000)
    finally:
        firmware.drop("timesync")


async def keep():
    """The task: every second, timers and schedule edges; NTP and the chip when due. A jump of the clock that
    nobody here made (the REPL, the ESP8266's clock wrapping) is noticed and treated as a correction."""
    import sys

    from firmware.loop import sleep_ms

    global next_at, rebase
    now = t0 = time.time()
    k0 = time.ticks_ms()
    at[0] = k0  # NTP at once
    at[1] = time.ticks_add(k0, CHIP_EVERY_S * 1000)  # the chip: read at boot already
    online = False
    try:  # the zone's changes worked out now, while the heap is whole, not by the first local time asked (a status)
        offset(now)
    except MemoryError:
        pass
    while True:
        soon = ask or min([next_at if trust else now + 9] + [t[0] for t in timers if t]) - now <= 1
        await sleep_ms(50 if soon else 1000 - time.ticks_ms() % 1000)  # an edge is due: look closely
        now, k = time.time(), time.ticks_ms()
        step = now - t0 - time.ticks_diff(k, k0) // 1000
        if abs(step) > 2 and not rebase:
            moved(step)
        rebase = False
        try:
            due(now)
        except MemoryError:  # the heap is in pieces just now: the next second
            next_at = 0
        link = sys.modules.get("firmware.link")
        up = link and link.wifi == "connected"
        if up and not online:
            at[0] = k  # a new connection: sync now
        online = up
        ntp = up and app.cfg["time"]["ntp"] and (time.ticks_diff(k, at[0]) >= 0 or ask == "ntp")
        chip = (chip_due or time.ticks_diff(k, at[1]) >= 0) and app.bus and app.cfg["board"]["rtc"]
        if (ntp or chip or ask) and not (link and link.busy):  # a tap or a round has the heap: a second later
            _sources(ntp, up, k)
        t0, k0 = time.time(), time.ticks_ms()
