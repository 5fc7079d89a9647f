"""The RFID readers' drivers (firmware/drivers/mfrc522.py, pn532.py) against the virtual board's chip models
(tools/vboard/rfid.py): under CPython through small bus adapters, then on the real MicroPython on virtual boards
(MFRC522 on SPI and on I2C, PN532 on I2C), and the sim console's tap and untap."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "cpython"), str(ROOT / "firmware")]

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from drivers import mfrc522 as mfrc522_driver  # noqa: E402
from drivers.mfrc522 import MFRC522  # noqa: E402
from drivers.pn532 import PN532  # noqa: E402
from tools.vboard import rfid  # noqa: E402
from tools.vboard.chips import Nack  # noqa: E402
from tools.vboard.console import handle, snapshot, status_lines, text  # noqa: E402

ACCESS = 100e-6  # bus time one register access or I2C transaction takes, as the chips' clocks see it
FOUR, SEVEN, TEN = bytes.fromhex("c0ffee42"), bytes.fromhex("04a1b2c3d4e5f6"), bytes.fromhex("0811223344556677889a")


class Tick:
    """The chips' time: advanced by the buses, one ACCESS per transaction."""

    def __init__(self):
        self.t = 0.0
        self.accesses = 0

    def __call__(self):
        return self.t

    def step(self):
        self.t += ACCESS
        self.accesses += 1


class SPI:
    """machine.SPI (write_readinto) and the CS pin over an MFRC522 model."""

    def __init__(self, chip, tick):
        self.chip, self.tick = chip, tick

    def write_readinto(self, out, into):
        self.tick.step()
        into[:] = self.chip.transfer(bytes(out))

    def cs(self, level):
        self.chip.select(level == 0)


class I2C:
    """The machine.I2C methods the drivers use, one model call per bus transaction; no acknowledge: ENODEV."""

    def __init__(self, chip, tick):
        self.chip, self.tick = chip, tick

    def _do(self, fn, *a):
        self.tick.step()
        try:
            return fn(*a)
        except Nack:
            raise OSError(19) from None

    def writeto(self, addr, buf):
        assert addr == self.chip.addr
        self._do(self.chip.write, bytes(buf))

    def readfrom_into(self, addr, buf):
        assert addr == self.chip.addr
        buf[:] = self._do(self.chip.read, len(buf))

    def writeto_mem(self, addr, reg, buf):
        self.writeto(addr, bytes([reg]) + bytes(buf))

    def readfrom_mem_into(self, addr, reg, buf):
        self.writeto(addr, bytes([reg]))
        self.readfrom_into(addr, buf)


KINDS = ["mfrc522-spi", "mfrc522-i2c", "pn532"]
MFRC522_KINDS = KINDS[:2]


def reader(kind, version=0x92, init=True):
    """(field, chip model, driver, tick) for a reader of that kind, set up by its driver's init()."""
    tick, field = Tick(), rfid.Field()
    if kind == "pn532":
        chip = rfid.PN532(field)
        driver = PN532(I2C(chip, tick))
    else:
        chip = rfid.MFRC522(field, version=version, clock=tick)
        if kind == "mfrc522-spi":
            spi = SPI(chip, tick)
            driver = MFRC522(spi=spi, cs=spi.cs)
        else:
            driver = MFRC522(i2c=I2C(chip, tick))
    if init:
        driver.init()
    return field, chip, driver, tick


every_reader = pytest.mark.parametrize("kind", KINDS)
mfrc522_readers = pytest.mark.parametrize("kind", MFRC522_KINDS)


def frames_to_read(uid):
    """Frames a card answers while it is read: REQA or WUPA, then anticollision and SELECT per cascade level."""
    return 1 + 2 * (len(uid) // 3)


class Task:
    """The rule firmware/rfid.py applies to what read() gives, every ~150 ms: a new UID is a tap; the same UID
    again is not, until two empty polls in a row said the card left."""

    def __init__(self, driver):
        self.driver, self.last, self.gone, self.taps = driver, None, 0, []

    def poll(self, times=1):
        for _ in range(times):
            uid = self.driver.read()
            if uid is None:
                self.gone += 1
                if self.gone >= 2:
                    self.last = None
                continue
            self.gone = 0
            if uid != self.last:
                self.last = uid
                self.taps.append(uid)


def uids():
    """Any UID a card can have: 4, 7 or 10 bytes, the cascade tag 0x88 never leading its last cascade level."""
    return st.sampled_from([4, 7, 10]).flatmap(
        lambda n: st.binary(min_size=n, max_size=n).filter(lambda u: u[3 * (n // 3 - 1)] != 0x88))


# the field and its cards

def test_crc_a_of_the_model_and_the_driver_match_the_reference_vectors():
    for data, crc in ((b"\x00\x00", "a01e"), (b"\x12\x34", "26cf"), (b"\x50\x00", "57cd"), (b"\x30\x00", "02a8")):
        assert rfid.crc_a(data).hex() == crc
        value = mfrc522_driver._crc(data, 0, 2)
        assert bytes((value & 0xFF, value >> 8)).hex() == crc
        assert mfrc522_driver._crc(data + rfid.crc_a(data), 0, 4) == 0  # what the driver checks a SAK with


def test_cards_refuse_uids_no_card_can_have():
    for bad in (b"\x88\x01\x02\x03", b"\x04\x01\x02\x88\x05\x06\x07", b"\x01\x02\x03", bytes(8)):
        with pytest.raises(ValueError):
            rfid.Field().place(bad)
    with pytest.raises(ValueError):
        rfid.Field().place(FOUR, sak=0x04)  # the cascade bit in a last SAK


def test_a_card_answers_as_iso_14443_3_says():
    field = rfid.Field()
    card = field.place(SEVEN)
    field.power(True)

    def send(data, nbits=None):
        answer, coll = field.transceive(rfid.to_bits(data, nbits))
        assert coll is None
        return answer and rfid.to_bytes(answer)

    assert send(b"\x26", 7) == b"\x44\x00" and card.state == rfid.READY  # ATQA of a double-size UID
    assert send(b"\x93\x20") == bytes([0x88, 0x04, 0xA1, 0xB2, 0x88 ^ 0x04 ^ 0xA1 ^ 0xB2])  # cascade tag, BCC
    sel = b"\x93\x70\x88\x04\xa1\xb2" + bytes([0x88 ^ 0x04 ^ 0xA1 ^ 0xB2])
    assert send(sel + rfid.crc_a(sel)) == b"\x04" + rfid.crc_a(b"\x04")  # SAK: UID not complete
    assert send(b"\x95\x20")[:4] == SEVEN[3:]
    sel = b"\x95\x70" + SEVEN[3:] + bytes([SEVEN[3] ^ SEVEN[4] ^ SEVEN[5] ^ SEVEN[6]])
    assert send(sel + b"\x00\x00") is None and card.state == rfid.IDLE  # a bad CRC_A: back to IDLE
    assert send(b"\x26", 7) and send(b"\x93\x20") and send(b"\x93\x70\x88\x04\xa1\xb2\x9f" + rfid.crc_a(
        b"\x93\x70\x88\x04\xa1\xb2\x9f")) and send(b"\x95\x20")
    assert send(sel + rfid.crc_a(sel)) == b"\x00" + rfid.crc_a(b"\x00") and card.state == rfid.ACTIVE
    assert send(b"\x50\x00" + rfid.crc_a(b"\x50\x00")) is None and card.state == rfid.HALT
    assert send(b"\x26", 7) is None  # a halted card ignores REQA...
    assert send(b"\x52", 7) == b"\x44\x00"  # ...and answers WUPA
    assert send(b"\x26", 7) is None and card.state == rfid.HALT  # an unexpected frame: back to HALT (READY*)
    field.power(False)
    field.power(True)
    assert card.state == rfid.IDLE and send(b"\x26", 7) == b"\x44\x00"  # the field went: the card starts afresh


# the drivers against the models

@settings(max_examples=25, deadline=None)
@given(uid=uids())
@pytest.mark.parametrize("kind", KINDS)
def test_any_uid_is_read_while_the_card_stays_and_no_more_once_it_left(kind, uid):
    field, chip, driver, _ = reader(kind)
    assert driver.read() is None
    field.place(uid)
    assert driver.read() == uid
    assert driver.read() == uid  # still there: presence, every poll
    if kind != "pn532":
        assert field.cards[0].state == rfid.HALT  # read, then halted
        assert driver.read(False) is None  # REQA: a halted card is no new card
        assert driver.read() == uid
        # the anticollision answers of that read: the cascade tag leads each level but the last, each ends in its BCC
        answers = [bytes.fromhex(e[2]) for e in field.log if e[0] in ("9320", "9520", "9720")][-(len(uid) // 3):]
        assert [a[0] for a in answers] == [0x88] * (len(answers) - 1) + [uid[-4]]
        assert all(a[0] ^ a[1] ^ a[2] ^ a[3] == a[4] for a in answers)
    field.remove()
    assert driver.read() is None


@every_reader
def test_a_card_left_on_the_reader_taps_once_and_again_only_after_it_left(kind):
    field, chip, driver, _ = reader(kind)
    task = Task(driver)
    field.place(SEVEN)
    task.poll(20)  # three seconds on the reader
    assert task.taps == [SEVEN] and task.last == SEVEN
    field.remove()
    task.poll(1)
    field.place(SEVEN)  # gone for one poll only: a glitch, not a new tap
    task.poll(5)
    assert task.taps == [SEVEN]
    field.remove()
    task.poll(2)
    assert task.last is None  # two empty polls: the card left
    field.place(SEVEN)
    field.place(FOUR)
    field.remove(SEVEN)
    task.poll(3)
    field.remove()
    task.poll(2)
    field.place(SEVEN)
    task.poll(3)
    assert task.taps == [SEVEN, FOUR, SEVEN]


@every_reader
@pytest.mark.parametrize("uid", [FOUR, SEVEN, TEN], ids=["4", "7", "10"])
def test_a_card_that_leaves_in_the_middle_of_a_read_gives_no_uid_and_the_next_poll_works(kind, uid):
    needed = frames_to_read(uid)
    for frames in range(needed + 1):
        for cut in (0, 3, 12):
            field, chip, driver, _ = reader(kind)
            field.place(uid)
            field.remove_after(frames, cut)
            assert driver.read() == (uid if frames == needed else None), (frames, cut)
            if frames == needed:  # read whole: it leaves while answering the next poll
                assert driver.read() is None
            assert field.cards == [] and driver.read() is None
            field.place(FOUR)
            assert driver.read() == FOUR


@every_reader
@pytest.mark.parametrize("uid", [FOUR, SEVEN], ids=["4", "7"])
def test_a_bit_flipped_by_noise_never_gives_a_wrong_uid(kind, uid):
    for frame in range(frames_to_read(uid)):
        for bit in range(40):
            field, chip, driver, _ = reader(kind)
            field.place(uid)
            field.flip(frame, bit)
            assert driver.read() in (None, uid), (frame, bit)  # a BCC or a CRC_A that does not check: nothing
            assert driver.read() == uid
            selected = [bytes.fromhex(sent)[2:7] for sent, *_ in field.log if sent[:4] in ("9370", "9570")]
            assert set(selected) <= set(field.cards[0].levels)  # a UID damaged on the way is not even selected


@every_reader
def test_two_cards_at_once_never_give_a_mixed_uid(kind):
    field, chip, driver, _ = reader(kind)
    other = bytes.fromhex("c0ffee43")
    field.place(FOUR)
    field.place(other)
    got = driver.read()
    if kind == "pn532":
        assert got in (FOUR, other)  # the PN532 resolves the collision itself and picks one
    else:
        assert got is None  # the driver takes no side in a collision: the person takes one card away
    field.remove(other)
    assert driver.read() == FOUR  # at the next poll


@mfrc522_readers
@pytest.mark.parametrize("version", [0x91, 0x92, 0x88, 0x89, 0xB2, 0x12])
def test_mfrc522_genuine_and_clone_versions_read_cards(kind, version):
    field, chip, driver, _ = reader(kind, version)
    assert driver.version() == version
    field.place(SEVEN)
    assert driver.read() == SEVEN


@mfrc522_readers
@pytest.mark.parametrize("version", [0x00, 0xFF])
def test_mfrc522_no_chip_is_refused_at_init(kind, version):
    field, chip, driver, _ = reader(kind, version, init=False)
    with pytest.raises(OSError) as e:
        driver.init()
    assert e.value.args[0] == 19  # ENODEV
    assert not field.on  # nothing was set up


def test_mfrc522_an_empty_poll_ends_on_the_chips_timer():
    field, chip, driver, tick = reader("mfrc522-spi")
    assert field.on  # the antenna
    assert 0.009 < chip.timer_period() < 0.011
    t0, n0 = tick.t, tick.accesses
    assert driver.read() is None
    assert 0.009 < tick.t - t0 < 0.015  # about the timer's 10 ms of bus time
    assert tick.accesses - n0 < 200  # far from the driver's own bound (1000 reads of ComIrqReg)


@pytest.mark.parametrize("kind, dead, errno", [("mfrc522-spi", 0xFF, 19), ("mfrc522-spi", 0x00, 110),
                                               ("mfrc522-i2c", 0xFF, 19), ("pn532", True, 19)])
def test_a_dead_bus_fails_cleanly_and_the_reader_works_when_it_comes_back(kind, dead, errno):
    field, chip, driver, tick = reader(kind)
    field.place(FOUR)
    chip.dead = dead
    t0 = tick.t
    for _ in range(3):
        with pytest.raises(OSError) as e:
            driver.read()
        assert e.value.args[0] == errno
    assert tick.t - t0 < 0.5  # each failure bounded: a fraction of a second of bus time
    with pytest.raises(OSError):
        driver.init()
    chip.dead = None if kind != "pn532" else False
    # no init needed: the chip was left ready (a card the dead bus left half-read may miss one poll, which the
    # polling task's rule forgives)
    assert FOUR in (driver.read(), driver.read())


@mfrc522_readers
def test_mfrc522_after_a_power_cut_init_sets_it_up_again(kind):
    field, chip, driver, _ = reader(kind)
    field.place(FOUR)
    assert driver.read() == FOUR
    chip.power(False)
    chip.power(True)
    with pytest.raises(OSError) as e:  # reset behind the driver's back: its timer unset, a command never ends
        driver.read()
    assert e.value.args[0] == 110 and not field.on
    driver.init()
    assert driver.read() == FOUR  # the card lost its power with the field: no longer halted


def test_mfrc522_registers():
    tick = Tick()
    field = rfid.Field()
    chip = rfid.MFRC522(field, clock=tick)
    spi = SPI(chip, tick)

    def xfer(*data):
        spi.cs(0)
        out = chip.transfer(bytes(data))
        spi.cs(1)
        return out

    def rd(reg):
        return xfer(0x80 | reg << 1, 0)[1]

    assert rd(rfid.VERSION) == 0x92 and rd(rfid.COMMAND) == 0x20 and rd(rfid.COM_IRQ) == 0x14
    xfer(rfid.FIFO_DATA << 1, 0x12, 0x34, 0x99)  # a burst into the FIFO
    assert rd(rfid.FIFO_LEVEL) == 3
    assert xfer(*[0x80 | rfid.FIFO_DATA << 1] * 3, 0)[1:] == b"\x12\x34\x99"  # chained reads in one transaction
    xfer(rfid.FIFO_DATA << 1, 0x12, 0x34)
    xfer(rfid.MODE << 1, 0x3D)  # CRC preset 0x6363
    xfer(rfid.COMMAND << 1, rfid.C_CALC_CRC)
    assert rd(rfid.DIV_IRQ) & rfid.CRC_IRQ and (rd(rfid.CRC_RESULT_LO), rd(rfid.CRC_RESULT_HI)) == (0x26, 0xCF)
    assert rd(rfid.FIFO_LEVEL) == 0  # the coprocessor took the bytes
    xfer(rfid.COM_IRQ << 1, 0x80 | 0x21)  # bit 7 set: the marked bits are set
    assert rd(rfid.COM_IRQ) & 0x21 == 0x21
    xfer(rfid.COM_IRQ << 1, 0x01)  # bit 7 clear: the marked bits are cleared
    assert rd(rfid.COM_IRQ) & 0x21 == 0x20
    xfer(rfid.FIFO_DATA << 1, 1, 2, 3)
    xfer(rfid.FIFO_LEVEL << 1, 0x80)  # flush
    assert rd(rfid.FIFO_LEVEL) == 0
    xfer(rfid.TX_CONTROL << 1, 0x83)
    assert field.on
    xfer(rfid.COMMAND << 1, rfid.C_SOFT_RESET)
    assert not field.on and rd(rfid.TX_CONTROL) == 0x80 and rd(rfid.MODE) == 0x3F
    assert chip.transfer(b"\x80\x00") == b"\xff\xff"  # not selected: MISO floats
    chip.reset_pin(0)
    assert xfer(0x80 | rfid.VERSION << 1, 0) == b"\xff\xff"  # hard power-down: no answer
    chip.reset_pin(1)
    assert rd(rfid.VERSION) == 0x92


def test_mfrc522_bit_oriented_anticollision_with_two_cards():
    """Two cards whose UIDs part at bit 9: the collision's position, then the reader settles the bits it knows and
    the card that has them answers the rest (RxAlign puts its first bit where the known ones end)."""
    tick = Tick()
    field = rfid.Field()
    chip = rfid.MFRC522(field, clock=tick)
    a, b = bytes.fromhex("11223344"), bytes.fromhex("11203344")  # byte 1: 0x22 vs 0x20, bit 1 differs
    field.place(a)
    field.place(b)
    i2c = I2C(chip, tick)
    w = lambda reg, *v: i2c.writeto(0x28, bytes([reg, *v]))  # noqa: E731

    def r(reg, n=1):
        buf = bytearray(n)
        i2c.readfrom_mem_into(0x28, reg, buf)
        return bytes(buf)

    w(rfid.TX_CONTROL, 0x83)
    w(rfid.COMMAND, rfid.C_TRANSCEIVE)
    for data, bits in ((b"\x26", 7), (b"\x93\x20", 0)):
        w(rfid.FIFO_LEVEL, 0x80)
        w(rfid.FIFO_DATA, *data)
        w(rfid.BIT_FRAMING, 0x80 | bits)
    assert r(rfid.ERROR)[0] & rfid.COLL_ERR and r(rfid.COLL)[0] & 0x1F == 10  # bit 10 of the answer, from 1
    w(rfid.FIFO_LEVEL, 0x80)
    w(rfid.FIFO_DATA, 0x93, 0x32, 0x11, 0x02)  # NVB: 3 bytes and 2 bits; the colliding bit chosen 1: card a
    w(rfid.BIT_FRAMING, 0x80 | 2 << 4 | 2)  # RxAlign 2, TxLastBits 2
    assert r(rfid.ERROR)[0] == 0 and r(rfid.FIFO_LEVEL)[0] == 4
    got = r(rfid.FIFO_DATA, 4)
    assert got[0] & 0xFC == 0x22 & 0xFC and got[1:] == bytes([0x33, 0x44, 0x11 ^ 0x22 ^ 0x33 ^ 0x44])


# PN532 frames

def pn532():
    field, chip, driver, tick = reader("pn532", init=False)
    return field, chip, driver


def test_pn532_firmware_version_sam_configuration_and_listing():
    field, chip, driver = pn532()
    assert driver.firmware_version() == (0x32, 0x01, 0x06, 0x07)
    field.place(FOUR)
    assert driver.read() is None  # before SAMConfiguration the chip lists nothing
    driver.sam_config()
    assert driver.read() == FOUR
    assert not field.on  # the field is switched off after a card is read
    assert chip.commands == [0x02, 0x4A, 0x32, 0x14, 0x4A, 0x32]
    driver.init()
    assert chip.retries == 1  # InListPassiveTarget gives up at once when no card is there


def test_pn532_frames_that_do_not_check_are_dropped_and_syntax_errors_answered():
    field, chip, driver = pn532()
    good = rfid.pn532_frame(b"\xd4\x02")
    for bad in (good[:3] + b"\x03" + good[4:],  # LEN + LCS != 0
                good[:-2] + b"\x00\x00",  # data checksum
                good[:6]):  # cut short
        chip.write(bad)
        assert chip.read(7) == bytes(7)  # no ACK: status 0x00 (busy), nothing to read
    chip.write(rfid.pn532_frame(b"\xd4\x99"))  # no such command
    assert chip.read(7)[1:] == rfid.ACK
    assert chip.read(9)[1:] == rfid.ERROR_FRAME
    chip.write(rfid.pn532_frame(b"\xd5\x02"))  # a frame from the wrong side (TFI)
    assert chip.read(7)[1:] == rfid.ACK and chip.read(9)[1:] == rfid.ERROR_FRAME
    chip.write(good)
    assert chip.read(7)[1:] == rfid.ACK
    answer = chip.read(14)
    assert answer[1:] == rfid.pn532_frame(b"\xd5\x03\x32\x01\x06\x07")
    chip.write(rfid.NACK)  # the host asks for the last answer again
    assert chip.read(14) == answer
    assert driver.firmware_version() == (0x32, 0x01, 0x06, 0x07)  # and the driver is in step


def test_pn532_garbled_answers_give_no_uid():
    field, chip, driver = pn532()
    driver.init()
    field.place(SEVEN)
    chip.corrupt = 1  # the answer to InListPassiveTarget leaves with a wrong checksum
    assert driver.read() is None
    assert driver.read() == SEVEN
    chip.corrupt = 1
    with pytest.raises(OSError) as e:
        driver.firmware_version()
    assert e.value.args[0] == 5


def test_pn532_waiting_for_a_card_forever_is_aborted():
    field, chip, driver = pn532()
    driver.firmware_version()
    driver.sam_config()  # but MaxRetries left at 0xFF: InListPassiveTarget waits until a card comes
    assert driver.read() is None
    field.place(FOUR)
    assert chip.read(1) == b"\x00"  # the driver's ACK aborted the command: no late answer
    assert driver.read() == FOUR
    field.remove()
    chip.write(rfid.pn532_frame(b"\xd4\x4a\x01\x00"))
    assert chip.read(7)[1:] == rfid.ACK and chip.read(1) == b"\x00"  # searching
    field.place(SEVEN)
    assert chip.read(1) == b"\x01"  # a card came
    assert chip.read(23)[1:] == rfid.pn532_frame(b"\xd5\x4b\x01\x01\x00\x44\x00\x07" + SEVEN)


# on the real MicroPython, through virtual boards

MICROPYTHON_READ = """
import gc
from firmware.drivers.%s import %s
gc.collect()
m0 = gc.mem_free()
r = %s
gc.collect()
print("kept", m0 - gc.mem_free())
print(r.init())
"""


@pytest.mark.parametrize("kind", ["mfrc522", "mfrc522-i2c", "pn532"])
def test_drivers_on_micropython_on_a_virtual_board(vboard, kind):
    wiring = "expander" if kind == "mfrc522" else "seed"
    b = vboard(None, wiring=wiring, reader=kind)  # no configuration: the app stays out of the way
    b.serial.expect(r">>> $", 10, since=0)
    if kind == "pn532":
        make = "PN532(I2C(scl=Pin(5), sda=Pin(4)))"
    elif kind == "mfrc522":
        make = "MFRC522(spi=SPI(1, baudrate=1000000), cs=Pin(15, Pin.OUT, value=1), rst=Pin(16))"
    else:
        make = "MFRC522(i2c=I2C(scl=Pin(5), sda=Pin(4)))"
    name = kind.split("-")[0]
    code = "from machine import I2C, SPI, Pin\n" + MICROPYTHON_READ % (name, name.upper(), make)
    out = b.exec(code)
    print(kind, out.splitlines()[0])
    assert out.splitlines()[1] == ("(50, 1, 6, 7)" if kind == "pn532" else "146")
    assert b.exec("print(r.read())").strip() == "None"
    b.field.place(SEVEN)
    assert b.exec("print(r.read().hex(), r.read().hex())").split() == [SEVEN.hex()] * 2
    b.field.remove()
    b.field.place(FOUR)
    b.field.remove_after(1)
    assert b.exec("print(r.read(), r.read())").split() == ["None", "None"]
    b.field.place(TEN)
    assert b.exec("print(r.read().hex())").strip() == TEN.hex()
    b.reader.dead = 0xFF if kind == "mfrc522" else True
    assert "OSError" in b.exec("try:\n    r.read()\nexcept OSError as e:\n    print(repr(e))")
    if kind == "mfrc522":
        b.power_cut()  # the chip forgets its set-up; the card, its halt
        b.reader.dead = None
        m = b.serial.mark()
        b.power_on()
        b.serial.expect(r">>> $", 10, since=m)
        assert b.exec(code + "print(r.read().hex())").split()[-2:] == [
            "146", TEN.hex()]


def test_the_bench_wires_the_reader_of_its_wiring(vboard):
    seed = vboard(None, start=False)
    assert seed.reader_kind == "pn532" and seed.buses[(5, 4)][0x24] is seed.reader and not seed.spi_devices
    expander = vboard(None, wiring="expander", start=False)
    assert expander.reader_kind == "mfrc522" and expander.spi_devices[15] is expander.reader
    assert 0x24 not in expander.buses[(5, 4)]
    none = vboard(None, reader=None, start=False)
    assert none.reader is None and 0x24 not in none.buses[(5, 4)]


def test_the_sim_console_taps_and_untaps_a_badge(vboard):
    b = vboard(None, start=False)
    shown = lambda: "\n".join(text(line) for line in status_lines(snapshot(b, ["x"] * 6)))  # noqa: E731
    assert "RFID pn532: no card" in shown()
    assert "badge 04a1b2c3d4e5f6 on the pn532 reader" == handle(b, "tap 04 a1 b2 c3 d4 e5 f6")
    assert b.field.uids() == [SEVEN] and "RFID pn532: card 04a1b2c3d4e5f6" in shown()
    assert "usage" in handle(b, "tap 0102") and "usage" in handle(b, "tap zz")
    assert "no card has that UID" in handle(b, "tap 88010203")
    assert handle(b, "untap") == "badge 04a1b2c3d4e5f6 taken off the reader" and b.field.uids() == []
    assert "no card" in shown() and handle(b, "untap") == "no badge on the reader"
    assert "tap UID" in handle(b, "?")
