"""Register-level behaviour of the virtual board's chip models (tools/vboard/chips.py)."""

import datetime
import json
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tools.vboard.chips import DS1307, DS3231, PCF8574, Clock, Nack

START = 1_700_000_000.0
DT = datetime.datetime
RTCS = [DS3231, DS1307]


class Tick:
    """A time source the test steps by hand; with `step` set, it also moves on at every look."""

    def __init__(self):
        self.t = 0.0
        self.step = 0.0

    def __call__(self):
        self.t += self.step
        return self.t


def bench(model):
    tick = Tick()
    return model(Clock(START, source=tick)), tick


def bcd(value):
    return int(str(value), 16)


def regs(chip, start=0, n=7):
    chip.write(bytes([start]))
    return chip.read(n)


def time_registers(when, hours=None):
    """Registers 00-06 for `when` in 24-hour mode, weekday 1 = Monday, century bit for 21xx."""
    return bytes([bcd(when.second), bcd(when.minute), bcd(when.hour) if hours is None else hours,
                  when.isoweekday(), bcd(when.day), (0x80 if when.year >= 2100 else 0) | bcd(when.month),
                  bcd(when.year % 100)])


datetimes_20xx = st.datetimes(DT(2000, 1, 1), DT(2099, 12, 31, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0))


# Clock

def test_clock_runs_at_real_speed_from_now():
    clock = Clock()
    assert abs(clock.now() - time.time()) < 1
    before = clock.now()
    time.sleep(0.05)
    assert 0.04 < clock.now() - before < 1


def test_clock_set_and_jump():
    tick = Tick()
    clock = Clock(START, source=tick)
    assert clock.now() == START
    tick.t += 2.5
    assert clock.now() == START + 2.5
    clock.jump(3600)
    assert clock.now() == START + 3602.5
    clock.set(1000.0)
    assert clock.now() == 1000.0
    tick.t += 1
    assert clock.now() == 1001.0


# PCF8574

def test_pcf8574_powers_up_with_every_pin_high():
    chip = PCF8574()
    assert chip.addr == 0x20
    assert chip.read(1) == b"\xff"
    assert chip.levels() == 0xFF


def test_pcf8574_latches_the_last_byte_written():
    chip = PCF8574(0x27)
    chip.write(b"\x0f\xa5")
    assert chip.latch == 0xA5
    assert chip.writes == [0x0F, 0xA5]
    assert chip.read(2) == b"\xa5\xa5"
    chip.write(b"")
    assert chip.latch == 0xA5


def test_pcf8574_reads_external_pull_down_on_released_pins_only():
    chip = PCF8574()
    chip.write(b"\xf0")
    chip.pull_low(7)
    chip.pull_low(1)  # already driven low: stays low
    assert chip.read(1)[0] == 0x70
    chip.pull_low(1, False)
    assert chip.levels() == 0x70
    chip.pull_low(7, False)
    assert chip.levels() == 0xF0
    assert chip.latch == 0xF0  # reading never changes the latch


def test_pcf8574_power_cut_releases_every_pin():
    chip = PCF8574()
    chip.write(b"\x00")
    chip.power(False)
    with pytest.raises(Nack):
        chip.read(1)
    with pytest.raises(Nack):
        chip.write(b"\x00")
    chip.power(True)
    assert chip.read(1) == b"\xff"


# both RTCs: time registers

@pytest.mark.parametrize("model", RTCS)
def test_fresh_chip_starts_at_2000_01_01(model):
    chip, _ = bench(model)
    first = regs(chip)
    assert first[1:] == bytes([0x00, 0x00, 0x01, 0x01, 0x01, 0x00])
    assert first[0] & 0x7F == 0
    assert chip.time() == DT(2000, 1, 1)


@pytest.mark.parametrize("model", RTCS)
def test_time_registers_are_bcd(model):
    chip, _ = bench(model)
    chip.set_time(DT(2047, 10, 29, 19, 58, 37))
    assert regs(chip) == bytes([0x37, 0x58, 0x19, 2, 0x29, 0x10, 0x47])


@pytest.mark.parametrize("model", RTCS)
@settings(max_examples=150)
@given(when=datetimes_20xx)
def test_any_time_round_trips_through_the_registers(model, when):
    chip, _ = bench(model)
    chip.set_time(when)
    assert regs(chip) == time_registers(when)
    assert chip.time() == when


@pytest.mark.parametrize("model", RTCS)
@settings(max_examples=150)
@given(when=datetimes_20xx, h12=st.booleans())
def test_any_time_written_over_i2c_is_counted(model, when, h12):
    chip, _ = bench(model)
    hours = None
    if h12:
        hours = 0x40 | (0x20 if when.hour >= 12 else 0) | bcd(when.hour % 12 or 12)
    written = time_registers(when, hours)
    chip.write(b"\x00" + written)
    assert chip.time() == when
    assert regs(chip) == written  # read back in the mode it was written in


@pytest.mark.parametrize("model", RTCS)
@settings(max_examples=150)
@given(when=datetimes_20xx, elapsed=st.integers(0, 10 * 366 * 86400))
def test_the_calendar_counts_like_the_gregorian_one_until_2099(model, when, elapsed):
    later = when + datetime.timedelta(seconds=elapsed)
    assume(later.year <= 2099)
    chip, tick = bench(model)
    chip.set_time(when)
    tick.t += elapsed
    assert chip.time() == later
    assert regs(chip) == time_registers(later)  # the weekday followed too


def test_12_hour_mode_keeps_counting_in_12_hour_mode():
    chip, tick = bench(DS3231)
    chip.write(bytes([0x00, 0x59, 0x59, 0x40 | 0x20 | 0x11, 3, 0x14, 0x03, 0x24]))  # 11:59:59 PM
    assert chip.time() == DT(2024, 3, 14, 23, 59, 59)
    tick.t += 1
    assert regs(chip, 2, 1)[0] == 0x40 | 0x12  # 12 AM
    assert chip.time() == DT(2024, 3, 15, 0, 0, 0)
    tick.t += 3600
    assert regs(chip, 2, 1)[0] == 0x40 | 0x01
    tick.t += 11 * 3600
    assert regs(chip, 2, 1)[0] == 0x40 | 0x20 | 0x12  # 12 PM
    tick.t += 3600
    assert regs(chip, 2, 1)[0] == 0x40 | 0x20 | 0x01
    chip.write(bytes([0x02, 0x13]))  # back to 24-hour mode
    tick.t += 3600
    assert regs(chip, 2, 1)[0] == 0x14


@pytest.mark.parametrize("model", RTCS)
def test_weekday_counts_on_at_midnight_from_whatever_was_written(model):
    chip, tick = bench(model)
    chip.set_time(DT(2024, 3, 14, 23, 59, 58))  # a Thursday
    chip.write(bytes([0x03, 7]))
    tick.t += 1
    assert regs(chip, 3, 1)[0] == 7
    tick.t += 1
    assert regs(chip, 3, 1)[0] == 1
    tick.t += 86400
    assert regs(chip, 3, 1)[0] == 2
    chip.write(bytes([0x04, 0x01]))  # a new date leaves the weekday alone
    assert regs(chip, 3, 2) == bytes([2, 0x01])
    tick.t += 86400
    assert regs(chip, 3, 1)[0] == 3


def test_ds3231_century_bit_toggles_when_the_year_wraps():
    chip, tick = bench(DS3231)
    chip.set_time(DT(2099, 12, 31, 23, 59, 59))
    assert regs(chip)[5:] == bytes([0x12, 0x99])
    tick.t += 1
    assert regs(chip) == bytes([0x00, 0x00, 0x00, 5, 0x01, 0x80 | 0x01, 0x00])
    assert chip.time() == DT(2100, 1, 1)
    chip.set_time(DT(2199, 12, 31, 23, 59, 59))
    tick.t += 1
    assert regs(chip)[4:] == bytes([0x01, 0x01, 0x00])
    assert chip.time() == DT(2000, 1, 1)


def test_ds3231_takes_2100_for_a_leap_year_like_the_real_chip():
    chip, tick = bench(DS3231)
    chip.set_time(DT(2100, 2, 28, 23, 59, 59))
    tick.t += 1
    assert regs(chip)[4:] == bytes([0x29, 0x82, 0x00])


def test_ds1307_wraps_2099_to_2000():
    chip, tick = bench(DS1307)
    chip.set_time(DT(2099, 12, 31, 23, 59, 59))
    tick.t += 1
    assert regs(chip)[4:] == bytes([0x01, 0x01, 0x00])
    assert chip.time() == DT(2000, 1, 1)
    with pytest.raises(ValueError):
        chip.set_time(DT(2100, 1, 1))


@pytest.mark.parametrize("model", RTCS)
def test_a_multi_register_read_is_latched_at_start(model):
    chip, tick = bench(model)
    chip.set_time(DT(2024, 12, 31, 23, 59, 59))
    tick.t += 0.75
    tick.step = 0.05  # the world moves on at every look: midnight falls within the 7-byte read
    first = regs(chip)
    assert first in (time_registers(DT(2024, 12, 31, 23, 59, 59)), time_registers(DT(2025, 1, 1)))


@pytest.mark.parametrize("model", RTCS)
def test_pointer_auto_increments_across_reads(model):
    chip, _ = bench(model)
    chip.set_time(DT(2031, 5, 6, 7, 8, 9))
    assert regs(chip, 1, 3) == bytes([0x08, 0x07, 2])
    assert chip.read(3) == bytes([0x06, 0x05, 0x31])


def test_ds3231_pointer_wraps_after_0x12():
    chip, _ = bench(DS3231)
    chip.set_time(DT(2031, 5, 6, 7, 8, 9))
    chip.temperature = 21.75
    assert regs(chip, 0x11, 3) == bytes([0x15, 0xC0, 0x09])
    chip.write(bytes([0x12, 0xFF, 0x30]))  # temperature is read-only; the next byte lands in the seconds
    assert regs(chip, 0x11, 3) == bytes([0x15, 0xC0, 0x30])


def test_ds1307_pointer_wraps_after_0x3f():
    chip, tick = bench(DS1307)
    chip.write(bytes([0x3E, 0x11, 0x22, 0x05]))  # RAM 3E, 3F, then seconds = 5 with CH = 0
    assert regs(chip, 0x3E, 3) == bytes([0x11, 0x22, 0x05])
    tick.t += 2
    assert regs(chip, 0x3F, 2) == bytes([0x22, 0x07])  # CH cleared: the clock runs


@pytest.mark.parametrize("model", RTCS)
def test_writing_the_seconds_resets_the_sub_second_divider(model):
    chip, tick = bench(model)
    chip.set_time(DT(2024, 1, 1, 12, 0, 0))
    tick.t += 0.7
    chip.write(bytes([0x00, 0x10]))
    tick.t += 0.5
    assert regs(chip, 0, 1)[0] == 0x10
    tick.t += 0.5
    assert regs(chip, 0, 1)[0] == 0x11


@pytest.mark.parametrize("model", RTCS)
def test_writing_other_time_registers_keeps_the_sub_second_phase(model):
    chip, tick = bench(model)
    chip.set_time(DT(2024, 1, 1, 12, 0, 0))
    tick.t += 0.7
    chip.write(bytes([0x01, 0x22]))
    tick.t += 0.5
    assert regs(chip, 0, 2) == bytes([0x01, 0x22])


@pytest.mark.parametrize("model", RTCS)
def test_a_write_re_derives_the_time_from_all_registers(model):
    chip, tick = bench(model)
    chip.set_time(DT(2024, 1, 31, 10, 0, 0))
    chip.write(bytes([0x05, 0x03]))
    assert chip.time() == DT(2024, 3, 31, 10, 0, 0)
    chip.write(bytes([0x06, 0x25]))
    assert chip.time() == DT(2025, 3, 31, 10, 0, 0)
    tick.t += 86400
    assert chip.time() == DT(2025, 4, 1, 10, 0, 0)


# DS3231 specifics

def test_ds3231_fresh_chip_has_osf_set_and_runs():
    chip, tick = bench(DS3231)
    assert regs(chip, 0x0E, 2) == bytes([0x1C, 0x88])
    tick.t += 5
    assert chip.time() == DT(2000, 1, 1, 0, 0, 5)


def test_ds3231_osf_stays_set_until_written_zero():
    chip, _ = bench(DS3231)
    chip.write(bytes([0x00, 0x00, 0x00, 0x00, 1, 0x01, 0x01, 0x24]))  # setting the time alone keeps OSF
    assert regs(chip, 0x0F, 1)[0] & 0x80
    chip.write(bytes([0x0F, 0x08]))
    assert regs(chip, 0x0F, 1)[0] == 0x08
    chip.write(bytes([0x0F, 0x80]))  # writing 1 cannot set it; EN32kHz is a plain bit
    assert regs(chip, 0x0F, 1)[0] == 0x00


def test_ds3231_stopped_oscillator_freezes_time_until_it_is_written():
    chip, tick = bench(DS3231)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    assert not regs(chip, 0x0F, 1)[0] & 0x80
    tick.t += 10
    chip.stop_oscillator()
    assert regs(chip, 0x0F, 1)[0] & 0x80
    tick.t += 100
    assert chip.time() == DT(2024, 6, 1, 8, 0, 10)
    chip.write(bytes([0x00, 0x00, 0x05]))
    tick.t += 3
    assert chip.time() == DT(2024, 6, 1, 8, 5, 3)
    assert regs(chip, 0x0F, 1)[0] & 0x80  # until written 0
    chip.set_time(DT(2024, 6, 1, 9, 0, 0))
    assert not regs(chip, 0x0F, 1)[0] & 0x80


def test_ds3231_control_aging_and_alarms_are_stored():
    chip, _ = bench(DS3231)
    chip.write(bytes([0x07, 1, 2, 3, 4, 5, 6, 7, 0x05]))
    chip.write(bytes([0x10, 0xF9]))
    assert regs(chip, 0x07, 10) == bytes([1, 2, 3, 4, 5, 6, 7, 0x05, 0x88, 0xF9])


@pytest.mark.parametrize("celsius, msb, lsb", [
    (25.0, 0x19, 0x00), (21.5, 0x15, 0x80), (0.0, 0x00, 0x00), (-0.25, 0xFF, 0xC0),
    (-10.75, 0xF5, 0x40), (-40.0, 0xD8, 0x00), (85.25, 0x55, 0x40), (-128.0, 0x80, 0x00),
    (22.1, 0x16, 0x00), (22.2, 0x16, 0x40),
])
def test_ds3231_temperature_registers(celsius, msb, lsb):
    chip, _ = bench(DS3231)
    chip.temperature = celsius
    assert regs(chip, 0x11, 2) == bytes([msb, lsb])


def test_ds3231_power_cut_with_battery_keeps_time_running():
    chip, tick = bench(DS3231)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    chip.write(bytes([0x02, 0x48]))  # 8 AM, 12-hour mode
    chip.write(bytes([0x10, 0x05]))
    chip.power(False)
    with pytest.raises(Nack):
        chip.read(1)
    with pytest.raises(Nack):
        chip.write(b"\x00")
    tick.t += 3600
    chip.power(True)
    assert chip.time() == DT(2024, 6, 1, 9, 0, 0)
    assert regs(chip, 0x02, 1)[0] == 0x49
    assert regs(chip, 0x0F, 2) == bytes([0x08, 0x05])


def test_ds3231_power_cut_without_battery_loses_everything():
    chip, tick = bench(DS3231)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    chip.write(bytes([0x02, 0x48]))
    chip.write(bytes([0x0E, 0x04, 0x00, 0x05]))
    chip.battery = False
    chip.power(False)
    tick.t += 3600
    chip.power(True)
    assert regs(chip, 0x0E, 3) == bytes([0x1C, 0x88, 0x00])
    assert regs(chip) == bytes([0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00])
    tick.t += 2
    assert chip.time() == DT(2000, 1, 1, 0, 0, 2)


def test_power_back_on_without_a_cut_changes_nothing():
    chip, _ = bench(DS3231)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    chip.battery = False
    chip.power(True)
    assert chip.time() == DT(2024, 6, 1, 8, 0, 0)


# DS1307 specifics

def test_ds1307_fresh_chip_is_halted_until_ch_is_cleared():
    chip, tick = bench(DS1307)
    assert regs(chip, 0, 1)[0] == 0x80
    tick.t += 10
    assert regs(chip, 0, 1)[0] == 0x80
    assert chip.time() == DT(2000, 1, 1)
    chip.write(bytes([0x01, 0x30]))  # another register: still halted
    tick.t += 10
    assert regs(chip, 0, 2) == bytes([0x80, 0x30])
    chip.write(bytes([0x00, 0x00]))
    tick.t += 3
    assert regs(chip, 0, 2) == bytes([0x03, 0x30])


def test_ds1307_ch_halts_a_running_clock():
    chip, tick = bench(DS1307)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    tick.t += 5
    chip.write(bytes([0x00, 0x80 | 0x05]))
    tick.t += 60
    assert regs(chip, 0, 1)[0] == 0x85
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    chip.stop_oscillator()
    assert regs(chip, 0, 1)[0] == 0x80


def test_ds1307_control_and_ram():
    chip, _ = bench(DS1307)
    assert regs(chip, 0x07, 1)[0] == 0x03
    ram = bytes(range(100, 156))
    chip.write(bytes([0x07, 0x10]) + ram)
    assert regs(chip, 0x07, 57) == bytes([0x10]) + ram


def test_ds1307_power_cut_with_battery_keeps_time_and_ram():
    chip, tick = bench(DS1307)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    chip.write(bytes([0x08, 0xAB, 0xCD]))
    chip.power(False)
    with pytest.raises(Nack):
        chip.read(1)
    tick.t += 3600
    chip.power(True)
    assert chip.time() == DT(2024, 6, 1, 9, 0, 0)
    assert regs(chip, 0x08, 2) == bytes([0xAB, 0xCD])


def test_ds1307_power_cut_without_battery_loses_everything():
    chip, tick = bench(DS1307)
    chip.set_time(DT(2024, 6, 1, 8, 0, 0))
    chip.write(bytes([0x07, 0x10, 0xAB, 0xCD]))
    chip.battery = False
    chip.power(False)
    tick.t += 3600
    chip.power(True)
    assert regs(chip, 0, 0x0A) == bytes([0x80, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0x03, 0x00, 0x00])
    tick.t += 5
    assert chip.time() == DT(2000, 1, 1)


# what the battery keeps between runs of the virtual board (Bench saves it beside the board folder)

@pytest.mark.parametrize("model", RTCS)
def test_a_chip_taken_back_from_its_state_keeps_counting_time_weekday_and_registers(model):
    chip, tick = bench(model)
    chip.set(START + 0.75)  # 2023-11-14 22:13:20.75, a Tuesday
    chip.write(bytes([0x03, 7]))  # the driver's own weekday convention: the chip counts on from it
    chip.write(bytes([model.CONTROL, 0x10]))
    state = json.loads(json.dumps(chip.state()))
    tick.t += 86400  # a day on the battery, the board unplugged
    again = model(chip.clock)
    again.restore(state)
    assert again.time() == chip.time() == DT(2023, 11, 15, 22, 13, 20)
    tick.t += 0.3  # the sub-second phase is kept too
    assert again.time() == DT(2023, 11, 15, 22, 13, 21)
    assert regs(again, 0x03, 1)[0] == 1 and regs(again, model.CONTROL, 1)[0] == 0x10


@pytest.mark.parametrize("model", RTCS)
def test_a_stopped_or_lost_chip_is_taken_back_stopped_or_lost(model):
    chip, tick = bench(model)
    chip.set(START)
    chip.stop_oscillator()
    tick.t += 100
    again = model(chip.clock)
    again.restore(chip.state())
    tick.t += 100
    assert again.time() == DT(2023, 11, 14, 22, 13, 20)
    chip.lose()
    again.restore(chip.state())
    assert again.time() == DT(2000, 1, 1)
    assert (regs(again, 0x0F, 1)[0] & 0x80) if model is DS3231 else (regs(again, 0, 1)[0] & 0x80)
    chip.battery = False
    assert chip.state() is None
    with pytest.raises(ValueError):
        (DS1307 if model is DS3231 else DS3231)(chip.clock).restore(again.state())


def test_a_register_address_goes_out_in_addrsize_bits_as_the_port_sends_it():
    """extmod/machine_i2c.c: readfrom_mem/writeto_mem send the register's address in addrsize bits, most significant
    byte first (an ADE7953's registers are numbered in 16 bits); any size not a multiple of 8 up to 32 is refused."""
    from tools.vboard import hw

    assert hw._memaddr(0x0E, 8) == b"\x0e" and hw._memaddr(0x212, 16) == b"\x02\x12"
    assert hw._memaddr(0x1234, 8) == b"\x34" and hw._memaddr(7, 0) == b"" and hw._memaddr(7, 256 + 8) == b"\x07"
    for bad in (12, 40):
        with pytest.raises(ValueError, match="invalid addrsize"):
            hw._memaddr(1, bad)
