"""First thing at every reset: relays to their off level (kept as they are at a soft reset), the safe-mode button,
safe mode or not.
Importing it runs all that (boot.py does); main.py drops it once the app starts, so do not import it again."""
import machine
import micropython

import firmware
from micropython import const

try:
    micropython.alloc_emergency_exception_buf(100)
except AttributeError:  # ports without hard IRQs (the unix port of the virtual board)
    pass

_RELAYS = const("relays.json")  # the relay wiring of the last good configuration (bringup.py writes it)
_MAX_FAILED_BOOTS = const(3)
safe = None  # why the app is not started, or None


def _webrepl():
    """WebREPL when a password is configured (webrepl_cfg.py, PASS = "..."): also in safe mode."""
    import os

    try:
        os.stat("webrepl_cfg.py")
    except OSError:
        return
    import webrepl

    webrepl.start()


def _warm(wiring):
    """True when the relays are as the app left them, to be kept: no power lost since the app started (RTC memory
    holds its mark: firmware.boot_count) and, on GPIO, every relay's pin still driven (a soft reset: a reset of the
    chip makes them inputs). An expander keeps its outputs through every reset of the ESP8266."""
    if machine.RTC().memory()[:2] != b"mp":
        return False
    from firmware.reset import driven

    return all(driven(p) is not None for p, _ in wiring.get("gpio", ()))


def _start():
    global safe
    wiring = None
    try:
        import json

        with open(_RELAYS) as f:
            wiring = json.load(f)
    except (OSError, ValueError):
        pass
    warm = bool(wiring) and _warm(wiring)
    # The button is read before the relays are driven: on the seed wiring it shares GPIO0 with outlet 5. Not at a
    # soft reset: reading it would make outlet 5's pin an input.
    button = wiring.get("button") if wiring else 0
    held = not warm and button is not None and machine.Pin(button, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    failed = firmware.boot_count()  # app starts that ended in a crash or a reset (app.run, bringup.stop)
    if held:
        safe = "the FLASH button was held at boot"
    elif failed >= _MAX_FAILED_BOOTS:
        safe = "%d boots in a row failed within 60 s" % failed
    firmware.warm = warm and not safe
    if wiring and not firmware.warm:
        from firmware import reset

        reset.relays_off(wiring)
    firmware.drop("reset")
    _webrepl()
    if safe:
        firmware.boot_count(0)
        print("multiprise: SAFE MODE (%s): app not started, outlets off, REPL free. Reset to try again." % safe)

_start()
del _start, _webrepl
