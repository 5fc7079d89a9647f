# ESP8266 `machine` on the virtual board: proxies to the bench, which holds every pin, bus and timer.
from _wire import Hw, invoke

PWRON_RESET, WDT_RESET, SOFT_RESET, DEEPSLEEP_RESET, HARD_RESET = 0, 1, 4, 5, 6


def _f(name):
    return lambda *a: invoke("f " + name, a, {})


def _kind(name):
    return lambda *a, **kw: Hw(name, a, kw)


reset, reset_cause, unique_id, freq, idle, disable_irq, enable_irq = [
    _f(n) for n in ("reset", "reset_cause", "unique_id", "freq", "idle", "disable_irq", "enable_irq")]
Signal, SoftI2C, I2C, SoftSPI, SPI, ADC, RTC, WDT, Timer = [
    _kind(n) for n in ("Signal", "SoftI2C", "I2C", "SoftSPI", "SPI", "ADC", "RTC", "WDT", "Timer")]


def soft_reset():
    raise SystemExit


class Pin(Hw):
    IN, OUT, OPEN_DRAIN, PULL_UP, IRQ_RISING, IRQ_FALLING = 0, 1, 2, 1, 1, 2

    def __init__(self, *a, **kw):
        Hw.__init__(self, "Pin", a, kw)

    def __call__(self, *a):
        return self.value(*a)
