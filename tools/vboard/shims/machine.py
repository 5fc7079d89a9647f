# ESP8266 `machine` on the virtual board: proxies to the bench, which holds every pin, bus and timer.
# docs/esp8266-modules.md lists what a board has and which of it is here.
import _wire
import time as _time  # the shim: its ticks_us is swapped while a handler runs

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
_h = [None] * 16  # each pin's handler (Pin.irq): the port's root pointers
_b = bytearray(9 * 64 + 1)  # a batch of edges from the bench: 64 at most (bench.EDGES_AT_ONCE), 9 bytes each
_in = False  # the handlers are running
_at = 0  # time.ticks_us() of the edge whose handler runs
_us = _time.ticks_us
_m = _time.ticks_add(0, -1)  # ticks wrap at this + 1: 2**30 (a 32-bit build, the ESP8266) or 2**62 (64-bit)


def _ticks_us():
    return _at


def _irq():
    # The pins' edges since the last call into the bench (bench._edges): each handler called with its pin, in
    # the edges' order, and time.ticks_us() in it is its edge's instant. A board schedules the handler at the edge
    # (machine_pin.c: soft IRQs only, a queue of 4) and runs it at the next bytecode; here it runs at the next call
    # the firmware makes into the bench. A call a handler makes gets its answer, not more edges (_in).
    global _in, _at
    if _in:
        return
    _in = True
    b = _b
    try:
        while _wire.pend:
            _wire.pend = False
            c = int(_wire.call("e")[1:])
            _wire.s.readinto(b, 9 * c + 1)
            for i in range(0, 9 * c, 9):
                h = _h[b[i] - 65]
                if h:  # its ticks: 48 bits, 6 a digit; the upper 18 only where they fit a small int
                    _at = (b[i + 1] - 48) | (b[i + 2] - 48) << 6 | (b[i + 3] - 48) << 12 | (
                        b[i + 4] - 48) << 18 | (b[i + 5] - 48) << 24
                    if _m >> 30:
                        _at = (_at | ((b[i + 6] - 48) | (b[i + 7] - 48) << 6 | (b[i + 8] - 48) << 12) << 30) & _m
                    _time.ticks_us = _ticks_us
                    try:
                        h(_pins[b[i] - 65])
                    except Exception as e:  # as mp_sched's protected call: said, and the next one runs
                        import sys

                        sys.print_exception(e)
                    _time.ticks_us = _us
    finally:
        _time.ticks_us = _us
        _in = False


_wire.irq = _irq


class IRQ:
    """A pin's irq object (ports/esp8266/machine_pin.c, static there): call it to run the handler, trigger() to
    read or set its triggers."""

    def __init__(self, n):
        self.n = n

    def __call__(self):
        if _h[self.n]:
            _h[self.n](_pins[self.n])

    def trigger(self, *a):
        return _wire.go("f trigger", (self.n,) + a, {})


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

    def irq(self, *a, **kw):
        # The bench checks the arguments and watches the pin for the trigger; the handler stays here (_irq).
        c = bool(a or kw)  # with no argument, the irq object only
        h = kw.pop("handler", a[0] if a else None)
        n = _wire.go("%d irq" % self._i(), (h is not None,) + a[1:], dict(kw, configure=c))
        if c:
            _h[n] = h
        return _irqs[n]


_irqs = {}
for _n in (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16):
    _pins[_n] = None
    Pin(_n)
    _irqs[_n] = IRQ(_n)
del _n, IRQ  # the type's name is the port's; machine has no IRQ of its own
