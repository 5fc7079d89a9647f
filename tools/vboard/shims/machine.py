# ESP8266 `machine` on the virtual board: proxies to the bench, which holds every pin, bus and timer.
# docs/esp8266-modules.md lists what a board has and which of it is here.
import _wire

PWRON_RESET, WDT_RESET, SOFT_RESET, DEEPSLEEP_RESET, HARD_RESET = 0, 1, 4, 5, 6
DEEPSLEEP = 4  # the wake ability machine.RTC's alarm gives (ports/esp8266/modmachine.c)


def _f(n):
    return lambda *a: _wire.go("f " + n, a, {})


def _k(n, **consts):
    # A class whose methods the bench answers; its constants are here, as a board has them in ROM.
    consts["__init__"] = lambda s, *a, **kw: _wire.Hw.__init__(s, n, a, kw)
    return type(n, (_wire.Hw,), consts)


reset, reset_cause, unique_id, idle, disable_irq, enable_irq = [
    _f(n) for n in ("reset", "reset_cause", "unique_id", "idle", "disable_irq", "enable_irq")]
Signal, SoftI2C, ADC, WDT = [_k(n) for n in ("Signal", "SoftI2C", "ADC", "WDT")]
SoftSPI = _k("SoftSPI", MSB=0, LSB=1)
I2C = SoftI2C  # the ESP8266 has no I2C in hardware: machine.I2C is the bit-banged one
_hz = 80000000  # the CPU clock: 80 MHz at every start


def freq(hz=None):
    global _hz
    if hz is None:
        return _hz
    if hz // 1000000 not in (80, 160):
        raise ValueError("frequency can only be either 80Mhz or 160MHz")
    _hz = hz // 1000000 * 1000000


def lightsleep(ms=None):
    # With the radio on, a board only waits (the SDK's events go on); with no time, 2^32 microseconds.
    import time

    time.sleep_ms(4294967 if ms is None else max(ms, 0))


sleep = lightsleep


class SPI(_wire.Hw):
    MSB, LSB = 0, 1

    def __new__(cls, *a, **kw):
        # As the ESP8266's (extmod/modmachine.h): no id, or -1, is the old way to a SoftSPI, with a warning.
        if not a or a[0] == -1:
            print("Warning: SPI(-1, ...) is deprecated, use SoftSPI(...) instead")
            return SoftSPI(*a[1:], **kw)
        return object.__new__(cls)

    def __init__(self, *a, **kw):
        _wire.Hw.__init__(self, "SPI", a, kw)


class RTC(_wire.Hw):
    ALARM0 = 0

    def __new__(cls):  # one object in ROM on the ESP8266: no heap for the firmware
        return _rtc

    def __init__(self):
        pass


_rtc = object.__new__(RTC)
_wire.Hw.__init__(_rtc, "RTC", (), {}, True)


class _M:
    """machine.mem8, mem16, mem32: the registers the bench models (the GPIO ones), read on the bench."""

    def __init__(self, w):
        self.w = w

    def __getitem__(self, a):
        return _wire.go("f mem", (a, self.w), {})

    def __setitem__(self, a, v):
        _wire.go("f mem", (a, self.w, v), {})


mem8, mem16, mem32 = _M(1), _M(2), _M(4)


def soft_reset():
    raise SystemExit


_pins = {}  # the ESP8266's pins are objects in ROM: made here at start, with the shims, not on the firmware's heap


class Pin(_wire.Hw):
    """Like the ESP8266's static pin objects: Pin(n) is always the same object, re-initialised if asked."""

    IN, OUT, OPEN_DRAIN, PULL_UP, IRQ_RISING, IRQ_FALLING = 0, 1, 2, 1, 1, 2

    def __new__(cls, n, *a, **kw):
        p = _pins.get(n)
        if p is None:
            p = object.__new__(cls)
            _wire.Hw.__init__(p, "Pin", (n,), {}, n in _pins)
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
