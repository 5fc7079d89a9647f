"""Talking to the time sources: NTP, the RTC chip (it keeps UTC), a time set by hand. Loaded when due (clock.py),
then dropped."""
import time

import machine

import firmware
from firmware import app, clock
from firmware.log import log
from micropython import const

_NTP_ZERO = const(1139293696)  # a transmit time of 0 (a kiss-of-death, an unsynchronized server), as ntptime reads it


def trusted(source, step=0):
    """The time now comes from source; step is how far the clock moved (seconds), 0 when it was only checked."""
    if source != clock.trust:
        log("clock: time from %s" % source)
    clock.trust = source
    clock.why = ""
    clock.moved(step)


def ntp(host):
    """Ask the NTP server (1 s at most); on a good answer, set the ESP8266's clock and trust it (the chip follows
    at the next chip job). True when it answered well."""
    try:
        import ntptime

        ntptime.host = host
        ntptime.timeout = 1
        t = ntptime.time()
        if not clock.T_MIN <= t < clock.T_MAX or t == _NTP_ZERO:
            raise ValueError("no time in the answer (%d)" % t)
    except Exception as e:  # no network, no answer in time, an answer that makes no sense, no ntptime module
        log("clock: NTP %s: no good answer (%r)" % (host, e))
        if not clock.trust:
            clock.why = clock.why.split(";")[0] + "; NTP has not answered"
        return False
    g = time.gmtime(t)
    step = t - time.time()
    machine.RTC().datetime((g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0))
    clock.synced = t
    trusted("ntp", step)
    try:  # the chip follows now, or at the clock task's next chip job when the heap has no room just now
        write_chip(time.time())
    except MemoryError:
        clock.chip_due = True
    return True


def distrust(reason):
    if clock.trust or clock.why != reason:
        log("clock: time NOT trusted: %s; schedules wait" % reason)
    clock.trust = None
    clock.why = reason


def chip():
    """(kind, driver) of the configured RTC chip, or (None, None)."""
    kind = app.cfg["board"]["rtc"]
    if not kind or not app.bus:
        return None, None
    mod = __import__("firmware.drivers." + kind, None, None, [kind.upper()])
    return kind, getattr(mod, kind.upper())(app.bus)


def set_esp(t):
    """Set the ESP8266's clock to t (seconds since 2000, UTC); return how far it moved."""
    step = t - time.time()
    g = time.gmtime(t)
    machine.RTC().datetime((g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0))
    return step


def write_chip(t):
    """Set the chip to t; it then trusts its time again (OSF or CH cleared)."""
    try:
        c = chip()[1]
        if c:
            c.set_datetime(time.gmtime(t))
    except OSError as e:
        log("clock: cannot set the RTC chip (%r)" % e)
    finally:
        firmware.drop("drivers.ds1307", "drivers.ds3231", "drivers")


def chip_to_esp():
    """Read the chip into the ESP8266's clock; the time is trusted when the chip kept it."""
    kind, c = chip()
    try:
        if not c:
            return clock.trust or distrust("no RTC chip, and NTP has not answered yet")
        try:
            lost = c.lost()
            d = c.datetime()
            k = time.ticks_ms()
            while not lost and time.ticks_diff(time.ticks_ms(), k) < 1100:  # to the start of a second: the chip
                e = c.datetime()                                            # has no fraction to read
                if e[5] != d[5]:
                    d = e
                    break
        except OSError as e:  # running on good time, the ESP8266's clock carries on until the next read
            why = "RTC chip %s not answering (%r)" % (kind, e)
            return log("clock: " + why) if clock.trust else distrust(why)
        t = time.mktime(d[:6] + (0, 0)) if 2000 <= d[0] < 2100 and 0 < d[1] < 13 and 0 < d[2] < 32 else 0
        if lost or not clock.T_MIN <= t < clock.T_MAX:
            if clock.trust:  # the chip stopped while we run on good time: set it again
                log("clock: RTC chip %s lost its time; set again" % kind)
                c.set_datetime(time.gmtime(time.time()))
                return
            return distrust("RTC chip %s %s" % (kind, (
                "lost its time (%s set: battery flat, or never set)" % ("OSF" if kind == "ds3231" else "CH")) if lost
                else "says %d-%02d-%02d: never set" % d[:3]))
        trusted(clock.trust if clock.trust in ("ntp", "manual") else kind, set_esp(t))
    finally:
        firmware.drop("drivers.ds1307", "drivers.ds3231", "drivers")


def chip_job():
    """Every hour, or after NTP set the time: read the chip into the ESP8266's clock, or set it from it."""
    if clock.chip_due:
        write_chip(time.time())
    else:
        chip_to_esp()


def set_to(t, source):
    """The time set by a person (source "manual", the `time set` command) or taken from the server's signed
    answer ("server"): both clocks, trusted until NTP says otherwise."""
    step = set_esp(t)
    write_chip(t)
    trusted(source, step)


def job(sync, up, k):
    """The clock task's job (clock._sources), k being time.ticks_ms(): the time asked for by hand, or an NTP sync
    (sync: one is due), or the chip read; when the next ones are due in clock.at."""
    at, ask = clock.at, clock.ask
    if type(ask) is list:
        set_to(*ask)
    elif ask == "ntp" and not sync:
        log("clock: NTP asked, but %s" % ("no NTP server is configured" if up else "Wi-Fi is down"))
    elif sync:
        ok = ntp(app.cfg["time"]["ntp"])
        at[2] = 60 if ok else min(at[2] * 2, 3600)
        at[0] = time.ticks_add(k, (app.cfg["time"]["ntp_interval_h"] * 3600 if ok else at[2]) * 1000)
    else:
        chip_job()
        clock.chip_due = False
        at[1] = time.ticks_add(k, clock.CHIP_EVERY_S * 1000)
    clock.ask = None
