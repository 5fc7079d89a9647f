"""Code that runs once: the configuration read and turned into drivers and outlets, the time at boot, the app
stopped by Ctrl-C. Loaded for the moment (app._once) and dropped after use."""
import gc
import os
import sys
import time

from machine import Pin, SoftI2C

import firmware

from firmware import app
from firmware.log import log
from micropython import const

_RELAYS = const("relays.json")  # read by early.py at the first instant of boot, before the configuration


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
    from firmware import link

    if [s for s in link.sessions if s] and not firmware.warm:
        recover()


def _build():
    c, errors, warnings = config()
    if not errors:
        _zone(c, errors)
    if not _report(errors, warnings):
        return False
    from firmware.outlets import Outlets

    b = c["board"]
    i2c = b["i2c"]
    app.bus = bus = SoftI2C(scl=Pin(i2c["scl"]), sda=Pin(i2c["sda"]), freq=i2c["freq"]) if i2c else None
    w = wiring(b)
    old = app.load(_RELAYS)
    if old != w:
        if old and (old.get("gpio"), old.get("pcf")) != (w.get("gpio"), w.get("pcf")):
            from firmware import reset

            reset.relays_off(old)  # relays moved: none is left on where the app no longer drives it,
            reset.relays_off(w)    # and the new ones start from off
            firmware.drop("reset")
            firmware.warm = False
        app.save(_RELAYS, w)
    drive, on = relays(b, bus)
    app.outlets = o = Outlets(drive, [x["name"] for x in c["outlets"]], c["stagger_ms"])
    o.on, o.want = on, on[:]  # as they are: off after a reset of the chip, kept through a soft reset
    app.reader = reader(b, bus)
    if "meter" in c:  # the metering chip (meter.py reads it; without one it estimates): on I2C or on 3 pins
        from firmware import meter

        m = c["meter"]
        if m["chip"] == "ade7953":
            from firmware.drivers.ade7953 import ADE7953

            meter.chip = ADE7953(bus)
        else:
            from firmware.drivers.hlw8012 import HLW8012

            p = m["pins"]
            meter.chip = HLW8012(Pin(p[0], Pin.IN), Pin(p[1], Pin.IN), Pin(p[2], Pin.OUT), m["scale"],
                                 m["chip"] == "bl0937")
    app.saved = app.load(app.STATE)
    if app.saved is None and _exists(app.STATE):
        log("state: state.json unreadable; starting from power-on defaults")
    app.cfg = c
    p = b["button"]  # the FLASH button, watched while the app runs (link.run) unless a relay's GPIO shares its pin
    p = Pin(p, Pin.IN, Pin.PULL_UP) if p is not None and (b["expander"] is not None or p not in b["relays"]) else None
    c["board"] = {"rtc": b["rtc"], "button": p}  # the rest is in the drivers now, the names in the outlets: kept once
    del c["time"]["tz"]
    c["watts"] = [o["watts"] for o in c["outlets"]]  # small lists rather than three more keys per outlet
    c["class"] = bytes([10 if o["never_shed"] else o["class"] for o in c["outlets"]])  # 10: never shed
    if not c["server"]["url"]:
        c["server"] = {"url": ""}
    for k in ("power_on", "schedule", "pulse_s", "badge"):  # a list per key rather than a dict per outlet: less heap
        c[k] = [o[k] for o in c["outlets"]]
    del c["outlets"]
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
    from firmware import link

    last = (app.saved or {}).get("want") or []
    o = app.outlets
    n = len(o)
    shed = (app.saved or {}).get("shed") or []
    link.shed = [u if type(u) is int else None for u in shed[:n]] + [None] * (n - len(shed))
    opened = app.load(link.OPEN) or []
    link.sessions = [s if type(s) is list and len(s) in (4, 5) else None for s in opened[:n]] + [None] * (
        n - len(opened))  # (4: from a firmware before the metering)
    for i, p in enumerate(app.cfg["power_on"]):
        if link.shed[i] is not None:  # a shedding outlives a reset (link.run ends it on time)
            o.hold[i] |= 2  # outlets.SHED
        if firmware.warm:  # a soft reset (a tool at the REPL): the outlets as they are, their sessions go on
            o.why[i] = "badge" if link.sessions[i] else "kept through a soft reset"
            continue
        o.want[i] = p == "on" or (p == "last" and i < len(last) and last[i] == 1)
        o.why[i] = "power-on " + p
        if link.sessions[i]:  # a badge session a reset interrupted: ended (recover), its outlet off
            o.want[i] = False
            o.why[i] = "badge session ended by a restart"


def relays(b, bus):
    """(fn, on): fn(i, on) drives relay i, on GPIO pins or on a PCF8574 expander's pins; on, whether each is on
    now. Each is left as it is: off after a reset of the chip (early.py), as it was through a soft reset. The
    function is made in outlets.py: one made here would keep this whole module on the heap."""
    from firmware import outlets

    low = b["active_low"]
    if b["expander"] is None:
        from firmware.reset import driven

        levels = [driven(p) for p in b["relays"]]
        firmware.drop("reset")
        levels = [(1 if lo else 0) if v is None else v for v, lo in zip(levels, low)]
        pins = [Pin(p, Pin.OUT, value=v) for p, v in zip(b["relays"], levels)]
        return outlets.gpio(pins, low), [bool(v) != lo for v, lo in zip(levels, low)]
    from firmware.drivers.pcf8574 import PCF8574

    pcf = PCF8574(bus, b["expander"])
    pins = b["relays"]
    mask = 0
    for p in pins:
        mask |= 1 << p
    off = wiring(b)["pcf"][3]
    try:  # what the chip drives now (its other pins stay released, as the off byte has them)
        pcf.shadow = pcf.read() & mask | off & ~mask & 0xFF
    except OSError:  # not answering: early.py said so; the first switch writes the whole byte
        pcf.shadow = off
    return outlets.expander(pcf, pins, low), [bool(pcf.shadow >> p & 1) != lo for p, lo in zip(pins, low)]


def reader(b, bus):
    """The RFID reader's driver (link.run sets it up and polls it), or None."""
    kind = b["reader"]
    if kind == "pn532":
        from firmware.drivers.pn532 import PN532

        return PN532(bus)
    if kind != "mfrc522":
        return None
    from firmware.drivers.mfrc522 import MFRC522

    s = b["spi"]
    if not s:
        return MFRC522(i2c=bus)
    from machine import SPI

    rst = s["rst"]
    return MFRC522(spi=SPI(1, baudrate=1000000), cs=Pin(s["cs"], Pin.OUT, value=1),
                   rst=None if rst is None else Pin(rst, Pin.OUT, value=1))


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


def confirm_update():
    """A pushed version that reaches ready is kept (updater.py rolls back one that does not); status says which runs
    and how it came: installed by a push (over which version), or rolled back (from which)."""
    s = app.load("update.json")
    if not s:
        return
    if s.get("state") == "trying":
        s["state"] = "ok"
        app.save("update.json", s)
        os.remove("update.try")
        log("update: %s runs; %s kept for a rollback" % (s["version"], s["previous"]))
    how = "rolled back from" if s.get("state") == "rolled back" else "installed, was"
    app.stats["version"] = "%s (%s %s)" % (s["version"], how, s["previous"])


def stop():
    """A person took over at the REPL: count this boot as fine, apply changes at once, and give the loop's memory to
    the REPL (its compiler needs it)."""
    firmware.boot_count(0)
    loop = sys.modules.get("firmware.loop")
    if loop:
        loop.tasks.clear()
    o = app.outlets
    if o:
        o.wake = None
        o.listeners.clear()
        o.settle()
        app.save_state()
    clock = sys.modules.get("firmware.clock")
    if clock:  # what it knows of the time outlives it (clock.py takes it back when loaded again)
        firmware.time = (clock.trust, clock.why, clock.synced)
        sys.modules["firmware.log"].zone = None  # the log's lines go back to UTC: the clock's globals can go
    app.reader = None
    mqtt = sys.modules.get("firmware.mqtt")
    if mqtt:  # the broker publishes the last will: offline
        mqtt.close()
    meter = sys.modules.get("firmware.meter")
    if meter and meter.wh:  # the energy counted to this instant (a last reading; no overload step: nothing switches
        try:              # here), kept: not a second lost, whatever comes next
            meter.count(time.ticks_ms())
            meter.keep(True)
        except (OSError, MemoryError):
            pass
    if meter and hasattr(meter.chip, "stop"):  # a pulse chip's interrupts end with the app
        meter.chip.stop()
    app.events.clear()
    firmware.drop("console", "commands", "clock", "link", "loop", "mqtt", "meter", "drivers.mfrc522", "drivers.pn532",
                  "drivers.ade7953", "drivers.hlw8012", "drivers")  # the REPL helpers load what they use again
    gc.collect()


def recover():
    """At boot, once the time is known: the sessions a reset interrupted are finished now (their outlets stayed
    off: power_on), unless done.log has them already (a power cut between the two writes)."""
    from firmware import link

    now = time.time() + link.EPOCH
    found = False
    for i, s in enumerate(link.sessions):
        if not s:
            continue
        found = True
        try:
            with open(link.DONE) as f:
                done = [1 for line in f if s[0] in line and line.endswith("}\n")]  # whole, not cut
        except OSError:
            done = False
        clock = sys.modules["firmware.clock"]
        if not done:
            link.finish(i, s, max(now, s[2]) if clock.trust else s[2])
        link.sessions[i] = None
        clock.timers[i] = None  # the session's granted time ended with it
        log("badge: session on outlet %d ended by the restart" % (i + 1))
    if found:
        app.save(link.OPEN, link.sessions)
