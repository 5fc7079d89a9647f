# ESP8266 `machine` on the virtual board: proxies to the bench, which holds every pin, bus and timer.
from _wire import Hw, go

PWRON_RESET, WDT_RESET, SOFT_RESET, DEEPSLEEP_RESET, HARD_RESET = 0, 1, 4, 5, 6


def _f(n):
    return lambda *a: go("f " + n, a, {})


def _k(n):
    return lambda *a, **kw: Hw(n, a, kw)


reset, reset_cause, unique_id, freq, idle = [_f(n) for n in ("reset", "reset_cause", "unique_id", "freq", "idle")]
Signal, SoftI2C, SoftSPI, ADC, WDT = [_k(n) for n in ("Signal", "SoftI2C", "SoftSPI", "ADC", "WDT")]
I2C = SoftI2C  # the ESP8266 has no I2C in hardware: machine.I2C is the bit-banged one


def SPI(*a, **kw):
    # As the ESP8266's (extmod/modmachine.h): no id, or -1, is the old way to a SoftSPI, with a warning.
    if not a or a[0] == -1:
        print("Warning: SPI(-1, ...) is deprecated, use SoftSPI(...) instead")
        return Hw("SoftSPI", a[1:], kw)
    return Hw("SPI", a, kw)
_rtc = Hw("RTC", (), {}, True)


def RTC():  # one object in ROM on the ESP8266: no heap for the firmware
    return _rtc


class _M:
    """machine.mem8, mem16, mem32: the registers the bench models (the GPIO ones), read on the bench."""

    def __init__(self, w):
        self.w = w

    def __getitem__(self, a):
        return go("f mem", (a, self.w), {})

    def __setitem__(self, a, v):
        go("f mem", (a, self.w, v), {})


mem8, mem16, mem32 = _M(1), _M(2), _M(4)


def soft_reset():
    raise SystemExit


_pins = {}  # the ESP8266's pins are objects in ROM: made here at start, with the shims, not on the firmware's heap


class Pin(Hw):
    """Like the ESP8266's static pin objects: Pin(n) is always the same object, re-initialised if asked."""

    IN, OUT, OPEN_DRAIN, PULL_UP = 0, 1, 2, 1

    def __new__(cls, n, *a, **kw):
        p = _pins.get(n)
        if p is None:
            p = object.__new__(cls)
            Hw.__init__(p, "Pin", (n,), {}, n in _pins)
            _pins[n] = p
        return p

    def __init__(self, n, *a, **kw):
        if a or kw:
            self.init(*a, **kw)

    def __call__(self, *a):
        return self.value(*a)


for _n in (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16):
    _pins[_n] = None
    Pin(_n)
del _n
