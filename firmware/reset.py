"""What a reset leaves, and a soft reset: the level each relay's pin is driven to, every relay off, the soft reset
that starts the app again with the outlets as they are. Loaded for a moment (at boot, at a stop) and dropped."""


def driven(pin):
    """The level GPIO pin is driven to, or None when it is not an output. The pins keep their level through a soft
    reset; a reset of the chip (power-on, the reset pin, the watchdog, machine.reset()) makes them inputs.
    Read from the ESP8266's registers: GPIO_OUT and GPIO_ENABLE for GPIO0-15, RTC_GPIO_OUT and RTC_GPIO_ENABLE
    for GPIO16 (machine.Pin has no way to ask)."""
    from machine import mem32

    out, enable, bit = (0x60000768, 0x60000774, 1) if pin == 16 else (0x60000300, 0x6000030C, 1 << pin)
    return (1 if mem32[out] & bit else 0) if mem32[enable] & bit else None


def restart():
    """A soft reset, as Ctrl-D typed at the REPL makes one once this returns to it: boot.py, then main.py (the app)
    on a fresh heap, the outlets kept (early.py). machine.soft_reset() from main.py would stop at the REPL on the
    ESP8266; the keys go into the REPL's own input instead, through a duplicate terminal, for a moment."""
    import io
    import os

    class Keys(io.IOBase):
        k = b"\x02\x04"  # Ctrl-B: to the friendly REPL (main.py may run from the raw one); Ctrl-D: soft reset

        def readinto(self, b):
            if not self.k:
                return None
            b[0], self.k = self.k[0], self.k[1:]
            return 1

        def write(self, b):
            return len(b)

    old = os.dupterm(Keys(), 0)
    try:
        os.dupterm_notify(None)
    finally:
        os.dupterm(old, 0)


def relays_off(wiring=None):
    """Drive every relay to its off level: {"gpio": [[pin, off_level], ...]} or {"pcf": [scl, sda, addr, off_byte]};
    None: the wiring of the last good configuration (relays.json), if there is one."""
    from machine import Pin, SoftI2C

    if wiring is None:
        import json

        try:
            with open("relays.json") as f:
                wiring = json.load(f)
        except (OSError, ValueError):
            return

    for pin, level in wiring.get("gpio", ()):
        Pin(pin, Pin.OUT, value=level)
    pcf = wiring.get("pcf")
    if pcf:
        try:
            SoftI2C(scl=Pin(pcf[0]), sda=Pin(pcf[1])).writeto(pcf[2], bytes((pcf[3],)))
        except OSError:
            print("relays: expander not answering at 0x%02x" % pcf[2])
