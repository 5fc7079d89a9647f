"""The command interface: a line of text in, a reply out. The serial console and the REPL helpers speak it."""
import gc
import time

import firmware
from firmware import app
from micropython import const

HELP = ("commands: on N|all, off N|all, toggle N|all, status, log, time, sched, timer, pulse, name, poweron, calibrate,"
        " scan, rtc, reboot, help")
_CHIPS = const("|20 PCF8574|24 PN532|28 MFRC522|38 PCF8574A or ADE7953|57 EEPROM|68 RTC|")  # one string: no names


def run(line, source="serial"):
    """The reply: a line, or lines one by one (a generator: printed as made, never held all at once)."""
    w = line.split()
    if not w:
        return ""
    cmd = w[0].lower()
    o = app.outlets
    if cmd in ("on", "off", "toggle"):
        n = w[1] if len(w) == 2 else ""
        which = range(len(o)) if n == "all" else [int(n) - 1] if n.isdigit() and 0 < int(n) <= len(o) else None
        if which is None:
            return "error: usage: %s N|all, with N from 1 to %d" % (cmd, len(o))
        for i in which:
            o.wish(i, not o.want[i] if cmd == "toggle" else cmd == "on", source)
        return (line_of(i) for i in which)
    if cmd == "status":
        return status()
    if cmd == "time" and len(w) == 1:
        return time_line()
    if cmd in ("time", "sched", "timer", "pulse", "name", "poweron", "calibrate"):
        name = "timecmd" if cmd in ("time", "timer") else "schedcmd"
        try:
            return __import__("firmware." + name, None, None, ["run"]).run(cmd, w[1:])
        finally:
            firmware.drop(name)
    if cmd == "log":
        from firmware.log import lines

        return iter(lines())
    if cmd == "scan":
        if not app.bus:
            return "error: no I2C bus configured"
        found = app.bus.scan()
        if not found:
            return "I2C: nothing answers"
        return ("I2C 0x%02x %s" % (a, (_CHIPS.split("|%02x " % a) + ["?"])[1].split("|")[0]) for a in found)
    if cmd == "rtc":
        try:
            return rtc()
        finally:
            firmware.drop("drivers.ds1307", "drivers.ds3231", "drivers")
    if cmd == "reboot":  # the app stops as at Ctrl-C, then a soft reset starts it again: the outlets stay
        raise SystemExit
    return HELP if cmd == "help" else "error: unknown command %r; %s" % (cmd, HELP)


def line_of(i):
    o = app.outlets
    return "%d %s: %s (%s)" % (i + 1, o.names[i], "on" if o.on[i] else "off", o.reason(i))


def status():
    import sys

    from firmware import VERSION

    link = sys.modules.get("firmware.link")
    up = time.ticks_diff(time.ticks_ms(), app.stats["t0"]) // 1000
    gc.collect()  # the free heap as it is, not what the garbage since the last collection leaves
    f = gc.mem_free()
    app.stats["heap_min"] = m = min(app.stats["heap_min"] or f, f)  # this look is one of the app's too
    head = "%s %s: up %dh%02dm%02ds, heap %d free (min %d), wifi %s, %d state writes" % (
        app.cfg["name"], app.stats["version"] or VERSION, up // 3600, up // 60 % 60, up % 60, f, m,
        link.wifi if link else "stopped", app.stats["state_writes"])
    yield head
    yield time_line()
    if link and app.cfg["server"]["url"]:
        yield "server %s: %s" % (app.cfg["server"]["url"], link.last or "not asked yet")
    if link and link.tapped:
        yield "last badge: " + link.tapped
    if app.outlets.fault:
        yield "fault: " + app.outlets.fault
    m = sys.modules.get("firmware.meter")
    if m and m.wh:
        yield from power(m)
    for i in range(len(app.outlets)):
        yield line_of(i)


def power(m):
    """The status's lines of power and energy, from the metering chip (meter.py)."""
    n = len(m.watts)
    r = m.reading
    s = "power %d W measured" % m.total
    if r[0]:
        s += ": %d.%d V, %d.%02d A, pf %.2f" % (r[0] // 10, r[0] % 10, r[1] // 1000, r[1] // 10 % 100, r[2] / 1000)
    if r[3]:  # a pulse chip gives no mains frequency
        s += ", %d.%02d Hz" % (r[3] // 100, r[3] % 100)
    yield s + "; energy today %s, overall %s" % (_kwh(m.wh[2 * n + 1]), _kwh(m.wh[n]))
    if m.fault:
        yield "meter: FAULT: %s (%d s without a reading since boot)" % (m.fault, m.lost)
    shed = ",".join(str(i + 1) for i in range(n) if app.outlets.hold[i] & 4)  # outlets.OVER
    if shed:
        yield "overload: outlet %s shed (limit %d W)" % (shed, app.cfg["meter"]["max_watts"])
    yield "by outlet, W now / today: " + ", ".join("%d: %d / %s" % (i + 1, m.watts[i], _kwh(m.wh[n + 1 + i]))
                                                 for i in range(n))


def _kwh(wh):
    return "%d.%03d kWh" % (wh // 1000, wh % 1000)


def rtc():
    kind = app.cfg["board"]["rtc"]
    if kind:
        mod = __import__("firmware.drivers." + kind, None, None, [kind.upper()])
    chip = getattr(mod, kind.upper())(app.bus) if kind else None
    if not chip:
        return "error: no RTC chip configured"
    try:
        t = chip.datetime()
        s = "RTC %s: %d-%02d-%02d %02d:%02d:%02d, %s" % (app.cfg["board"]["rtc"], t[0], t[1], t[2], t[3], t[4], t[5],
                                                        "TIME LOST: not trusted" if chip.lost() else "running")
        return s + ", %.2f C" % chip.temperature() if chip.temperature else s
    except OSError as e:
        return "error: RTC chip not answering (%r)" % e


def time_line():
    from firmware import clock

    now = time.time()
    if not clock.trust:
        return "time %s NOT TRUSTED: %s; schedules wait" % (clock.text(now), clock.why)
    s = "time %s, from %s" % (clock.text(now), clock.trust)
    if clock.synced:
        s += ", NTP %d min ago" % ((now - clock.synced) // 60)
    return s
