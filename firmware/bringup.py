"""Boot-time bring-up: the configuration read and turned into drivers and outlets. Dropped from memory after use."""
import gc

import machine
from machine import Pin, SoftI2C

import firmware

from firmware import app
from firmware.log import log

CONFIG = "config.json"
RELAYS = "relays.json"  # read by early.py at the first instant of boot, before the configuration
VALID = "config.valid.json"  # the normalized configuration, and the SHA-256 of the config.json it came from


def config():
    """(cfg, errors, warnings, fresh): the validated configuration.

    The validator is big for this heap, so its normalized result is kept in config.valid.json with the
    SHA-256 of the config.json it came from; only a changed config.json is validated again (fresh).
    """
    import hashlib
    from binascii import hexlify

    try:
        with open(CONFIG, "rb") as f:
            sha = hexlify(hashlib.sha256(f.read()).digest()).decode()
    except OSError:
        sha = None
    cache = app.load(VALID) if sha else None
    if cache and cache.get("sha") == sha:
        return cache["cfg"], [], cache["warnings"], False
    from firmware import config

    c, errors, warnings = config.load(CONFIG)
    firmware.drop("config")
    if c:
        app.save(VALID, {"sha": sha, "cfg": c, "warnings": warnings})
    gc.collect()
    return c, errors, warnings, True


def setup(starting=False):
    """Build the board from config.json into `app`; False (with every reason logged) when it cannot be used.

    When starting the app, a freshly validated configuration is applied by a reset, so the validator's heap
    never adds to the application's.
    """
    c, errors, warnings, fresh = config()
    for w in warnings:
        log("config: warning:", w)
    if errors:
        for e in errors:
            log("config: error:", e)
        log("config: %d error(s) in config.json: SAFE STATE: outlets off, app not started, REPL free." % len(errors))
        return False
    if fresh and starting:
        log("config: config.json changed and is valid; restarting to apply it")
        firmware.boot_count(firmware.boot_count() - 1)  # this reset is not a failed boot
        machine.reset()
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
    return True


def power_on():
    """Each outlet's power-on behaviour: off, on, or the last state saved."""
    last = (app.saved or {}).get("want") or []
    o = app.outlets
    for i, conf in enumerate(app.cfg["outlets"]):
        p = conf["power_on"]
        o.want[i] = p == "on" or (p == "last" and i < len(last) and last[i] == 1)
        o.why[i] = "power-on " + p


def relays(b, bus):
    from firmware.outlets import ExpanderRelays, GpioRelays

    if b["expander"] is None:
        return GpioRelays(b["relays"], b["active_low"])
    from firmware.drivers.pcf8574 import PCF8574

    return ExpanderRelays(PCF8574(bus, b["expander"]), b["relays"], b["active_low"])


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
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False
