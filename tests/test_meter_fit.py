"""firmware/meter.py's fit of each outlet's load, under CPython with every reading of a long run: the firmware's
ADE7953 driver reads the bench's chip model measuring the bench's mains (tools/vboard), one reading a second on a
hand-moved clock, as the board's meter task reads it. A virtual board reads in real time, so hours of readings are
out of its reach in a test; here a day takes seconds."""

import pathlib
import random
import subprocess
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "cpython"), str(ROOT / "firmware")]

from drivers.ade7953 import ADE7953  # noqa: E402
from test_drivers import Bus, Tick  # noqa: E402
from upy import MICROPYTHON  # noqa: E402

from tools.benchmarks import METER_LOADS  # noqa: E402
from tools.vboard import ade7953 as model  # noqa: E402
from tools.vboard.mains import Mains  # noqa: E402


def firmware_meter(monkeypatch, tick, chip, bus=None):
    """firmware.meter on a stand-in app (six outlets of no rated watts, the chip's default scale, no protection),
    its clock the hand-moved one; machine's RTC memory empty (a power cut)."""
    import firmware

    machine = types.ModuleType("machine")
    machine.RTC = lambda: types.SimpleNamespace(memory=lambda *a: b"")
    app = types.ModuleType("firmware.app")
    outlets = type("Outlets", (list,), {})([False] * 6)  # the arbiter as meter.py sees it: its `on`
    outlets.on = outlets
    app.outlets = outlets
    app.cfg = {"watts": [0] * 6, "meter": {"scale": [20000, 200000, 200, 36000], "max_watts": 0,
                                           "outlet_max_watts": [0] * 6}}
    app.load = lambda name: None
    app.save = lambda name, value: None
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "firmware.app", app)
    monkeypatch.setattr(firmware, "app", app, raising=False)
    monkeypatch.delitem(sys.modules, "firmware.meter", raising=False)
    import firmware.meter as meter

    meter.time = types.SimpleNamespace(ticks_ms=lambda: int(tick.t * 1000), ticks_diff=lambda a, b: a - b,
                                       ticks_add=lambda a, b: a + b, time=lambda: 0)
    meter.chip = ADE7953(bus or Bus(chip))
    meter.start()
    return meter, outlets


class Recorder(Bus):
    """The bus as the driver saw it: every byte the chip answered, in order (what a replay gives it again)."""

    def __init__(self, *devices):
        super().__init__(*devices)
        self.got = bytearray()

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        super().readfrom_mem_into(addr, memaddr, buf, addrsize)
        self.got += bytes(buf)


class Day:
    """The bench's six loads (a 2000 W heater and an 800 W one wandering by 1 and 2 % a second, 60, 40 and 10 W
    beside them) on the firmware's meter, one reading a second; each hour a random set of them on, switched 2 s
    apart. No counter may ever go back. With `record`, each event is kept as a line (tests/upy.py's replay): the
    chip's answers at start, each reading's instant and answers, each switch."""

    def __init__(self, monkeypatch, seed=1, record=False):
        self.tick = tick = Tick()
        self.mains = mains = Mains(6, clock=tick)
        chip = model.ADE7953(mains.measure, clock=tick, pieces=mains.pieces)
        mains.listeners.append(chip.sync)
        for i, (w, pf, noise) in enumerate(METER_LOADS):
            mains.set_load(i, w, pf, noise=noise)
        self.bus = Recorder(chip) if record else None
        self.meter, self.outlets = firmware_meter(monkeypatch, tick, chip, self.bus)
        self.lines = ["b " + self.bus.got.hex()] if record else None
        if record:
            self.bus.got = bytearray()
        self.rng = random.Random(seed)
        self.on = [False] * 6
        self.shown = [0] * 7

    def second(self, dt=1.0):
        self.tick.t += dt
        t = int(self.tick.t * 1000)
        assert self.meter.count(t) is True
        for i in range(7):
            assert self.meter.mwh(i) >= self.shown[i], (i, self.meter.mwh(i), self.shown[i])
            self.shown[i] = self.meter.mwh(i)
        if self.lines is not None:
            self.lines.append("c %d %s" % (t, self.bus.got.hex()))
            self.bus.got = bytearray()

    def switch(self, i, state):
        self.on[i] = state
        self.tick.t += 0.5  # between two readings, as a relay switches
        self.mains.switch(i, state)
        self.outlets[i] = state
        self.meter.switched(i, state, "test")
        if self.lines is not None:
            self.lines.append("s %d %d %d" % (i, state, int(self.tick.t * 1000)))
        self.second(0.5)
        self.second()

    def hour(self):
        n = 0
        for i in range(6):
            if (self.rng.random() < 0.5) != self.on[i]:
                self.switch(i, not self.on[i])
                n += 2
        for _ in range(3600 - n):
            self.second()

    def energy(self):
        """Each outlet's energy and the strip's, the truth (mWh)."""
        return [self.mains.joules(i) / 3.6 for i in range(6)] + [self.mains.joules() / 3.6]


def within(counters, truth):
    """Each outlet's counter within 2 % of its truth, the strip's within 0.5 %."""
    return all(abs(c - t) <= t * (0.005 if i == 6 else 0.02) for i, (c, t) in enumerate(zip(counters, truth,
                                                                                            strict=True)))


def test_a_small_load_beside_a_wandering_heater_is_fitted_and_metered_from_every_reading(monkeypatch, tmp_path):
    """After a day each outlet's load, as the board shows and shares by it, is its own within 2 %, the 10 W one
    too, and so is each outlet's energy over the day, the hours before the loads could be told apart included (the
    plateaus' energy shared again by each new fit); the total's steps at the switches alone cannot tell it (each is
    mostly the heaters' wander of that moment). The same day on the real interpreter: the firmware's meter.py and
    ADE7953 driver on MicroPython, the chip's answers as the bench's model gave them under CPython (every byte read,
    replayed in order) and the same clock and switches: each outlet's energy within 2 % of the truth, the strip's
    within 0.5 %, and within 0.1 % of what CPython counted (each interpreter's own floats)."""
    day = Day(monkeypatch, record=True)
    meter = day.meter
    for _ in range(24):
        day.hour()
    truth = [w * 10 for w, _, _ in METER_LOADS]  # dW
    assert all(abs(f - t) <= t * 0.02 for f, t in zip(meter.fit[:6], truth, strict=True)), (meter.fit, truth)
    assert abs(meter.learned[4] - 100) > 2, meter.learned  # the steps alone: the 10 W load is not known
    cpython = [meter.mwh(i) for i in range(7)]
    assert within(cpython, day.energy()), (cpython, day.energy())

    (tmp_path / "day.log").write_text("\n".join(day.lines) + "\n")
    script = tmp_path / "replay.py"
    script.write_text(REPLAY % (str(ROOT), str(ROOT / "firmware"), str(tmp_path / "day.log")))
    run = subprocess.run([MICROPYTHON, "-X", "heapsize=256k", script], capture_output=True, text=True, timeout=200)
    assert run.returncode == 0 and not run.stderr, run.stderr + run.stdout
    words = run.stdout.split()
    assert int(words[0]) == 24 * 3600, words  # every reading counted
    counters = [int(w) for w in words[1:8]]
    assert within(counters, day.energy()), (counters, day.energy())
    assert all(abs(c - p) <= max(p * 0.001, 2) for c, p in zip(counters, cpython, strict=True)), (counters, cpython)

    # another appliance at outlet 5, a 500 W one: its first step, far from the 10 W, clears what the plateaus knew of
    # the outlet, and an hour later its load is the new one's
    day.lines = None
    if day.on[4]:
        day.switch(4, False)
    day.mains.set_load(4, 500)
    day.switch(4, True)
    day.hour()
    assert abs(meter.fit[4] - 5000) <= 100, meter.fit


REPLAY = """
import sys
sys.path[:0] = [%r, %r]
LOG = %r


class Stub:
    pass


machine = Stub()  # RTC memory empty: a power cut
machine.RTC = lambda: type("RTC", (), {"memory": lambda self, *a: b""})()
sys.modules["machine"] = machine
log = Stub()
log.log = lambda *a: None
sys.modules["firmware.log"] = log
import firmware

outlets = type("Outlets", (list,), {})([False] * 6)
outlets.on = outlets
app = Stub()
app.outlets = outlets
app.cfg = {"watts": [0] * 6, "meter": {"scale": [20000, 200000, 200, 36000], "max_watts": 0,
                                       "outlet_max_watts": [0] * 6}}
app.load = lambda name: None
app.save = lambda name, value: None
firmware.app = app
import firmware.meter as meter
from drivers.ade7953 import ADE7953

now = [0]
clock = Stub()
clock.ticks_ms = lambda: now[0]
clock.ticks_diff = lambda a, b: a - b
clock.ticks_add = lambda a, b: a + b
clock.time = lambda: 0
meter.time = clock


class Bus:  # the chip's answers, as recorded
    def __init__(self):
        self.d, self.k = b"", 0

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        n = len(buf)
        buf[:] = self.d[self.k:self.k + n]
        self.k += n

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        pass


bus = Bus()
meter.chip = ADE7953(bus)
readings = 0
for line in open(LOG):
    p = line.split()
    if p[0] == "c":
        now[0] = int(p[1])
        bus.d, bus.k = bytes.fromhex(p[2]), 0
        if meter.count(now[0]) is not True:
            raise SystemExit("reading %%d refused" %% readings)
        readings += 1
    elif p[0] == "s":
        i, on = int(p[1]), p[2] == "1"
        now[0] = int(p[3])
        outlets[i] = on
        meter.switched(i, on, "test")
    else:
        bus.d, bus.k = bytes.fromhex(p[1]), 0
        meter.start()
print(readings, " ".join(str(meter.mwh(i)) for i in range(7)), " ".join(str(f) for f in meter.fit))
"""
