"""The command interface: a line of text in, a reply out. The serial console and the REPL helpers speak it."""
import gc
import time

import machine

from firmware import app

HELP = "commands: on N|all, off N|all, toggle N|all, status, log, scan, rtc, reboot, help"
CHIPS = ((0x20, 0x27, "PCF8574"), (0x24, 0x24, "PN532"), (0x28, 0x2F, "MFRC522"), (0x38, 0x3F, "PCF8574A"),
         (0x57, 0x57, "AT24C32 EEPROM"), (0x68, 0x68, "DS3231/DS1307 RTC"))


def run(line, source="serial"):
    words = line.split()
    if not words:
        return ""
    cmd, args = words[0].lower(), words[1:]
    o = app.outlets
    if cmd in ("on", "off", "toggle"):
        which = _outlets(args, len(o))
        if which is None:
            return "error: usage: %s N|all, with N from 1 to %d" % (cmd, len(o))
        for i in which:
            o.wish(i, not o.want[i] if cmd == "toggle" else cmd == "on", source)
        return "\n".join(_line(i) for i in which)
    if cmd == "status":
        return status()
    if cmd == "log":
        from firmware.log import ring

        return "\n".join(ring)
    if cmd == "scan":
        return scan()
    if cmd == "rtc":
        return rtc()
    if cmd == "reboot":
        machine.reset()
    if cmd == "help":
        return HELP
    return "error: unknown command %r; %s" % (cmd, HELP)


def _outlets(args, n):
    if len(args) != 1:
        return None
    if args[0] == "all":
        return range(n)
    try:
        i = int(args[0])
    except ValueError:
        return None
    return (i - 1,) if 1 <= i <= n else None


def _line(i):
    o = app.outlets
    return "%d %s: %s (%s)" % (i + 1, o.names[i], "on" if o.on[i] else "off", o.reason(i))


def status():
    from firmware import VERSION, wifi

    t = time.localtime()
    up = time.ticks_ms() // 1000
    head = "%s %s: up %dh%02dm%02ds, heap %d free (min %d), wifi %s, time %04d-%02d-%02d %02d:%02d:%02d UTC" % (
        app.cfg["name"], VERSION, up // 3600, up // 60 % 60, up % 60, gc.mem_free(), app.stats["heap_min"],
        wifi.state, t[0], t[1], t[2], t[3], t[4], t[5])
    if app.outlets.fault:
        head += "\nfault: " + app.outlets.fault
    return "\n".join([head] + [_line(i) for i in range(len(app.outlets))])


def scan():
    if not app.bus:
        return "error: no I2C bus configured"
    found = app.bus.scan()
    if not found:
        return "I2C: no device answers (check wiring and pull-ups)"
    return "\n".join("I2C 0x%02x %s" % (a, "".join(n for lo, hi, n in CHIPS if lo <= a <= hi) or "?") for a in found)


def rtc():
    if not app.rtc:
        return "error: no RTC chip configured"
    try:
        t = app.rtc.datetime()
        lost = app.rtc.lost()
        temp = app.rtc.temperature() if app.rtc.temperature else None
    except OSError as e:
        return "error: RTC chip not answering (%r)" % e
    s = "RTC %s: %04d-%02d-%02d %02d:%02d:%02d, %s" % (app.cfg["board"]["rtc"], t[0], t[1], t[2], t[3], t[4], t[5],
                                                        "TIME LOST (oscillator stopped): not trusted" if lost else "running")
    return s if temp is None else s + ", %.2f C" % temp
