"""Model of the HLW8012 and BL0937 single-phase metering chips on the bench: their pulse outputs, driving three of the
board's pins.

    CF    pulses at a frequency proportional to the active power: each pulse is a fixed quantum of energy;
    CF1   pulses at a frequency proportional to the rms current or the rms voltage, as the SEL input chooses:
          HLW8012 SEL high gives the current, low the voltage; the BL0937 is the other way round;
    SEL   an input of the chip, an output of the board.

The transfer functions (HLW8012 datasheet; BL0937 datasheet V1.01), with V1 the current channel's input (the
shunt's voltage, V rms) and V2 the voltage channel's (the divider's output, V rms):
    HLW8012 (Fosc 3.579 MHz, Vref 2.43 V)   F_CF = 48 V1 V2 / Vref^2 * Fosc / 128
                                            F_CF1 = 24 V1 / Vref * Fosc / 512 (current), 2 V2 / Vref * Fosc / 512
    BL0937 (Vref 1.218 V)                   F_CF = 1721506 V1 V2 / Vref^2
                                            F_CF1 = 94638 V1 / Vref (current), 15397 V2 / Vref (voltage)
The bench's front end is the datasheets' typical application: a 1 mOhm shunt and a 2351:1 divider (five 470 kOhm
resistors over 1 kOhm). So an HLW8012 gives 0.0967 Hz per W (348 pulses per Wh), 69.0 Hz per A, 2.45 Hz per V;
a BL0937 0.494 Hz per W, 77.7 Hz per A, 5.38 Hz per V (PER_WATT, PER_AMP, PER_VOLT: these are the firmware's
default scales, meterconf.py). A load's active power is what CF counts, its power factor included.

The HLW8012's outputs are square waves of 50 % duty (a rising edge at each whole period, a falling one at each
half); the BL0937's are pulses of PULSE_S high (38 us) at each period (unverified: the datasheet's revision note
says the pulse width was changed, the pulses are narrow). CF integrates the same truth as the bench's energy
(mains.pieces: each piece at its own power), its fraction of a pulse carried, so that its rising edges count
the energy to one pulse. The chip's own jitter moves each edge by up to `jitter` seconds either way (the count is
not changed); CF1's frequency carries a noise of +-`noise` (relative), a new draw at each of its pulses, from
random.Random(`seed`). After SEL changes, CF1 keeps giving the old quantity for SETTLE_S (the chip's rms filter
takes that long to settle, unverified): a reading of it then is wrong, as the datasheet warns.

`edges()` gives the edges since it was last called, [(monotonic seconds, gpio, level)], in time order. stop()
silences the chip (its outputs stay low: a dead chip, a loose wire) until start()."""

import random
import time

# the front end: 1 mOhm shunt, divider 2351:1
SHUNT = 0.001
DIVIDER = 2351.0
PULSE_S = 38e-6  # BL0937's pulse width
SETTLE_S = 0.1  # CF1 after a change of SEL


def _transfer(bl0937):
    """(Hz per W, Hz per A, Hz per V) of the chip behind the bench's front end."""
    v1, v2 = SHUNT, 1 / DIVIDER  # per A, per V
    if bl0937:
        ref = 1.218
        return 1721506 * v1 * v2 / ref**2, 94638 * v1 / ref, 15397 * v2 / ref
    ref, osc = 2.43, 3.579e6
    return 48 * v1 * v2 / ref**2 * osc / 128, 24 * v1 / ref * osc / 512, 2 * v2 / ref * osc / 512


PER_WATT, PER_AMP, PER_VOLT = {}, {}, {}
for _kind in ("hlw8012", "bl0937"):
    PER_WATT[_kind], PER_AMP[_kind], PER_VOLT[_kind] = _transfer(_kind == "bl0937")


def scale(kind):
    """The firmware's counts per V, A, W and Wh for this chip on the bench: its frequencies in mHz, CF's pulses."""
    return [round(PER_VOLT[kind] * 1000, 1), round(PER_AMP[kind] * 1000, 1), round(PER_WATT[kind] * 1000, 3),
            round(PER_WATT[kind] * 3600, 3)]


class PulseChip:
    """An HLW8012 (kind "hlw8012") or a BL0937 ("bl0937") measuring the bench's mains (mains.pieces), its CF, CF1
    and SEL on the gpios pins."""

    def __init__(self, pieces, kind="hlw8012", pins=(12, 13, 14), clock=time.monotonic, noise=0.002, jitter=5e-6,
                 seed=8012):
        if kind not in PER_WATT:
            raise ValueError("a pulse chip is hlw8012 or bl0937, not %r" % (kind,))
        self.kind, self.pieces, self.clock = kind, pieces, clock
        self.pins = tuple(pins)  # cf, cf1, sel
        self.noise, self.jitter = noise, jitter
        self.rng = random.Random(seed)
        self.t = clock()  # counted up to here
        self.phase = [0.0, 0.0]  # CF's and CF1's fraction of a period
        self.gain = 1.0  # CF1's noise over its current period
        self.level = [0, 0]  # CF's and CF1's output now
        self.sel = 0  # the SEL level the chip sees
        self.sel_old = 0  # what CF1 gave before SEL last changed, until settle_at
        self.settle_at = self.t
        self.alive = True
        self.pulses = 0  # CF's rising edges since the chip was made
        self.history = None  # a list (a test's): every edge is added to it too
        self._edges = []

    def sync(self):
        """Count the outputs' edges up to now (the mains call it before a change)."""
        now = self.clock()
        if now <= self.t:
            return
        t = self.t
        for dt, m in self.pieces(t, now):
            if self.alive:
                watts = m["volts"] * m["amps_a"] * m["pf_a"]
                self._run(0, t, dt, watts * PER_WATT[self.kind])
                cut = min(max(self.settle_at, t), t + dt)  # CF1: the old quantity until it settled
                self._run(1, t, cut - t, self._cf1(m, self.sel_old))
                self._run(1, cut, t + dt - cut, self._cf1(m, self.sel))
            t += dt
        self.t = now

    def select(self, level):
        """SEL's pin changed (the bench's pin watch)."""
        self.sync()
        if level != self.sel:
            self.sel_old = self.sel if self.clock() >= self.settle_at else self.sel_old
            self.sel = level
            self.settle_at = self.clock() + SETTLE_S

    def edges(self):
        self.sync()
        out, self._edges = self._edges, []
        out.sort()
        return out

    def output(self, gpio):
        """The level on one of the chip's outputs now."""
        self.sync()
        return self.level[self.pins.index(gpio)]

    def stop(self):
        self.sync()
        self.alive = False
        self.level = [0, 0]

    def start(self):
        self.sync()
        self.alive = True

    # inside

    def _cf1(self, m, sel):
        """CF1's frequency for SEL at that level."""
        current = sel == (0 if self.kind == "bl0937" else 1)
        return m["amps_a"] * PER_AMP[self.kind] if current else m["volts"] * PER_VOLT[self.kind]

    def _run(self, o, t, dt, hz):
        """Output o (0 CF, 1 CF1) running at hz from t for dt seconds: its edges."""
        end = t + dt
        square = self.kind == "hlw8012"
        while hz > 0:
            f = hz * (self.gain if o else 1.0)
            ph = self.phase[o]
            to = 0.5 if square and ph < 0.5 else 1.0  # the next edge, in periods
            at = t + (to - ph) / f
            if at > end:
                self.phase[o] = ph + (end - t) * f
                return
            t = at
            edge = t + self.rng.uniform(-self.jitter, self.jitter)
            if to == 0.5:
                self.phase[o] = 0.5
                self._edge(o, edge, 0)
                continue
            self.phase[o] = 0.0
            self._edge(o, edge, 1)
            if o == 0:
                self.pulses += 1
            else:
                self.gain = 1 + self.rng.uniform(-self.noise, self.noise)
            if not square:
                self._edge(o, edge + PULSE_S, 0)

    def _edge(self, o, t, level):
        self.level[o] = level
        self._edges.append((t, self.pins[o], level))
        if self.history is not None:
            self.history.append((t, self.pins[o], level))
