# ESP8266 `machine` on the virtual board: proxies to the bench, which holds every pin, bus and timer.
from _wire import Hw, go

PWRON_RESET, WDT_RESET, SOFT_RESET, DEEPSLEEP_RESET, HARD_RESET = 0, 1, 4, 5, 6


def _f(n):
    return lambda *a: go("f " + n, a, {})


def _k(n):
    return lambda *a, **kw: Hw(n, a, kw)


reset, reset_cause, unique_id, freq, idle = [_f(n) for n in ("reset", "reset_cause", "unique_id", "freq", "idle")]
Signal, SoftI2C, I2C, SoftSPI, SPI, ADC, RTC, WDT = [
    _k(n) for n in ("Signal", "SoftI2C", "I2C", "SoftSPI", "SPI", "ADC", "RTC", "WDT")]


def soft_reset():
    raise SystemExit


_pins = {}


class Pin(Hw):
    """Like the ESP8266's static pin objects: Pin(n) is always the same object, re-initialised if asked."""

    IN, OUT, OPEN_DRAIN, PULL_UP = 0, 1, 2, 1

    def __new__(cls, n, *a, **kw):
        p = _pins.get(n)
        if p is None:
            p = _pins[n] = object.__new__(cls)
            Hw.__init__(p, "Pin", (n,), {})
        return p

    def __init__(self, n, *a, **kw):
        if a or kw:
            self.init(*a, **kw)

    def __call__(self, *a):
        return self.value(*a)
