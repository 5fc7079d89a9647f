"""Commands about an outlet's settings: sched, pulse, name, poweron, and the metering's calibrate (the console and
commands.py pass them here).
Loaded for one command, then dropped. Changes are stored in config.json (atomically) and apply at once."""
import time

from firmware import app, clock
from micropython import const

_USAGE = const("sched [N] | sched N add DAYS HH:MM-HH:MM | sched N del K | sched N clear\n"
               "pulse N SECONDS (0: no pulse)\nname N TEXT (1 to 24 characters)\npoweron N off|on|last|schedule\n"
               "calibrate N WATTS [VOLTS] (a known resistive load on outlet N, the only one on; VOLTS: 230)")


def run(cmd, args):
    usage = [u for u in _USAGE.split("\n") if u.startswith(cmd + " ")][0]
    return app.handle(globals(), cmd, args, usage, "rules", "sched")


def _sched(a):
    from firmware import rules

    if not a:
        return [ln for i in range(len(app.outlets)) for ln in _sched([str(i + 1)])]
    i = app.outlet(a[0])
    r = app.cfg["schedule"][i][:]
    if len(a) == 1:
        return ["%d %s: %s" % (i + 1, app.outlets.names[i], "no schedule" if not r else "")] + [
            "  %d) %s" % (k + 1, rules.text(x)) for k, x in enumerate(r)]
    if a[1] == "add" and len(a) == 4:
        if len(r) >= rules.MAX:
            raise ValueError("%d rules already" % rules.MAX)
        r.append(rules.parse(a[2] + " " + a[3]))
    elif a[1] == "del" and len(a) == 3:
        del r[int(a[2]) - 1]
    elif a[1] == "clear" and len(a) == 2:
        r = []
    else:
        raise ValueError("unknown")
    _store(i, "schedule", [rules.text(x) for x in r], r)
    if clock.trust and clock.fired[i] is not None:  # a changed schedule acts from its next edge on
        from firmware import sched

        clock.fired[i] = sched.peak(time.time(), clock)
    if app.cfg["power_on"][i] == "schedule" and not r:
        _store(i, "power_on", "off", "off")
    clock.next_at = 0
    return _sched(a[:1])


def _pulse(a):
    i = app.outlet(a[0])
    s = int(a[1])
    if not 0 <= s <= 86400:
        raise ValueError("seconds from 0 to 86400")
    _store(i, "pulse_s", s, s)
    return "%d pulse %s" % (i + 1, "%d s" % s if s else "off")


def _name(a):
    i = app.outlet(a[0])
    t = " ".join(a[1:])
    if not 0 < len(t) <= 24:
        raise ValueError("a name of 1 to 24 characters")
    _store(i, "name", t, t, app.outlets.names)
    from firmware.commands import line_of

    return line_of(i)


def _calibrate(a):
    """The metering chip's scale from a known load: counts per volt, ampere, watt and watt-hour, stored."""
    import sys

    m = sys.modules.get("firmware.meter")
    if not (m and m.chip):
        raise ValueError("no metering chip: add a meter section to config.json (docs/metering.md)")
    i = app.outlet(a[0])
    w = int(a[1])
    v = int(a[2]) if len(a) == 3 else 230
    if len(a) > 3 or not 10 <= w <= 4600 or not 90 <= v <= 260:
        raise ValueError("a load of 10 to 4600 W, at 90 to 260 V")
    o = app.outlets
    if [k for k in range(len(o)) if o.on[k] != (k == i)]:
        raise ValueError("outlet %d on with the known load, every other outlet off" % (i + 1))
    r = m.raw  # the chip's counts, whatever the scale makes of them (a reading out of range too)
    if time.ticks_diff(time.ticks_ms(), r[6]) > 2000 or r[8] < 5000 or min(r[1], r[2], r[7]) <= 0:
        raise ValueError(m.fault or "no steady reading of a load yet: wait 5 seconds after the last switch")
    s = [round(x, 3) for x in (r[0] / v, r[1] * v / w, r[2] / w, r[7] * 3600000 / (w * r[8]))]
    raw = app.load("config.json") or {}
    if type(raw.get("meter")) is dict:
        raw["meter"]["scale"] = s
        app.save("config.json", raw)
    app.cfg["meter"]["scale"][:] = s  # in place: a pulse chip's driver holds the list
    return "calibrated with %d W at %d V on outlet %d: %s counts per V, A, W, Wh (config.json, meter.scale)" % (
        w, v, i + 1, ", ".join(str(x) for x in s))


def _poweron(a):
    i = app.outlet(a[0])
    v = a[1]
    if len(a) != 2 or v not in ("off", "on", "last", "schedule"):
        raise ValueError("off, on, last or schedule")
    if v == "schedule" and not app.cfg["schedule"][i]:
        raise ValueError("outlet %d has no schedule" % (i + 1))
    _store(i, "power_on", v, v)
    return "%d at power-on: %s" % (i + 1, v)


def _store(i, key, text, value, into=None):
    """Set outlets[i].key in config.json (as text, atomically) and in the running configuration (as value; or in
    the list into). The next boot checks the changed config.json and applies it as the board runs now."""
    raw = app.load("config.json") or {}
    o = raw.get("outlets")
    if type(o) is not list:
        o = raw["outlets"] = [{} for _ in app.outlets.names]
    o[i][key] = text
    app.save("config.json", raw)
    (app.cfg[key] if into is None else into)[i] = value
