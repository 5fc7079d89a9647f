"""Relay banks: outlets on GPIO pins, or on a PCF8574 expander. set(i, on) is all the arbiter needs."""
from machine import Pin


class GpioRelays:
    def __init__(self, pins, active_low):
        self.pins = [Pin(p, Pin.OUT, value=1 if low else 0) for p, low in zip(pins, active_low)]
        self.low = active_low

    def set(self, i, on):
        self.pins[i].value(bool(on) != self.low[i])


class ExpanderRelays:
    def __init__(self, pcf, pins, active_low):
        self.pcf = pcf
        self.pins = pins
        self.low = active_low

    def set(self, i, on):
        self.pcf.pin(self.pins[i], bool(on) != self.low[i])
