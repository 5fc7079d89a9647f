"""The bench's mains (tools/vboard/mains.py): loads with noise, a kettle's thermostat and an inrush, on a clock the
test moves by hand; the energy it integrates (the truth) and what the ADE7953's model accumulates from it agree to
the count, whenever each of them syncs."""

import random

import pytest

from tools.vboard.ade7953 import ENERGY_PER_JOULE, POWER_PER_WATT, ADE7953
from tools.vboard.mains import NOISE_S, Mains

AENERGYA, AWATT = 0x21E, 0x212


class Tick:
    def __init__(self):
        self.t = 500.0

    def __call__(self):
        return self.t


def bench(outlets=6):
    """Mains and a noiseless chip on one hand-moved clock, wired as the bench wires them."""
    tick = Tick()
    mains = Mains(outlets, clock=tick)
    chip = ADE7953(mains.measure, clock=tick, noise=0.0, pieces=mains.pieces)
    mains.listeners.append(chip.sync)
    return mains, chip, tick


def read(chip, reg):
    chip.write(reg.to_bytes(2, "big"))
    return int.from_bytes(chip.read(3), "big", signed=True)


def agree(counts, mains):
    """The chip's counts are the truth's joules, to the count (the chip carries the fraction)."""
    truth = mains.joules() * ENERGY_PER_JOULE
    assert 0 <= truth - counts < 1 + 1e-6, (counts, truth)


def test_the_existing_api_a_plain_load_switched_on_and_off():
    mains, chip, tick = bench()
    mains.set_load(2, 2000, 0.9)
    mains.switch(2, True)
    tick.t += 10
    assert mains.watts(2) == mains.watts() == 2000
    m = mains.measure()
    assert m["pf_a"] == pytest.approx(0.9) and m["amps_a"] == pytest.approx(2000 / 0.9 / 230)
    mains.switch(2, False)
    tick.t += 5
    assert mains.watts() == 0
    assert mains.joules(2) == mains.joules() == 20000
    assert read(chip, AENERGYA) == 200000


def wander(mains, tick, steps=40):
    """A 1000 W load with 5 % noise switched on: its power at each step, checked steady within the step."""
    mains.set_load(0, 1000, noise=0.05)
    mains.switch(0, True)
    seen = []
    for _ in range(steps):
        seen.append(mains.watts(0))
        tick.t += NOISE_S / 4
        assert mains.watts(0) == seen[-1]
        tick.t += NOISE_S * 3 / 4
    return seen


def test_a_noisy_load_wanders_around_its_rating_seeded_and_step_by_step():
    mains, chip, tick = bench()
    seen = wander(mains, tick)
    assert all(950 <= w <= 1050 for w in seen)
    assert len(set(seen)) == len(seen)  # a new value each step
    assert 990 < sum(seen) / len(seen) < 1010
    assert abs(read(chip, AWATT) / POWER_PER_WATT - mains.watts(0)) < 0.01  # the chip measures the step it is in
    again, _, tick = bench()
    assert wander(again, tick) == seen  # the same seed: the same powers
    tick = Tick()
    assert wander(Mains(6, clock=tick, seed=1), tick) != seen


def test_a_noisy_load_read_at_odd_instants_the_chip_and_the_truth_agree():
    mains, chip, tick = bench()
    mains.set_load(0, 1500, noise=0.1)
    mains.set_load(3, 700, 0.8, noise=0.02)
    mains.switch(0, True)
    mains.switch(3, True)
    rng = random.Random(11)
    counts = 0
    for _ in range(300):
        tick.t += rng.uniform(0.05, 2.5)
        counts += read(chip, AENERGYA)
        if rng.random() < 0.05:
            mains.switch(3, not mains.closed[3])
        if rng.random() < 0.3:
            agree(counts, mains)  # the truth syncs at instants of its own
    agree(counts, mains)
    assert mains.joules() > 1500 * 100


def test_a_kettle_switches_itself_off_with_the_relay_closed_and_heats_again_after_off_and_on():
    mains, chip, tick = bench()
    mains.set_load(1, 2000, off_after=90)
    mains.switch(1, True)
    tick.t += 89.5
    assert mains.watts(1) == 2000
    tick.t += 0.5
    assert mains.watts(1) == 0 and mains.closed[1]  # its thermostat: the outlet is still on
    assert mains.measure()["amps_a"] == 0
    tick.t += 100.3  # no one called at the instant it stopped
    counts = read(chip, AENERGYA)
    assert mains.joules(1) == 2000 * 90
    agree(counts, mains)
    tick.t += 60
    assert mains.watts(1) == 0  # it stays off while the outlet stays on
    mains.switch(1, False)
    tick.t += 1
    mains.switch(1, True)
    assert mains.watts(1) == 2000
    tick.t += 30.7
    counts += read(chip, AENERGYA)
    tick.t += 200
    counts += read(chip, AENERGYA)
    assert mains.joules(1) == pytest.approx(2000 * 180)
    agree(counts, mains)


def test_a_kettle_plugged_into_an_outlet_already_on_heats_from_then():
    mains, chip, tick = bench()
    mains.switch(4, True)
    tick.t += 50
    mains.set_load(4, 1800, off_after=10)
    tick.t += 30
    assert mains.watts(4) == 0
    agree(read(chip, AENERGYA), mains)
    assert mains.joules(4) == pytest.approx(1800 * 10)


def test_an_inrush_draws_its_multiple_for_its_milliseconds_after_the_relay_closes():
    mains, chip, tick = bench()
    mains.set_load(5, 300, 0.7, inrush=8, inrush_ms=20)
    mains.switch(5, True)
    assert mains.watts(5) == 2400
    tick.t += 0.0199
    assert mains.watts(5) == 2400
    tick.t += 0.0002
    assert mains.watts(5) == 300
    tick.t = 500.0 + 3.3  # the chip reads long after the inrush ended, the truth later still
    counts = read(chip, AENERGYA)
    tick.t += 1.1
    counts += read(chip, AENERGYA)
    assert mains.joules(5) == pytest.approx(300 * 4.4 + 7 * 300 * 0.02)
    agree(counts, mains)
    mains.switch(5, False)
    tick.t += 1
    mains.switch(5, True)  # every switch-on has its inrush
    assert mains.watts(5) == 2400


def test_everything_at_once_several_outlets_switched_and_read_at_random_instants():
    mains, chip, tick = bench()
    mains.set_load(0, 60)
    mains.set_load(1, 2000, off_after=7.3, noise=0.01)
    mains.set_load(2, 150, 0.8, noise=0.03, inrush=6, inrush_ms=150)
    mains.set_load(3, 900, off_after=3.1, inrush=2, inrush_ms=500)
    mains.set_load(4, 40, 0.6, inrush=20, inrush_ms=5)
    rng = random.Random(5)
    counts = 0
    for _ in range(2000):
        tick.t += rng.choice((0.001, 0.02, 0.3, 0.7, 1.0, 2.9))
        what = rng.random()
        if what < 0.1:
            i = rng.randrange(5)
            mains.switch(i, not mains.closed[i])
        elif what < 0.6:
            counts += read(chip, AENERGYA)
        elif what < 0.65:
            mains.set_volts(rng.choice((220.0, 230.0, 241.5)))
    counts += read(chip, AENERGYA)
    agree(counts, mains)
    assert mains.joules() > 100000


def test_a_load_takes_only_sensible_settings():
    mains, _, _ = bench()
    for bad in ({"noise": 1.0}, {"noise": -0.1}, {"off_after": -1}, {"inrush": -2}, {"inrush_ms": -5}):
        with pytest.raises(ValueError):
            mains.set_load(0, 100, **bad)
