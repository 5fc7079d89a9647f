# ESP8266 `time` on the virtual board: ticks from the host; the wall clock (2000 epoch) is the bench's RTC.
from utime import sleep, sleep_ms, sleep_us, ticks_ms, ticks_us, ticks_cpu, ticks_add, ticks_diff  # noqa: F401 (the ESP8266 time API, re-exported)
import utime as _t
import _wire


def time():
    return int(_wire.call("t"))


def time_ns():
    return int(_wire.call("T"))


def gmtime(t=None):
    return _t.gmtime((time() if t is None else int(t)) + 946684800)[:8]


localtime = gmtime


def mktime(t):
    return _t.mktime(tuple(t[:6]) + (0, 0)) - 946684800
