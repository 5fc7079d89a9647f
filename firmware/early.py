"""First thing at every reset: the safe-mode button, relays to their off level, safe mode or not.
Importing it runs all that (boot.py does); main.py drops it once the app starts, so do not import it again."""
import machine
import micropython

import firmware

try:
    micropython.alloc_emergency_exception_buf(100)
except AttributeError:  # ports without hard IRQs (the unix port of the virtual board)
    pass

RELAYS = "relays.json"  # the relay wiring of the last good configuration (bringup.py writes it)
MAX_FAILED_BOOTS = 3
safe = None  # why the app is not started, or None


def relays_off(wiring):
    """Drive every relay to its off level: {"gpio": [[pin, off_level], ...]} or {"pcf": [scl, sda, addr, off_byte]}."""
    for pin, level in wiring.get("gpio", ()):
        machine.Pin(pin, machine.Pin.OUT, value=level)
    pcf = wiring.get("pcf")
    if pcf:
        try:
            machine.SoftI2C(scl=machine.Pin(pcf[0]), sda=machine.Pin(pcf[1])).writeto(pcf[2], bytes((pcf[3],)))
        except OSError:
            print("early: relay expander not answering at 0x%02x" % pcf[2])


def _webrepl():
    """WebREPL when a password is configured (webrepl_cfg.py, PASS = "..."): also in safe mode."""
    import os

    try:
        os.stat("webrepl_cfg.py")
    except OSError:
        return
    import webrepl

    webrepl.start()


def _start():
    global safe
    wiring = None
    try:
        import json

        with open(RELAYS) as f:
            wiring = json.load(f)
    except (OSError, ValueError):
        pass
    # The button is read before the relays are driven: on the seed wiring it shares GPIO0 with outlet 5.
    button = wiring.get("button") if wiring else 0
    held = button is not None and machine.Pin(button, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    if wiring:
        relays_off(wiring)
    failed = firmware.boot_count()  # counted by the app when it starts: a raw-REPL soft reset (mpremote) is no boot
    _webrepl()
    if held:
        safe = "the FLASH button was held at boot"
    elif failed >= MAX_FAILED_BOOTS:
        safe = "%d boots in a row failed within 60 s" % failed
    if safe:
        firmware.boot_count(0)
        print("multiprise: SAFE MODE (%s): app not started, outlets off, REPL free. Reset to try again." % safe)


_start()
del _start, _webrepl
