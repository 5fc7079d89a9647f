"""Code that runs once: the configuration read and turned into drivers and outlets, the time at boot, the app
stopped by Ctrl-C. Loaded for the moment (app._once) and dropped after use."""
import gc
import os
import time

from machine import Pin, SoftI2C

import firmware

from firmware import app
from firmware.log import log

RELAYS = "relays.json"  # read by early.py at the first instant of boot, before the configuration


def config():
    """(cfg, errors, warnings): the configuration, checked by the validator when config.json changed (valid.py)."""
    from firmware import valid

    s = valid.sha()
    c = valid.cached(s)
    c = (c["cfg"], [], c["warnings"]) if c else valid.check(s)
    firmware.drop("valid")
    gc.collect()
    return c


def setup(starting=False):
    """Build the board from config.json into `app`; False (with every reason logged) when it cannot be used.
    Starting the app, the outlets take their power-on behaviour; then the time (timesync.boot)."""
    if not _build():
        return False
    if starting:
        power_on()
    gc.collect()
    _time(starting)
    return True


def _time(starting):
    """The chip's time; starting the app, the timers that were running (if the time can be trusted, else their
    offs at once) and what the schedules say now."""
    from firmware import clock, timesync

    clock.init(len(app.outlets))
    if clock.trust is None:
        timesync.chip_to_esp()
    firmware.drop("timesync")
    if not starting:
        return
    o = app.outlets
    for i, t in enumerate(((app.saved or {}).get("timers") or [])[:len(o)]):
        if t and clock.trust:
            clock.timers[i] = t
        elif t and not t[1]:
            o.wish(i, False, "timer ended: the time was lost")
    if clock.trust:
        clock.due(time.time())


def _build():
    c, errors, warnings = config()
    if not errors:
        _zone(c, errors)
    if not _report(errors, warnings):
        return False
    from firmware.outlets import Outlets

    b = c["board"]
    app.bus = bus = SoftI2C(scl=Pin(b["i2c"]["scl"]), sda=Pin(b["i2c"]["sda"]), freq=b["i2c"]["freq"]) if b["i2c"] else None
    w = wiring(b)
    if app.load(RELAYS) != w:
        app.save(RELAYS, w)
    app.outlets = Outlets(relays(b, bus), [o["name"] for o in c["outlets"]], c["stagger_ms"])
    app.saved = app.load(app.STATE)
    if app.saved is None and _exists(app.STATE):
        log("state: state.json unreadable; starting from power-on defaults")
    app.cfg = c
    c["board"] = {"rtc": b["rtc"]}  # the rest is in the drivers now, the names in the outlets: kept once
    del c["time"]["tz"]
    for o in c["outlets"]:
        del o["name"]
    return True


# Each step that loads a module for a moment is a function of its own: the module leaves the heap with its frame.
def _zone(c, errors):
    from firmware import tz  # the TZ string is read here, on a heap the validator has left

    try:
        c["time"]["zone"] = list(tz.parse(c["time"]["tz"]))
    except ValueError as x:
        errors.append("time.tz: %s" % x)
    firmware.drop("tz")


def _report(errors, warnings):
    from firmware import valid

    ok = valid.report(errors, warnings)
    firmware.drop("valid")
    return ok


def power_on():
    """Each outlet's power-on behaviour: off, on, or the last state saved; "schedule" waits for the time
    (timesync.boot())."""
    last = (app.saved or {}).get("want") or []
    o = app.outlets
    for i, conf in enumerate(app.cfg["outlets"]):
        p = conf["power_on"]
        o.want[i] = p == "on" or (p == "last" and i < len(last) and last[i] == 1)
        o.why[i] = "power-on " + p


def relays(b, bus):
    """fn(i, on) that drives relay i: on GPIO pins, or on a PCF8574 expander's pins."""
    low = b["active_low"]
    if b["expander"] is None:
        pins = [Pin(p, Pin.OUT, value=1 if lo else 0) for p, lo in zip(b["relays"], low)]
        return lambda i, on: pins[i].value(bool(on) != low[i])
    from firmware.drivers.pcf8574 import PCF8574

    pcf = PCF8574(bus, b["expander"])
    pins = b["relays"]
    return lambda i, on: pcf.pin(pins[i], bool(on) != low[i])


def wiring(b):
    """What early.py needs to drive the relays off before the configuration is read (relays.json)."""
    w = {"button": b["button"]}
    off = [1 if low else 0 for low in b["active_low"]]
    if b["expander"] is None:
        w["gpio"] = [[p, v] for p, v in zip(b["relays"], off)]
    else:
        byte = 0xFF
        for p, v in zip(b["relays"], off):
            byte = byte if v else byte & ~(1 << p)
        w["pcf"] = [b["i2c"]["scl"], b["i2c"]["sda"], b["expander"], byte]
    return w


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False
