"""Relay banks: outlets on GPIO pins, or on a PCF8574 expander. set(i, on) is all the arbiter needs."""
from machine import Pin, Signal


class GpioRelays:
    def __init__(self, pins, active_low):
        self.s = [Signal(Pin(p, Pin.OUT, value=1 if low else 0), invert=low) for p, low in zip(pins, active_low)]

    def set(self, i, on):
        self.s[i].value(on)


class ExpanderRelays:
    def __init__(self, pcf, pins, active_low):
        self.pcf = pcf
        self.pins = pins
        self.low = active_low

    def set(self, i, on):
        self.pcf.pin(self.pins[i], bool(on) != self.low[i])
