"""HLW8012 and BL0937 single-phase metering chips, read through their pulse outputs: CF pulses at a rate
proportional to the active power (each pulse a quantum of energy), CF1 at a rate proportional to the rms current or
the rms voltage, as the SEL input chooses (the BL0937 reads SEL the other way round from the HLW8012).

Pin interrupts count the pulses and note their instants: small ints only, no allocation, no float (they may run
between any two bytecodes of the rest). read() gives what ADE7953.read gives, in the chip's terms: the voltage's,
current's and power's frequencies in mHz, the power factor (from those and the scale), 0 for the mains period
(unknown), CF's pulses since the last read as the energy. The power is CF's rate from the last pulse before the
last read to the last one now (a period measure, exact to the tick); with no pulse since, at most one pulse over
the time since the last one (falling towards 0), and 0 after _IDLE_US. CF1 gives the voltage and the current in
turn, a read each: after SEL switches its output is wrong while the chip's rms settles (its datasheet says so), so
a window opens _SETTLE_US later and closes at the next read. Either chip gives CF1 pulses for the voltage whatever
the load (this board is powered from the same mains): a voltage window without one means a dead or unwired chip,
OSError; zero load and a dead chip give the same silent CF, so CF1 is what tells them apart."""
import time

from micropython import const

_MASK = const(0x3FFFFFFF)  # CF's count wraps as ticks do: a small int on the chip
_SETTLE_US = const(200000)  # CF1 after a switch of SEL: not counted this long
_WINDOW_US = const(300000)  # a window shorter than this after settling stays open (two reads close together)
_IDLE_US = const(10000000)  # no CF pulse for 10 s: no power (about 1 W on the HLW8012's typical front end)
_FAR = const(0x1FFFFFFF)  # a window's end while it is open: the furthest ticks_diff can see
_RISING = const(1)  # Pin.IRQ_RISING
_ENODEV = const(19)


class HLW8012:
    def __init__(self, cf, cf1, sel, scale, bl0937=False):
        """cf, cf1: input Pins; sel: an output Pin; scale: meter.scale, counts per V, A, W (the power factor's),
        read at each read (calibrate changes it in place)."""
        self.pins = (cf, cf1, sel)
        self.scale = scale
        self.volts = int(bl0937)  # SEL's level for the voltage: low on the HLW8012, high on the BL0937
        # the handlers': CF's pulses and the last one's instant; CF1's window: pulses, first and last instant, opens,
        # closes
        self.p = [0, 0, 0, 0, 0, 0, 0]
        # read's: CF's count and last instant at the last read, whether it had one, the power (mHz); the voltage's
        # and current's frequencies (mHz); SEL's level; when the window opened; when read last
        self.q = [0, 0, 0, 0, 0, 0, 0, 0, 0]

    def start(self):
        cf, cf1, sel = self.pins
        q = self.q
        q[6] = self.volts ^ 1
        q[8] = time.ticks_us()
        self._switch(q[8])
        cf.irq(self._cf, _RISING)
        cf1.irq(self._cf1, _RISING)

    def stop(self):
        """No more interrupts (the app stopped)."""
        for pin in self.pins[:2]:
            pin.irq(None)

    def _switch(self, now):
        """SEL to the other quantity, its window open once it settled: the frequency (mHz) of the window closed,
        0 with fewer than two pulses."""
        p, q = self.p, self.q
        p[6] = now  # CF1's pulses from now on are the other quantity's, settling
        q[6] ^= 1
        self.pins[2](q[6])  # on the virtual board, the pulses up to now reach the handlers here
        n, a, b = p[2], p[3], p[4]
        p[2] = 0
        p[5] = q[7] = time.ticks_add(now, _SETTLE_US)
        p[6] = time.ticks_add(now, _FAR)
        return int((n - 1) * 1e9 / time.ticks_diff(b, a)) if n > 1 else 0

    def _cf(self, _):
        p = self.p
        p[1] = time.ticks_us()
        p[0] = (p[0] + 1) & _MASK

    def _cf1(self, _):
        p = self.p
        t = time.ticks_us()
        if time.ticks_diff(t, p[5]) >= 0 and time.ticks_diff(t, p[6]) < 0:
            if not p[2]:
                p[3] = t
            p[4] = t
            p[2] += 1

    def read(self, r):
        """Into the list r: the voltage's, current's and power's frequencies (mHz), the power factor (32768 is 1),
        0 (the mains period: unknown), CF's pulses since the last read. True; OSError when CF1 gave no pulse over a
        whole window on the voltage (the chip dead or not there): the pulses stay for the next read."""
        p, q = self.p, self.q
        now = time.ticks_us()
        dead = False
        if time.ticks_diff(now, q[7]) >= _WINDOW_US:
            v = q[6] == self.volts
            f = q[4 if v else 5] = self._switch(now)
            dead = v and not f
        while True:  # CF's count and instant as one pair: a handler may run between two reads
            c, t = p[0], p[1]
            if c == p[0]:
                break
        if dead:
            raise OSError(_ENODEV)
        d = (c - q[0]) & _MASK
        if d:
            was = time.ticks_diff(t, q[1])  # since the last pulse before: d periods
            q[3] = int(d * 1e9 / max(was if q[2] else time.ticks_diff(t, q[8]), 1))
            q[0], q[1], q[2] = c, t, 1
        else:
            was = time.ticks_diff(now, q[1])
            q[2] = q[2] and 0 < was < _IDLE_US  # an old pulse is forgotten long before ticks wrap (9 minutes)
            q[3] = min(q[3], int(1e9 / was)) if q[2] else 0
        q[8] = now
        s = self.scale
        r[0], r[1], r[2], r[4], r[5] = q[4], q[5], q[3], 0, d
        r[3] = min(32768, int(32768 * q[3] * s[0] * s[1] / (s[2] * q[4] * q[5]))) if q[4] and q[5] else 32768
        return True
