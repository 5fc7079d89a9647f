"""The firmware's chip drivers (firmware/drivers), run under CPython against the virtual board's chip models,
then once on the real MicroPython unix port."""

import datetime
import pathlib
import random
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "cpython"), str(ROOT / "firmware")]

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from drivers.ade7953 import ADE7953  # noqa: E402
from drivers.ds1307 import DS1307  # noqa: E402
from drivers.ds3231 import DS3231  # noqa: E402
from drivers.hlw8012 import HLW8012  # noqa: E402
from drivers.pcf8574 import PCF8574  # noqa: E402
from upy import MICROPYTHON, MPY_CROSS  # noqa: E402

from tools.vboard import ade7953 as model  # noqa: E402
from tools.vboard import chips, hlw8012, hw  # noqa: E402
from tools.vboard.mains import Mains  # noqa: E402

DT = datetime.datetime


class Bus:
    """The machine.I2C methods the drivers use, over a dict of chip models (one transaction per model call)."""

    def __init__(self, *devices):
        self.devices = {device.addr: device for device in devices}

    def _device(self, addr):
        if addr not in self.devices:
            raise OSError(19)
        return self.devices[addr]

    def _write(self, addr, data):
        try:
            self._device(addr).write(bytes(data))
        except chips.Nack:
            raise OSError(19) from None

    def _read(self, addr, buf):
        try:
            buf[:] = self._device(addr).read(len(buf))
        except chips.Nack:
            raise OSError(19) from None

    def writeto(self, addr, buf):
        self._write(addr, buf)

    def readfrom_into(self, addr, buf):
        self._read(addr, buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._write(addr, hw._memaddr(memaddr, addrsize) + bytes(buf))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._write(addr, hw._memaddr(memaddr, addrsize))
        self._read(addr, buf)


class Tick:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def rtc(model, driver):
    tick = Tick()
    chip = model(chips.Clock(1_700_000_000.0, source=tick))
    return chip, driver(Bus(chip)), tick


def register(chip, reg):
    chip.write(bytes([reg]))
    return chip.read(1)[0]


RTCS = [(chips.DS3231, DS3231), (chips.DS1307, DS1307)]
both = pytest.mark.parametrize("model, driver", RTCS, ids=["ds3231", "ds1307"])


# RTCs

@both
def test_set_then_read_back(model, driver):
    chip, rtc_, tick = rtc(model, driver)
    rtc_.set_datetime((2024, 2, 29, 13, 45, 30, 3, 60))  # time.localtime() order; extra items ignored
    assert rtc_.datetime() == (2024, 2, 29, 13, 45, 30, 3)
    assert chip.time() == DT(2024, 2, 29, 13, 45, 30)
    assert register(chip, 2) == 0x13  # 24-hour mode
    assert register(chip, 3) == 4  # weekday + 1
    tick.t += 10 * 3600 + 15 * 60
    assert rtc_.datetime() == (2024, 3, 1, 0, 0, 30, 4)


@both
@settings(max_examples=100)
@given(when=st.datetimes(DT(2000, 1, 1), DT(2099, 12, 31, 23, 59, 59)))
def test_any_time_round_trips(model, driver, when):
    chip, rtc_, _ = rtc(model, driver)
    t = when.timetuple()[:7]
    rtc_.set_datetime(t)
    assert chip.time() == when.replace(microsecond=0)
    assert rtc_.datetime() == t


@both
@pytest.mark.parametrize("hours, hour", [
    (0x40 | 0x12, 0), (0x40 | 0x01, 1), (0x40 | 0x11, 11),
    (0x40 | 0x20 | 0x12, 12), (0x40 | 0x20 | 0x01, 13), (0x40 | 0x20 | 0x11, 23),
])
def test_12_hour_registers_are_decoded(model, driver, hours, hour):
    chip, rtc_, _ = rtc(model, driver)
    chip.write(bytes([0x00, 0x07, 0x06, hours, 7, 0x09, 0x08, 0x25]))
    assert rtc_.datetime() == (2025, 8, 9, hour, 6, 7, 6)


@both
def test_lost_on_a_fresh_chip_until_the_time_is_set(model, driver):
    chip, rtc_, _ = rtc(model, driver)
    assert rtc_.lost()
    rtc_.set_datetime((2024, 6, 1, 8, 0, 0, 5))
    assert not rtc_.lost()
    chip.stop_oscillator()
    assert rtc_.lost()
    rtc_.set_datetime((2024, 6, 1, 8, 0, 0, 5))
    assert not rtc_.lost()


@both
def test_lost_after_a_power_cut_without_battery_only(model, driver):
    chip, rtc_, tick = rtc(model, driver)
    rtc_.set_datetime((2024, 6, 1, 8, 0, 0, 5))
    chip.power(False)
    with pytest.raises(OSError):
        rtc_.datetime()
    tick.t += 60
    chip.power(True)
    assert not rtc_.lost()
    assert rtc_.datetime() == (2024, 6, 1, 8, 1, 0, 5)
    chip.battery = False
    chip.power(False)
    chip.power(True)
    assert rtc_.lost()


def test_ds3231_set_datetime_keeps_the_other_status_bits():
    chip, rtc_, _ = rtc(chips.DS3231, DS3231)
    assert register(chip, 0x0F) == 0x88
    rtc_.set_datetime((2024, 6, 1, 8, 0, 0, 5))
    assert register(chip, 0x0F) == 0x08
    assert register(chip, 0x0E) == 0x1C


def test_ds3231_century():
    chip, rtc_, tick = rtc(chips.DS3231, DS3231)
    rtc_.set_datetime((2099, 12, 31, 23, 59, 59, 3))
    tick.t += 1
    assert rtc_.datetime() == (2100, 1, 1, 0, 0, 0, 4)
    rtc_.set_datetime((2101, 3, 1, 0, 0, 0, 1))
    assert chip.time() == DT(2101, 3, 1)


def test_ds1307_clock_stands_still_until_set():
    chip, rtc_, tick = rtc(chips.DS1307, DS1307)
    tick.t += 30
    assert rtc_.datetime() == (2000, 1, 1, 0, 0, 0, 0)
    rtc_.set_datetime((2024, 6, 1, 8, 0, 0, 5))
    assert register(chip, 0) == 0x00  # CH cleared in the same write as the seconds
    tick.t += 30
    assert rtc_.datetime() == (2024, 6, 1, 8, 0, 30, 5)


def test_ds1307_has_no_thermometer():
    assert DS1307.temperature is None


@pytest.mark.parametrize("celsius", [25.0, 31.75, 0.0, -0.25, -7.25, -40.0, 85.5, -128.0, 127.75])
def test_ds3231_temperature(celsius):
    chip, rtc_, _ = rtc(chips.DS3231, DS3231)
    chip.temperature = celsius
    assert rtc_.temperature() == celsius


@both
def test_a_missing_chip_raises_enodev(model, driver):
    rtc_ = driver(Bus())
    with pytest.raises(OSError) as error:
        rtc_.datetime()
    assert error.value.args[0] == 19


# PCF8574

def test_pcf8574_pins():
    chip = chips.PCF8574(0x21)
    expander = PCF8574(Bus(chip), 0x21)
    assert expander.shadow == 0xFF
    assert expander.read() == 0xFF
    expander.pin(2, 0)
    assert chip.latch == 0xFB
    expander.pin(5, False)
    expander.pin(2, 1)
    assert chip.latch == 0xDF
    assert expander.pin(5) == 0 and expander.pin(2) == 1
    chip.pull_low(7)
    assert expander.read() == 0x5F
    assert expander.pin(7) == 0
    expander.pin(0, 0)
    assert chip.latch == 0xDE  # the shadow, not the levels read back, decides the other bits
    expander.write(0x0F)
    assert chip.latch == 0x0F and expander.shadow == 0x0F
    assert chip.writes == [0xFB, 0xDB, 0xDF, 0xDE, 0x0F]


def test_pcf8574_shadow_keeps_the_last_byte_the_chip_took():
    expander = PCF8574(Bus())
    with pytest.raises(OSError):
        expander.pin(3, 0)
    assert expander.shadow == 0xFF


# ADE7953

def metering():
    """The driver on the bus with the chip's model measuring the bench's mains, one hand-moved clock for both."""
    tick = Tick()
    mains = Mains(6, clock=tick)
    chip = model.ADE7953(mains.measure, clock=tick, noise=0.0, pieces=mains.pieces)
    mains.listeners.append(chip.sync)
    return ADE7953(Bus(chip)), chip, mains, tick


def test_ade7953_start_sets_the_chip_up():
    meter, chip, _, _ = metering()
    chip.write(b"\x00\x04\x00")  # LCYCMODE 0: RSTREAD off
    assert chip.register(model.RSTIRQSTATA) == model.RESET
    meter.start()
    assert chip.register(model.RESERVED_120) == 0x30  # behind the key: the key went first
    assert chip.register(model.LCYCMODE) == 0x40
    assert chip.register(model.RSTIRQSTATA) == 0  # its start seen


def test_ade7953_reads_what_the_chip_measures_of_known_loads():
    meter, chip, mains, tick = metering()
    meter.start()
    mains.set_load(2, 2000)
    mains.set_load(3, 150, 0.8)
    mains.switch(2, True)
    mains.switch(3, True)
    tick.t += 10
    r = [0] * 6
    assert meter.read(r) is True
    p, q = 2150, 150 * 0.75  # the motor's reactive power: 150 * tan(acos(0.8))
    s = (p * p + q * q) ** 0.5
    assert r[:5] == [230 * model.VRMS_PER_VOLT, round(s / 230 * model.IRMS_PER_AMP), p * model.POWER_PER_WATT,
                     round(p / s * 32768), round(model.PERIOD_CLOCK / 50 - 1)]
    assert r[5] == 2150 * 10 * model.ENERGY_PER_JOULE == mains.joules() * model.ENERGY_PER_JOULE
    mains.switch(2, False)
    tick.t += 4
    assert meter.read(r) is True
    assert r[2] == 150 * model.POWER_PER_WATT and r[3] == round(0.8 * 32768)
    assert r[5] == 150 * 4 * model.ENERGY_PER_JOULE  # since the last read: it cleared the register
    chip.force(model.AENERGYA, 0xFFFFF6)  # power flowing back: negative energy, its sign kept
    assert meter.read(r) is True and r[5] == -10


def test_ade7953_a_chip_that_started_again_reads_false_until_set_up():
    meter, chip, mains, tick = metering()
    meter.start()
    mains.set_load(0, 1000)
    mains.switch(0, True)
    tick.t += 5
    chip.power(False)
    chip.power(True)
    tick.t += 1
    r = [0] * 6
    assert meter.read(r) is False
    meter.start()
    tick.t += 1
    assert meter.read(r) is True and r[5] == 2 * 1000 * model.ENERGY_PER_JOULE  # since the power came back


def test_ade7953_a_chip_that_does_not_answer_raises_oserror():
    meter, chip, mains, tick = metering()
    meter.start()
    mains.set_load(0, 1000)
    mains.switch(0, True)
    chip.stop()
    tick.t += 3
    with pytest.raises(OSError):
        meter.read([0] * 6)
    with pytest.raises(OSError):
        meter.start()
    chip.start()
    r = [0] * 6
    assert meter.read(r) is True and r[5] == 3000 * model.ENERGY_PER_JOULE  # it counted meanwhile


@pytest.mark.parametrize("addr", [model.AENERGYA, model.LAST_RWDATA24], ids=["energy", "check"])
@pytest.mark.parametrize("bit", range(24))
def test_ade7953_a_bit_flipped_on_the_bus_in_the_energy_or_its_check_reads_none(addr, bit):
    meter, chip, mains, tick = metering()
    meter.start()
    mains.set_load(0, 2000)
    mains.switch(0, True)
    tick.t += 1
    r = [0] * 6
    assert meter.read(r) is True and r[5] == 20000
    tick.t += 1
    chip.garble(addr=addr, bit=bit)
    r[5] = 7
    assert meter.read(r) is None
    assert r[5] == 7  # nothing to use
    tick.t += 1
    assert meter.read(r) is True and r[5] == 20000  # the second before: lost, never counted twice


def test_ade7953_a_noisy_bus_never_gives_a_wrong_energy():
    meter, chip, mains, tick = metering()
    meter.start()
    mains.set_load(0, 2000)
    mains.switch(0, True)
    rng = random.Random(3)
    r = [0] * 6
    results = []
    for _ in range(200):
        tick.t += 1
        if rng.random() < 0.3:
            chip.garble(addr=rng.choice((model.AENERGYA, model.LAST_RWDATA24)))
        results.append(meter.read(r))
        if results[-1]:
            assert r[5] == 20000
    assert results.count(None) > 30 and results.count(True) > 100 and False not in results


def test_ade7953_a_value_out_of_range_in_the_chip_passes_the_check_for_the_caller_to_judge():
    meter, chip, mains, tick = metering()
    meter.start()
    tick.t += 1
    chip.force(model.AWATT, 0x7FFFFF)
    chip.force(model.AENERGYA, 0x7FFFFF)
    r = [0] * 6
    assert meter.read(r) is True
    assert r[2] == r[5] == 0x7FFFFF  # 41.9 kW, 233 Wh in a second: meter.py's range check refuses them
    tick.t += 1
    assert meter.read(r) is True and r[2] == r[5] == 0


# on the target's language

DRIVERS = sorted((ROOT / "firmware" / "drivers").glob("*.py"))


@pytest.mark.parametrize("path", DRIVERS, ids=[p.name for p in DRIVERS])
def test_driver_cross_compiles(path, tmp_path):
    out = tmp_path / "x.mpy"
    subprocess.run([MPY_CROSS, "-o", out, path], check=True)
    assert out.stat().st_size > 0


MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, %r)
from drivers.ds3231 import DS3231
from drivers.ds1307 import DS1307
from drivers.pcf8574 import PCF8574


class Registers:
    def __init__(self):
        self.chips = {0x68: bytearray(64), 0x20: bytearray(b'\\xff')}

    def readfrom_mem_into(self, addr, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.chips[addr][reg + i]

    def writeto_mem(self, addr, reg, buf):
        self.chips[addr][reg:reg + len(buf)] = buf

    def writeto(self, addr, buf):
        self.chips[addr][0] = buf[-1]

    def readfrom_into(self, addr, buf):
        buf[0] = self.chips[addr][0]


bus = Registers()
bus.chips[0x68][0x0F] = 0x8B
bus.chips[0x68][0x11:0x13] = b'\\xf5\\x40'
rtc = DS3231(bus)
print(rtc.lost())
rtc.set_datetime((2024, 2, 29, 23, 5, 9, 3, 60))
print(rtc.datetime(), rtc.lost(), bus.chips[0x68][0x0F], rtc.temperature())
print(DS1307(bus).lost(), DS1307.temperature)
bus.chips[0x68][2] = 0x72
print(DS1307(bus).datetime())
expander = PCF8574(bus)
expander.pin(3, 0)
print(expander.read(), expander.pin(3), expander.pin(2))
"""


def on_micropython(tmp_path, script):
    """The lines a script (the firmware's folder in its %r) prints on MicroPython with a 40 KB heap."""
    path = tmp_path / "drivers_check.py"
    path.write_text(script % str(ROOT / "firmware"))
    result = subprocess.run([MICROPYTHON, "-X", "heapsize=40k", path], capture_output=True, text=True, timeout=30)
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_drivers_run_on_micropython(tmp_path):
    assert on_micropython(tmp_path, MICROPYTHON_SCRIPT) == [
        "True",
        "(2024, 2, 29, 23, 5, 9, 3) False 11 -10.75",
        "False None",
        "(2024, 2, 29, 12, 5, 9, 3)",
        "247 0 1",
    ]


ADE7953_SCRIPT = """
import sys
import micropython
sys.path.insert(0, %r)
from drivers.ade7953 import ADE7953


class Chip:
    # the registers the driver reads, as the chip sends them; LAST_RWDATA_24 (0x2FF) keeps the data of the last
    # 24-bit read of another register; `flip`: the next read of the energy register has its last bit flipped
    def __init__(self):
        self.regs = {0x22E: bytearray(b'\\x10\\x00\\x00'), 0x21C: bytearray(b'\\x46\\x30\\xc0'),
                     0x21A: bytearray(b'\\x0d\\x44\\x2d'), 0x212: bytearray(b'\\xff\\xfc\\x18'),
                     0x10A: bytearray(b'\\x7f\\xff'), 0x10E: bytearray(b'\\x11\\x7a'),
                     0x21E: bytearray(b'\\x00\\x4e\\x20'), 0x2FF: bytearray(3)}
        self.flip = False

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        d = self.regs[reg]
        for i in range(len(buf)):
            buf[i] = d[i]
        if len(buf) == 3 and reg != 0x2FF:
            for i in range(3):
                self.regs[0x2FF][i] = d[i]
        if reg == 0x21E and self.flip:
            buf[2] ^= 1
            self.flip = False

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self.regs[reg] = bytearray(buf)


chip = Chip()
meter = ADE7953(chip)
r = [0] * 6
print(meter.read(r))
chip.regs[0x22E][0] = 0
meter.start()
print(sorted(k for k in chip.regs if k < 0x200 and k not in (0x10A, 0x10E)), chip.regs[0x120][1], chip.regs[0x004][0])
ok = bad = None
micropython.heap_lock()
ok = meter.read(r)
chip.flip = True
bad = meter.read(r)
micropython.heap_unlock()
print(ok, r)
print(bad)
"""


def test_ade7953_runs_on_micropython_and_reads_without_allocating(tmp_path):
    """The driver on the real interpreter: its read takes no heap (heap_lock), a flipped bit reads None."""
    assert on_micropython(tmp_path, ADE7953_SCRIPT) == [
        "False",
        "[4, 254, 288] 48 64",
        "True [4600000, 869421, -1000, 32767, 4474, 20000]",
        "None",
    ]


# HLW8012 / BL0937

class PulseTime:
    """time's ticks for the driver under CPython: the hand-moved clock's, or in a handler its edge's instant."""

    def __init__(self, tick):
        self.tick, self.at = tick, None

    def ticks_us(self):
        return int((self.tick() if self.at is None else self.at) * 1e6) & 0x3FFFFFFF

    @staticmethod
    def ticks_add(a, b):
        return (a + b) & 0x3FFFFFFF

    @staticmethod
    def ticks_diff(a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


class PulsePins:
    """The board's side of the chip's three wires: Pin.irq handlers called for the chip's edges, each at its
    instant, when the driver next sets SEL (as the virtual board delivers them at its next call into the bench)."""

    def __init__(self, chip, clock):
        self.chip, self.clock, self.handlers = chip, clock, {}
        self.cf, self.cf1, self.sel = (Pin(self, g) for g in chip.pins)

    def deliver(self):
        for t, gpio, level in self.chip.edges():
            handler, trigger = self.handlers.get(gpio, (None, 0))
            if handler and trigger & (1 if level else 2):
                self.clock.at = t
                handler(gpio)
                self.clock.at = None


class Pin:
    def __init__(self, pins, gpio):
        self.pins, self.gpio = pins, gpio

    def irq(self, handler=None, trigger=3):
        self.pins.handlers[self.gpio] = (handler, trigger)

    def __call__(self, level):
        self.pins.deliver()
        self.pins.chip.select(level)


@pytest.fixture
def pulsing(monkeypatch):
    """make(kind) -> (driver, chip, mains, tick): the driver on the chip's model (no noise, no jitter) measuring
    the bench's mains, one hand-moved clock for all."""

    def make(kind="hlw8012", **kw):
        tick = Tick()
        tick.t = 100.0
        mains = Mains(6, clock=tick)
        chip = hlw8012.PulseChip(mains.pieces, kind, clock=tick, **dict(dict(noise=0.0, jitter=0.0), **kw))
        mains.listeners.append(chip.sync)
        monkeypatch.setattr(sys.modules["drivers.hlw8012"], "time", PulseTime(tick))
        pins = PulsePins(chip, sys.modules["drivers.hlw8012"].time)
        meter = HLW8012(pins.cf, pins.cf1, pins.sel, hlw8012.scale(kind), kind == "bl0937")
        meter.start()
        return meter, chip, mains, tick

    return make


def reads(meter, tick, seconds, step=1.0):
    """Reads every step seconds: their energies added, and the last reading."""
    r, e = [0] * 6, 0
    for _ in range(round(seconds / step)):
        tick.t += step
        assert meter.read(r) is True
        e += r[5]
    return e, r


@pytest.mark.parametrize("kind", ["hlw8012", "bl0937"])
def test_hlw8012_counts_every_pulse_and_reads_known_loads(pulsing, kind):
    """The energy is CF's pulses, to one pulse of the truth; the power, voltage, current and power factor of a
    2000 W heater and a 150 W motor at pf 0.8 as the chip's transfer functions give them."""
    meter, chip, mains, tick = pulsing(kind)
    s = hlw8012.scale(kind)
    mains.set_load(2, 2000)
    mains.set_load(3, 150, 0.8)
    mains.switch(2, True)
    mains.switch(3, True)
    e, r = reads(meter, tick, 10)
    assert e == chip.pulses and abs(e - mains.joules() * hlw8012.PER_WATT[kind]) <= 1
    p, q = 2150, 150 * 0.75
    a = (p * p + q * q) ** 0.5 / 230
    assert abs(r[2] / s[2] - p) <= 0.001 * p and abs(r[0] / s[0] - 230) <= 0.2
    assert abs(r[1] / s[1] - a) <= 0.001 * a and abs(r[3] / 32768 - p / (230 * a)) <= 0.002 and r[4] == 0
    mains.switch(2, False)
    before = chip.pulses
    e, r = reads(meter, tick, 4)
    assert abs(r[2] / s[2] - 150) <= 0.5 and abs(r[3] / 32768 - 0.8) <= 0.005
    assert e == chip.pulses - before  # since the last read only
    mains.switch(3, False)
    e, r = reads(meter, tick, 12)
    assert r[2] == 0 and e <= 1 and abs(r[0] / s[0] - 230) <= 0.2  # no load: no power, the voltage still read


@pytest.mark.parametrize("kind", ["hlw8012", "bl0937"])
def test_hlw8012_switches_sel_between_reads_and_waits_for_it_to_settle(pulsing, kind):
    """SEL gives CF1 to the voltage, then the current, a read each (BL0937: high is the voltage); CF1 gives the old
    quantity for a while after a switch, and the driver's window opens after it."""
    meter, chip, mains, tick = pulsing(kind)
    s = hlw8012.scale(kind)
    volts = 1 if kind == "bl0937" else 0
    assert chip.sel == volts
    mains.set_load(0, 1000)
    mains.switch(0, True)
    chip.history = seen = []
    levels, r = [], [0] * 6
    for _ in range(4):
        tick.t += 1
        meter.read(r)
        levels.append(chip.sel)
    assert levels == [volts ^ 1, volts, volts ^ 1, volts]
    assert abs(r[0] / s[0] - 230) <= 0.2 and abs(r[1] / s[1] - 1000 / 230) <= 0.005
    # CF1 over the first 0.1 s after the switch to the current (the third read): still the voltage's rate
    t0 = tick.t - 1
    early = [t for t, g, level in seen if g == chip.pins[1] and level and t0 < t < t0 + hlw8012.SETTLE_S]
    late = [t for t, g, level in seen if g == chip.pins[1] and level and t0 + 0.5 < t < t0 + 0.5 + 0.1]
    assert abs(len(early) - 230 * hlw8012.PER_VOLT[kind] * hlw8012.SETTLE_S) <= 1
    assert abs(len(late) - 1000 / 230 * hlw8012.PER_AMP[kind] * 0.1) <= 1
    tick.t += 0.1  # two reads close together: the window stays open, SEL stays
    meter.read(r)
    assert chip.sel == volts


def test_hlw8012_a_silent_chip_raises_oserror_and_keeps_its_pulses(pulsing):
    """Zero load and a dead chip both give no CF pulse; a dead chip gives no CF1 pulse on the voltage either: the
    read of that window raises OSError. What CF counted before stays for the next good read."""
    meter, chip, mains, tick = pulsing()
    mains.set_load(0, 2000)
    mains.switch(0, True)
    reads(meter, tick, 2)
    tick.t += 0.5
    before = chip.pulses
    chip.stop()
    r = [0] * 6
    raised = 0
    for _ in range(3):
        tick.t += 1
        try:
            meter.read(r)
        except OSError as x:
            raised += 1
            assert x.args[0] == 19
    assert raised >= 1
    chip.start()
    e, r = reads(meter, tick, 4)
    assert abs(r[2] / hlw8012.scale("hlw8012")[2] - 2000) <= 2
    assert before > 0 and meter.q[0] == chip.pulses  # every pulse counted, those before the silence too


HLW8012_SCRIPT = """
import sys
import micropython
import time
sys.path.insert(0, %r)
from drivers.hlw8012 import HLW8012


class Pin:
    def __init__(self):
        self.handler, self.level = None, None

    def irq(self, handler=None, trigger=3):
        self.handler = handler

    def __call__(self, level):
        self.level = level


cf, cf1, sel = Pin(), Pin(), Pin()
meter = HLW8012(cf, cf1, sel, [2447.2, 69039.4, 96.678, 348.04])
meter.start()
print(sel.level, cf.handler is not None, cf1.handler is not None)
micropython.heap_lock()
for _ in range(1000):
    cf.handler(cf)
    cf1.handler(cf1)
micropython.heap_unlock()
print(meter.p[0], meter.p[2])
time.sleep_ms(250)
micropython.heap_lock()
for _ in range(10):
    cf1.handler(cf1)
micropython.heap_unlock()
print(meter.p[2])
"""


def test_hlw8012_handlers_run_on_micropython_without_allocating(tmp_path):
    """On the real interpreter, the interrupt handlers take no heap (heap_lock); CF1's pulses are counted once SEL
    settled."""
    assert on_micropython(tmp_path, HLW8012_SCRIPT) == ["0 True True", "1000 0", "10"]
