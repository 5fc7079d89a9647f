"""The ADE7953 energy-meter model (tools/vboard/ade7953.py), driven as the bus drives it: bytes in, bytes out."""

import pytest

from tools.vboard.ade7953 import ENERGY_PER_JOULE, IRMS_PER_AMP, POWER_PER_WATT, VRMS_PER_VOLT, ADE7953
from tools.vboard.chips import Nack


class Tick:
    """A monotonic time the test moves by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Mains:
    """What measure() gives: the test changes `truth`."""

    def __init__(self, **truth):
        self.truth = {"volts": 230.0, **truth}

    def __call__(self):
        return dict(self.truth)


def bench(noise=0.0, seed=1, **truth):
    tick, mains = Tick(), Mains(**truth)
    return ADE7953(mains, clock=tick, noise=noise, seed=seed), mains, tick


def write(chip, reg, data):
    chip.write(reg.to_bytes(2, "big") + bytes(data))


def read(chip, reg, n):
    chip.write(reg.to_bytes(2, "big"))
    return chip.read(n)


def value(chip, reg, n, signed=False):
    return int.from_bytes(read(chip, reg, n), "big", signed=signed)


def start_up(chip):
    """What a driver writes first: CONFIG (HPF on, COMM_LOCK cleared), then the key and the setting 0x120 needs."""
    write(chip, 0x102, b"\x00\x04")
    write(chip, 0x0FE, b"\xad")
    write(chip, 0x120, b"\x00\x30")


def near(measured, expected, rel):
    return abs(measured - expected) <= rel * abs(expected)


# the bus

def test_on_address_0x38_registers_as_wide_as_their_address_range():
    chip, _, _ = bench()
    assert chip.addr == 0x38
    assert read(chip, 0x004, 1) == b"\x40"  # LCYCMODE, 8-bit
    assert read(chip, 0x102, 2) == b"\x80\x04"  # CONFIG, 16-bit
    assert read(chip, 0x100, 2) == b"\xff\xff"  # ZXTOUT
    assert read(chip, 0x22C, 3) == b"\x10\x00\x00"  # IRQENA, 24-bit
    assert read(chip, 0x282, 3) == b"\x40\x00\x00"  # AWGAIN: 1.0
    assert read(chip, 0x382, 4) == b"\x00\x40\x00\x00"  # the same register through its 32-bit window
    assert read(chip, 0x224, 3) == b"\xff\xff\xff"  # OVLVL, unsigned
    assert read(chip, 0x324, 4) == b"\x00\xff\xff\xff"
    assert len(read(chip, 0x702, 1)) == 1  # VERSION, 8-bit though above 0x0FF
    assert read(chip, 0x004, 3) == b"\x40\xff\xff"  # past the register's bytes SDA floats high


def test_a_read_of_each_width_returns_that_many_bytes():
    chip, _, _ = bench(amps_a=5.0)
    for reg, n in ((0x004, 1), (0x10A, 2), (0x212, 3), (0x312, 4), (0x21C, 3), (0x31C, 4)):
        assert len(read(chip, reg, n)) == n
    assert value(chip, 0x312, 4, signed=True) == value(chip, 0x212, 3, signed=True)


def test_the_start_up_writes_are_taken():
    chip, _, _ = bench()
    start_up(chip)
    assert value(chip, 0x102, 2) == 0x0004
    assert value(chip, 0x120, 2) == 0x0030
    assert value(chip, 0x0FE, 1) == 0  # the key is write-only


def test_register_0x120_takes_a_write_only_right_after_the_key():
    chip, _, _ = bench()
    write(chip, 0x120, b"\x00\x30")
    assert value(chip, 0x120, 2) == 0
    write(chip, 0x0FE, b"\xad")
    write(chip, 0x001, b"\x00")  # another write between: the key is gone
    write(chip, 0x120, b"\x00\x30")
    assert value(chip, 0x120, 2) == 0
    write(chip, 0x0FE, b"\xad")
    read(chip, 0x004, 1)  # a read between: gone too
    write(chip, 0x120, b"\x00\x30")
    assert value(chip, 0x120, 2) == 0
    write(chip, 0x0FE, b"\xac")  # not the key
    write(chip, 0x120, b"\x00\x30")
    assert value(chip, 0x120, 2) == 0
    start_up(chip)
    assert value(chip, 0x120, 2) == 0x30


def test_last_op_add_and_rwdata_tell_the_last_transaction():
    chip, _, _ = bench()
    write(chip, 0x282, b"\x3f\xff\x00")
    assert value(chip, 0x0FD, 1) == 0xCA
    assert value(chip, 0x1FE, 2) == 0x282
    assert value(chip, 0x2FF, 3) == 0x3FFF00
    read(chip, 0x102, 2)
    assert value(chip, 0x0FD, 1) == 0x35
    assert value(chip, 0x1FE, 2) == 0x102
    assert value(chip, 0x1FF, 2) == 0x8004


# what it measures

def test_a_2000_w_resistive_load_reads_2000_w_its_current_and_the_voltage():
    chip, _, _ = bench(noise=0.001, amps_a=2000 / 230)
    start_up(chip)
    assert near(value(chip, 0x212, 3, signed=True) / POWER_PER_WATT, 2000.0, 0.005)  # AWATT
    assert near(value(chip, 0x312, 4, signed=True) / POWER_PER_WATT, 2000.0, 0.005)
    assert near(value(chip, 0x210, 3, signed=True) / POWER_PER_WATT, 2000.0, 0.005)  # AVA
    assert abs(value(chip, 0x214, 3, signed=True)) / POWER_PER_WATT < 2000 * 0.005  # AVAR
    assert near(value(chip, 0x21A, 3) / IRMS_PER_AMP, 2000 / 230, 0.005)  # IRMSA
    assert near(value(chip, 0x21C, 3) / VRMS_PER_VOLT, 230.0, 0.005)  # VRMS
    assert near(value(chip, 0x10A, 2, signed=True) / 2 ** 15, 1.0, 0.005)  # PFA
    assert value(chip, 0x213, 3, signed=True) == value(chip, 0x21B, 3) == 0  # nothing on channel B
    assert value(chip, 0x10E, 2) == round(223750 / 50 - 1)  # PERIOD at 50 Hz


def test_channel_b_measures_its_own_load():
    chip, _, _ = bench(noise=0.001, amps_b=4.0, pf_b=0.8)
    assert near(value(chip, 0x213, 3, signed=True) / POWER_PER_WATT, 230 * 4.0 * 0.8, 0.005)  # BWATT
    assert near(value(chip, 0x211, 3, signed=True) / POWER_PER_WATT, 230 * 4.0, 0.005)  # BVA
    assert near(value(chip, 0x215, 3, signed=True) / POWER_PER_WATT, 230 * 4.0 * 0.6, 0.005)  # BVAR
    assert near(value(chip, 0x21B, 3) / IRMS_PER_AMP, 4.0, 0.005)
    assert near(value(chip, 0x10B, 2, signed=True) / 2 ** 15, 0.8, 0.005)  # PFB
    assert value(chip, 0x212, 3) == value(chip, 0x21A, 3) == 0


def test_a_load_with_power_factor_one_half_reads_half_the_active_power():
    chip, mains, _ = bench(noise=0.001, amps_a=2000 / 230)
    full = value(chip, 0x212, 3, signed=True)
    mains.truth["pf_a"] = 0.5
    half = value(chip, 0x212, 3, signed=True)
    assert near(half, full / 2, 0.005)
    assert near(value(chip, 0x210, 3, signed=True), full, 0.005)  # the apparent power stays
    assert near(value(chip, 0x10A, 2, signed=True) / 2 ** 15, 0.5, 0.005)
    assert near(value(chip, 0x21A, 3) / IRMS_PER_AMP, 2000 / 230, 0.005)


def test_power_flowing_back_is_negative_and_sign_extended_in_the_32_bit_window():
    chip, _, _ = bench(amps_a=2000 / 230, pf_a=-1.0)
    assert near(value(chip, 0x212, 3, signed=True) / POWER_PER_WATT, -2000.0, 0.005)
    wide = read(chip, 0x312, 4)
    assert wide[0] == 0xFF
    assert int.from_bytes(wide, "big", signed=True) == value(chip, 0x212, 3, signed=True)
    assert read(chip, 0x31A, 4)[0] == 0x00  # IRMSA is unsigned
    assert value(chip, 0x201, 3) & 1 << 10  # ACCMODE: APSIGN_A
    assert not value(chip, 0x201, 3) & 1 << 11


def test_the_gains_scale_what_they_act_on():
    chip, _, _ = bench(amps_a=5.0)
    watts, amps, volts = value(chip, 0x212, 3), value(chip, 0x21A, 3), value(chip, 0x21C, 3)
    write(chip, 0x282, b"\x20\x00\x00")  # AWGAIN 0.5
    assert value(chip, 0x282, 3) == 0x200000
    assert near(value(chip, 0x212, 3), watts / 2, 1e-6)
    assert value(chip, 0x21A, 3) == amps
    write(chip, 0x380, b"\x00\x60\x00\x00")  # AIGAIN 1.5, through the 32-bit window
    assert value(chip, 0x280, 3) == 0x600000
    assert near(value(chip, 0x21A, 3), amps * 1.5, 1e-6)
    assert near(value(chip, 0x212, 3), watts * 0.75, 1e-6)
    write(chip, 0x281, b"\x50\x00\x00")  # AVGAIN 1.25
    assert near(value(chip, 0x21C, 3), volts * 1.25, 1e-6)


# energy

def test_energy_over_an_hour_read_with_reset_in_small_reads_is_watts_times_time():
    volts, amps = 229.7, 8.71
    chip, _, tick = bench(noise=0.001, volts=volts, amps_a=amps)
    start_up(chip)
    assert value(chip, 0x21E, 3) == 0
    total, elapsed = 0, 0.0
    while elapsed < 3600:
        for step in (0.3, 0.7, 1.9, 0.1):
            tick.t += step
            elapsed += step
            total += value(chip, 0x21E, 3, signed=True)  # AENERGYA, cleared by each read (RSTREAD)
    joules = volts * amps * elapsed
    assert near(total / ENERGY_PER_JOULE, joules, 0.001)
    assert abs(total - joules * ENERGY_PER_JOULE) <= 1  # the fractions are carried, not lost
    wrapped = (total + 2 ** 23) % 2 ** 24 - 2 ** 23  # APENERGYA, never read, counted the same hour and wrapped
    assert abs(value(chip, 0x222, 3, signed=True) - wrapped) <= 1


def test_energy_counts_the_time_before_a_change_at_the_old_load_after_sync():
    chip, mains, tick = bench(amps_a=1.0)
    tick.t += 10
    chip.sync()
    mains.truth["amps_a"] = 3.0
    tick.t += 10
    assert value(chip, 0x21E, 3) == round(230 * (1.0 + 3.0) * 10 * ENERGY_PER_JOULE)


def test_without_rstread_a_read_leaves_the_energy_and_it_wraps_at_24_bits():
    chip, _, tick = bench(amps_a=16.0)
    write(chip, 0x004, b"\x00")  # LCYCMODE: RSTREAD off
    tick.t += 100
    first = value(chip, 0x21E, 3, signed=True)
    assert first == 230 * 16 * 100 * ENERGY_PER_JOULE
    assert value(chip, 0x21E, 3, signed=True) == first
    tick.t += 200
    counts = 230 * 16 * 300 * ENERGY_PER_JOULE
    assert counts > 2 ** 23
    assert value(chip, 0x21E, 3, signed=True) == counts - 2 ** 24


def test_accmode_positive_only_and_absolute_accumulation():
    chip, _, tick = bench(amps_a=1.0, amps_b=1.0, pf_a=-1.0, pf_b=-1.0)
    tick.t += 10
    assert value(chip, 0x21E, 3, signed=True) == -230 * 10 * ENERGY_PER_JOULE
    assert value(chip, 0x21F, 3, signed=True) == -230 * 10 * ENERGY_PER_JOULE
    write(chip, 0x201, b"\x00\x00\x09")  # A positive-only, B absolute
    tick.t += 10
    assert value(chip, 0x21E, 3, signed=True) == 0
    assert value(chip, 0x21F, 3, signed=True) == 230 * 10 * ENERGY_PER_JOULE


# noise

def test_noise_is_seeded_small_and_reproducible():
    def readings(seed):
        chip, _, _ = bench(noise=0.001, seed=seed, amps_a=2000 / 230)
        return [value(chip, 0x212, 3, signed=True) for _ in range(50)]

    first = readings(3)
    assert readings(3) == first
    assert readings(4) != first
    assert len(set(first)) > 10
    assert all(near(w, 2000 * POWER_PER_WATT, 0.001 + 1e-6) for w in first)


def test_without_noise_the_registers_are_the_quantised_truth():
    chip, _, _ = bench(amps_a=2.5)
    assert value(chip, 0x212, 3) == round(230 * 2.5 * POWER_PER_WATT)
    assert value(chip, 0x21A, 3) == round(2.5 * IRMS_PER_AMP)
    assert value(chip, 0x21C, 3) == round(230 * VRMS_PER_VOLT)


# what it does not have, or does not take

def test_registers_it_does_not_have_read_as_zero():
    chip, _, _ = bench(amps_a=5.0)
    assert read(chip, 0x002, 1) == b"\x00"
    assert read(chip, 0x1F0, 2) == b"\x00\x00"
    assert read(chip, 0x2F0, 3) == b"\x00\x00\x00"
    assert read(chip, 0x500, 2) == b"\x00\x00"


def test_writes_to_read_only_registers_and_of_the_wrong_length_are_ignored():
    chip, _, _ = bench(amps_a=5.0)
    watts = value(chip, 0x212, 3)
    write(chip, 0x212, b"\x00\x00\x01")  # AWATT
    write(chip, 0x21E, b"\x00\x00\x01")  # AENERGYA
    write(chip, 0x702, b"\x77")  # VERSION
    assert value(chip, 0x212, 3) == watts
    assert value(chip, 0x21E, 3) == 0
    assert value(chip, 0x702, 1) != 0x77
    write(chip, 0x282, b"\x20\x00")  # AWGAIN is 3 bytes wide
    assert value(chip, 0x282, 3) == 0x400000


def test_write_protect_keeps_a_group_of_registers():
    chip, _, _ = bench()
    write(chip, 0x040, b"\x04")  # the 24/32-bit registers
    write(chip, 0x282, b"\x20\x00\x00")
    write(chip, 0x382, b"\x00\x20\x00\x00")
    write(chip, 0x101, b"\x00\x10")  # LINECYC, 16-bit: not protected
    assert value(chip, 0x282, 3) == 0x400000
    assert value(chip, 0x101, 2) == 0x10
    write(chip, 0x040, b"\x00")
    write(chip, 0x282, b"\x20\x00\x00")
    assert value(chip, 0x282, 3) == 0x200000


# faults and power

def test_stop_makes_it_answer_nothing_until_start_and_it_keeps_counting():
    chip, _, tick = bench(amps_a=1.0)
    chip.stop()
    with pytest.raises(Nack):
        chip.write(b"\x02\x1e")
    with pytest.raises(Nack):
        chip.read(3)
    tick.t += 10
    chip.start()
    assert value(chip, 0x21E, 3) == 230 * 10 * ENERGY_PER_JOULE


def test_a_power_cycle_loses_every_register():
    chip, _, tick = bench(amps_a=1.0)
    assert value(chip, 0x22E, 3) == 1 << 20  # RSTIRQSTATA: RESET, cleared by the read
    assert value(chip, 0x22D, 3) == 0
    start_up(chip)
    write(chip, 0x004, b"\x00")
    write(chip, 0x282, b"\x20\x00\x00")
    tick.t += 10
    chip.power(False)
    with pytest.raises(Nack):
        read(chip, 0x004, 1)
    tick.t += 10
    chip.power(True)
    tick.t += 1
    assert value(chip, 0x004, 1) == 0x40
    assert value(chip, 0x102, 2) == 0x8004
    assert value(chip, 0x120, 2) == 0
    assert value(chip, 0x282, 3) == 0x400000
    assert value(chip, 0x22D, 3) == 1 << 20
    assert value(chip, 0x21E, 3) == 230 * 1 * ENERGY_PER_JOULE  # only the second since power came back


def test_swrst_resets_the_registers():
    chip, _, _ = bench()
    write(chip, 0x282, b"\x20\x00\x00")
    write(chip, 0x102, b"\x80\x84")  # CONFIG with SWRST
    assert value(chip, 0x282, 3) == 0x400000
    assert value(chip, 0x102, 2) == 0x8004


def test_garble_flips_a_bit_on_the_bus_and_last_rwdata_keeps_what_the_chip_sent():
    chip, _, tick = bench(amps_a=1.0)
    tick.t += 10
    chip.garble(addr=0x21E, bit=0)
    assert value(chip, 0x21C, 3) == 230 * VRMS_PER_VOLT  # another register: untouched
    assert value(chip, 0x21E, 3) == 230 * 10 * ENERGY_PER_JOULE ^ 1
    assert value(chip, 0x2FF, 3) == 230 * 10 * ENERGY_PER_JOULE  # LAST_RWDATA_24: what the chip sent
    assert value(chip, 0x1FE, 2) == 0x21E
    chip.garble(reads=2, bit=23)  # any register, the next two reads
    assert value(chip, 0x21C, 3) == 230 * VRMS_PER_VOLT ^ 1 << 23
    assert value(chip, 0x2FF, 3) == 230 * VRMS_PER_VOLT ^ 1 << 23
    assert value(chip, 0x21C, 3) == 230 * VRMS_PER_VOLT
    chip.garble(reads=50)  # a random bit each time: one bit, never the same value
    assert all(bin(value(chip, 0x102, 2) ^ 0x8004).count("1") == 1 for _ in range(50))


def test_force_puts_a_value_in_a_register_for_its_next_reads_and_last_rwdata_agrees():
    chip, _, tick = bench(amps_a=1.0)
    tick.t += 10
    chip.force(0x212, 0x7FFFFF, reads=2)  # AWATT at its top: 41.9 kW
    assert value(chip, 0x212, 3) == value(chip, 0x2FF, 3) == 0x7FFFFF
    assert value(chip, 0x212, 3) == 0x7FFFFF
    assert value(chip, 0x212, 3) == 230 * POWER_PER_WATT
    chip.force(0x21E, 0x123456)
    assert value(chip, 0x21E, 3) == value(chip, 0x2FF, 3) == 0x123456
    tick.t += 1
    assert value(chip, 0x21E, 3) == 230 * ENERGY_PER_JOULE  # the 10 s before the glitch: lost with it
    chip.force(0x21C, 0)
    chip.power(False)
    chip.power(True)
    assert value(chip, 0x21C, 3) == 230 * VRMS_PER_VOLT  # a power cycle ends it
