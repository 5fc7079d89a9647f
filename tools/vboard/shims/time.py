# ESP8266 `time` on the virtual board: ticks from the host; the wall clock (2000 epoch) is the bench's RTC.
import utime
from utime import sleep, sleep_ms, sleep_us, ticks_ms, ticks_us, ticks_cpu, ticks_add, ticks_diff  # noqa: F401 (the ESP8266 time API, re-exported)
from _wire import call


def time():
    return int(call("t"))


def time_ns():
    return int(call("T"))


def gmtime(t=None):
    return utime.gmtime((time() if t is None else int(t)) + 946684800)[:8]


localtime = gmtime


def mktime(t):
    return utime.mktime(tuple(t[:6]) + (0, 0)) - 946684800
