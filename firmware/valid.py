"""config.json is checked once: the validator's normalized result is kept in config.valid.json with the SHA-256 of
the config.json it came from. This module is small, so that main.py can tell whether config.json changed before the
app is loaded: the validator is big, and a changed configuration is checked on a heap with nothing else on it."""
import json

import firmware
from firmware.log import log
from micropython import const

CONFIG = "config.json"
VALID = "config.valid.json"
# The shape of the normalized configuration: one kept in another shape (older firmware) is checked again.
_FORM = const(4)
# Bump it with every key the validator adds, renames or removes.


def sha():
    """The SHA-256 (hex) of config.json, or None when there is none."""
    import hashlib
    from binascii import hexlify

    try:
        with open(CONFIG, "rb") as f:
            return hexlify(hashlib.sha256(f.read()).digest()).decode()
    except OSError:
        return None


def cached(s):
    """{"sha", "form", "cfg", "warnings"} kept for the config.json whose SHA-256 is s, by this validator, or None."""
    try:
        with open(VALID) as f:
            c = json.load(f)
        return c if s and c.get("sha") == s and c.get("form") == _FORM else None
    except (OSError, ValueError):
        return None


def check(s):
    """Validate config.json: (cfg, errors, warnings); a valid one is kept (atomically) for the next boots."""
    import os

    from firmware import config

    c, errors, warnings = config.load(CONFIG)
    firmware.drop("config", "rules", "mqttconf", "webconf", "meterconf")
    if c:
        with open(VALID + ".tmp", "w") as f:
            json.dump({"sha": s, "form": _FORM, "cfg": c, "warnings": warnings}, f)
        os.rename(VALID + ".tmp", VALID)
    return c, errors, warnings


def report(errors, warnings):
    """Log what is wrong; True when the configuration can be used."""
    for w in warnings:
        log("config: warning:", w)
    for e in errors:
        log("config: error:", e)
    if errors:
        from firmware import reset

        reset.relays_off()  # a soft reset kept them as they were
        firmware.drop("reset")
        log("config: %d error(s) in config.json: SAFE STATE: outlets off, app not started, REPL free." % len(errors))
    return not errors


def boot():
    """At boot, before the app: True to start it. A changed, valid config.json is applied by a soft reset (the
    validator leaves the heap in pieces); a broken one leaves the board in the safe state."""
    import machine

    s = sha()
    if cached(s):
        return True
    try:
        c, errors, warnings = check(s)
    except MemoryError:  # a boot of its own, in one piece, has room: a reset (early.py counts failed boots)
        firmware.boot_count(firmware.boot_count() + 1)
        log("config: not enough memory to check config.json just now: restarting")
        machine.reset()
        return False
    if report(errors, warnings):  # a soft reset: a fresh heap for the app, the outlets kept
        log("config: config.json changed (or the firmware did) and is valid; restarting to apply it")
        from firmware import reset

        reset.restart()
    return False
