"""firmware/meter.py's fit of each outlet's load, under CPython with every reading of a long run: the firmware's
ADE7953 driver reads the bench's chip model measuring the bench's mains (tools/vboard), one reading a second on a
hand-moved clock, as the board's meter task reads it. A virtual board reads in real time, so hours of readings are
out of its reach in a test; here a day takes seconds."""

import pathlib
import random
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "cpython"), str(ROOT / "firmware")]

from drivers.ade7953 import ADE7953  # noqa: E402
from test_drivers import Bus, Tick  # noqa: E402

from tools.benchmarks import METER_LOADS  # noqa: E402
from tools.vboard import ade7953 as model  # noqa: E402
from tools.vboard.mains import Mains  # noqa: E402


def firmware_meter(monkeypatch, tick, chip):
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
    meter.chip = ADE7953(Bus(chip))
    meter.start()
    return meter, outlets


def test_a_small_load_beside_a_wandering_heater_is_fitted_and_metered_from_every_reading(monkeypatch):
    """The bench's six loads (a 2000 W heater and an 800 W one wandering by 1 and 2 % a second, 60, 40 and 10 W
    beside them), a random set of them on each hour, switched 2 s apart: after a day each outlet's load, as the
    board shows and shares by it, is its own within 2 %, the 10 W one too, and so is each outlet's energy over the
    day, the hours before the loads could be told apart included (the plateaus' energy shared again by each new
    fit); the total's steps at the switches alone cannot tell it (each is mostly the heaters' wander of that
    moment). No counter ever goes back."""
    tick = Tick()
    mains = Mains(6, clock=tick)
    chip = model.ADE7953(mains.measure, clock=tick, pieces=mains.pieces)
    mains.listeners.append(chip.sync)
    for i, (w, pf, noise) in enumerate(METER_LOADS):
        mains.set_load(i, w, pf, noise=noise)
    meter, outlets = firmware_meter(monkeypatch, tick, chip)
    rng = random.Random(1)
    on = [False] * 6

    shown = [0] * 7

    def second(dt=1.0):
        tick.t += dt
        assert meter.count(int(tick.t * 1000)) is True
        for i in range(7):
            assert meter.mwh(i) >= shown[i], (i, meter.mwh(i), shown[i])
            shown[i] = meter.mwh(i)

    def switch(i, state):
        on[i] = state
        tick.t += 0.5  # between two readings, as a relay switches
        mains.switch(i, state)
        outlets[i] = state
        meter.switched(i, state, "test")
        second(0.5)
        second()

    def hour():
        n = 0
        for i in range(6):
            if (rng.random() < 0.5) != on[i]:
                switch(i, not on[i])
                n += 2
        for _ in range(3600 - n):
            second()

    for _ in range(24):
        hour()
    truth = [w * 10 for w, _, _ in METER_LOADS]  # dW
    assert all(abs(f - t) <= t * 0.02 for f, t in zip(meter.fit[:6], truth, strict=True)), (meter.fit, truth)
    assert abs(meter.learned[4] - 100) > 2, meter.learned  # the steps alone: the 10 W load is not known
    energy = [mains.joules(i) / 3.6 for i in range(6)]  # mWh
    assert all(abs(meter.mwh(i) - energy[i]) <= energy[i] * 0.02 for i in range(6)), (
        [meter.mwh(i) for i in range(6)], energy)
    strip = mains.joules() / 3.6
    assert abs(meter.mwh(6) - strip) <= strip * 0.005

    # another appliance at outlet 5, a 500 W one: its first step, far from the 10 W, clears what the plateaus knew of
    # the outlet, and an hour later its load is the new one's
    if on[4]:
        switch(4, False)
    mains.set_load(4, 500)
    switch(4, True)
    hour()
    assert abs(meter.fit[4] - 5000) <= 100, meter.fit
