"""The strip's mains side on the bench: the supply, each outlet's load, what flows through the closed relays, and the
energy each outlet really took, the truth a metering chip's reading is judged against.

A load is its active power (W) and power factor when its outlet is on; the currents of the loads on add as phasors
(active powers add, and so do reactive ones, V * I * sin(acos(pf)) each), so the strip's power factor is the total
active power over the total apparent. The energy is integrated exactly between changes: sync() adds each closed
outlet's power times the time since the last change. Before anything changes (a relay, a load, the voltage), the
listeners (a chip's sync) are called first, so that the time before the change counts at the old values in both.
`clock` is monotonic seconds."""

import math
import threading
import time


class Mains:
    def __init__(self, outlets, volts=230.0, hz=50.0, clock=time.monotonic):
        self.clock = clock
        self.volts = volts
        self.hz = hz
        self.loads = [(0.0, 1.0)] * outlets  # (watts, power factor) of what is plugged into each outlet
        self.closed = [False] * outlets
        self.listeners = []  # called before a change, with no argument
        self._joules = [0.0] * outlets
        self._t = clock()
        self._lock = threading.RLock()

    def sync(self):
        """Count the energy up to now."""
        with self._lock:
            now = self.clock()
            dt, self._t = now - self._t, now
            for i, on in enumerate(self.closed):
                if on:
                    self._joules[i] += self.loads[i][0] * dt

    def _change(self):
        for fn in self.listeners:
            fn()
        self.sync()

    def switch(self, i, on):
        """Outlet i (from 0) gets power, or loses it (its relay)."""
        with self._lock:
            if self.closed[i] != on:
                self._change()
                self.closed[i] = on

    def set_load(self, i, watts, pf=1.0):
        """What outlet i (from 0) draws when on: watts (active power) at power factor pf (0 < pf <= 1)."""
        if watts < 0 or not 0 < pf <= 1:
            raise ValueError("a load takes watts >= 0 at a power factor in (0, 1]")
        with self._lock:
            self._change()
            self.loads[i] = (float(watts), float(pf))

    def set_volts(self, volts):
        with self._lock:
            self._change()
            self.volts = float(volts)

    def watts(self, i=None):
        """Active power now, of outlet i (from 0) or of the strip."""
        with self._lock:
            return sum(w for k, (w, _) in enumerate(self.loads) if self.closed[k] and i in (None, k))

    def joules(self, i=None):
        """The energy taken since the bench was made, by outlet i (from 0) or by the strip."""
        with self._lock:
            self.sync()
            return self._joules[i] if i is not None else sum(self._joules)

    def measure(self):
        """The truth as a metering chip's model takes it (tools/vboard/ade7953.py): its current channel A carries
        the whole strip."""
        with self._lock:
            p = q = 0.0
            for on, (w, pf) in zip(self.closed, self.loads, strict=True):
                if on and w:
                    p += w
                    q += w * math.tan(math.acos(pf))
            s = math.hypot(p, q)
            return {"volts": self.volts, "amps_a": s / self.volts if self.volts else 0.0,
                    "pf_a": p / s if s else 1.0, "hz": self.hz}
