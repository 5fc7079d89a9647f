"""The strip's mains side on the bench: the supply, each outlet's load, what flows through the closed relays, and the
energy each outlet really took, the truth a metering chip's reading is judged against.

A load is its active power (W) and power factor when its outlet is on; the currents of the loads on add as phasors
(active powers add, and so do reactive ones, V * I * sin(acos(pf)) each), so the strip's power factor is the total
active power over the total apparent. A load may also have
    noise       its power wanders around its rating: each NOISE_S seconds a new value, uniform within +-noise of
                it (relative), drawn from a random.Random seeded by `seed`, the outlet and the step, so that the
                same seed gives the same powers at the same instants;
    off_after   a kettle: its own thermostat switches it off after that many seconds on, the relay staying closed
                (0 W while the outlet is on); it heats again only once its outlet is switched off and on;
    inrush      and inrush_ms: for that many ms after it starts it draws inrush times its power (a motor, a power
                supply's capacitors charging).
A load starts when its relay closes, or when it is plugged into an outlet already on (set_load).

So the power is a step function of time: it changes at the changes the bench makes (a relay, a load, the voltage)
and at instants of the loads' own (a noise step, a thermostat, the end of an inrush) that are known in advance. The
energy is integrated exactly between them: sync() splits the time since the last sync at the loads' own instants
and adds each closed outlet's power over each piece. A metering chip's model integrates the same pieces
(pieces(t0, t1): the truth over each), so the chip and the truth count the same function of time whenever each of
them syncs. Before the bench changes anything, the listeners (a chip's sync) are called first, so that the time
before the change counts at the old values in both. `clock` is monotonic seconds; the chip's must be the same."""

import math
import random
import threading
import time
from itertools import pairwise
from typing import NamedTuple

NOISE_S = 1.0  # a noisy load's power changes this often


class Load(NamedTuple):
    watts: float
    pf: float = 1.0
    noise: float = 0.0
    off_after: float | None = None
    inrush: float = 1.0
    inrush_ms: float = 0.0


class Mains:
    def __init__(self, outlets, volts=230.0, hz=50.0, clock=time.monotonic, seed=230):
        self.clock = clock
        self.volts = volts
        self.hz = hz
        self.seed = seed
        self.loads = [Load(0.0)] * outlets  # what is plugged into each outlet
        self.closed = [False] * outlets
        self.since = [0.0] * outlets  # when each outlet's load started: its relay closed or it was plugged in
        self.listeners = []  # called before a change, with no argument
        self._joules = [0.0] * outlets
        self._t = clock()
        self._lock = threading.RLock()

    def sync(self):
        """Count the energy up to now."""
        with self._lock:
            now = self.clock()
            for start, end, mid in self._spans(self._t, now):
                for i, on in enumerate(self.closed):
                    if on:
                        self._joules[i] += self._power(i, mid) * (end - start)
            self._t = now

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
                self.since[i] = self._t

    def set_load(self, i, watts, pf=1.0, noise=0.0, off_after=None, inrush=1.0, inrush_ms=0.0):
        """What outlet i (from 0) draws when on: watts (active power) at power factor pf (0 < pf <= 1); noise,
        off_after, inrush and inrush_ms as the module says (their defaults: none)."""
        if watts < 0 or not 0 < pf <= 1:
            raise ValueError("a load takes watts >= 0 at a power factor in (0, 1]")
        if not 0 <= noise < 1 or (off_after is not None and off_after < 0) or inrush < 0 or inrush_ms < 0:
            raise ValueError("a load's noise is in [0, 1), its off_after, inrush and inrush_ms >= 0")
        with self._lock:
            self._change()
            self.loads[i] = Load(float(watts), float(pf), float(noise),
                                 None if off_after is None else float(off_after), float(inrush), float(inrush_ms))
            self.since[i] = self._t

    def set_volts(self, volts):
        with self._lock:
            self._change()
            self.volts = float(volts)

    def watts(self, i=None):
        """Active power now, of outlet i (from 0) or of the strip."""
        with self._lock:
            now = self.clock()
            return sum(self._power(k, now) for k in range(len(self.loads)) if i in (None, k))

    def joules(self, i=None):
        """The energy taken since the bench was made, by outlet i (from 0) or by the strip."""
        with self._lock:
            self.sync()
            return self._joules[i] if i is not None else sum(self._joules)

    def measure(self, at=None):
        """The truth as a metering chip's model takes it (tools/vboard/ade7953.py), now or at the instant `at`
        (between the last change the bench made and now): its current channel A carries the whole strip."""
        with self._lock:
            t = self.clock() if at is None else at
            p = q = 0.0
            for i, load in enumerate(self.loads):
                w = self._power(i, t)
                if w:
                    p += w
                    q += w * math.tan(math.acos(load.pf))
            s = math.hypot(p, q)
            return {"volts": self.volts, "amps_a": s / self.volts if self.volts else 0.0,
                    "pf_a": p / s if s else 1.0, "hz": self.hz}

    def pieces(self, t0, t1):
        """The time from t0 to t1 cut where a load changes by itself: [(seconds, measure() over them), ...]."""
        with self._lock:
            return [(end - start, self.measure(mid)) for start, end, mid in self._spans(t0, t1)]

    # inside

    def _spans(self, t0, t1):
        """(start, end, middle) of each piece of [t0, t1] over which no load changes by itself."""
        cuts = sorted({t for i in range(len(self.loads)) for t in self._instants(i, t0, t1)})
        edges = [t0, *cuts, t1]
        return [(a, b, (a + b) / 2) for a, b in pairwise(edges) if b > a]

    def _ends(self, i):
        """When outlet i's load stops drawing (its thermostat), and when its inrush ends (None: never)."""
        load, t0 = self.loads[i], self.since[i]
        off = None if load.off_after is None else t0 + load.off_after
        inrush = t0 + load.inrush_ms / 1000 if load.inrush_ms and load.inrush != 1 else None
        return off, inrush

    def _instants(self, i, t0, t1):
        """The instants strictly between t0 and t1 at which outlet i's load changes by itself."""
        if not self.closed[i]:
            return []
        load, start = self.loads[i], self.since[i]
        off, inrush = self._ends(i)
        out = [t for t in (off, inrush) if t is not None and t0 < t < t1]
        if load.noise and load.watts:
            end = t1 if off is None else min(t1, off)
            k = max(1, self._step(i, t0) + 1)  # the first step after t0
            while start + k * NOISE_S < end:
                out.append(start + k * NOISE_S)
                k += 1
        return out

    def _step(self, i, t):
        """The number of noise steps outlet i's load has taken at instant t: the k with start + k * NOISE_S <= t
        < start + (k + 1) * NOISE_S (the same sums as _instants, so the two agree at every instant)."""
        start = self.since[i]
        k = math.floor((t - start) / NOISE_S)
        if start + (k + 1) * NOISE_S <= t:
            k += 1
        elif start + k * NOISE_S > t:
            k -= 1
        return k

    def _power(self, i, t):
        """Outlet i's active power at instant t, as things are now."""
        if not self.closed[i]:
            return 0.0
        load = self.loads[i]
        off, inrush = self._ends(i)
        if off is not None and t >= off:
            return 0.0
        w = load.watts
        if load.noise:
            k = max(self._step(i, t), 0)
            w *= 1 + random.Random(self.seed * 1_000_003 + i * 1_000_000_007 + k).uniform(-load.noise, load.noise)
        if inrush is not None and t < inrush:
            w *= load.inrush
        return w
