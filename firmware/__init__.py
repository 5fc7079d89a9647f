"""The multiprise firmware: a MicroPython application for a 6-outlet ESP8266 power strip."""
VERSION = "0.1.0"
warm = False  # early.py: the relays were found as the app left them (a soft reset), and are kept


def drop(*names):
    """Forget modules loaded for a moment (e.g. "config", "drivers.ds3231"), so their code leaves the heap:
    the parent package holds a reference too."""
    import sys

    for name in names:
        parent, _, leaf = ("firmware." + name).rpartition(".")
        sys.modules.pop(parent + "." + leaf, None)
        if parent in sys.modules:
            sys.modules[parent].__dict__.pop(leaf, None)


def boot_count(value=None):
    """App starts in a row that did not stay up 60 s (in RTC memory: survives resets, not power cuts). Its first 3
    bytes: what follows is meter.py's."""
    import machine

    rtc = machine.RTC()
    m = rtc.memory()
    if value is not None:
        rtc.memory(b"mp" + bytes((min(value, 255),)) + m[3:])
        return value
    return m[2] if len(m) > 2 and m[:2] == b"mp" else 0
