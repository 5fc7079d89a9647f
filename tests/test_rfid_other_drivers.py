"""The RFID reader models (tools/vboard/rfid.py) driven the way drivers written for real boards drive them, not
the firmware's way: MFRC522 registers as the widely used MicroPython mfrc522.py flow writes them (REQA,
anticollision, SELECT, then READ with the CRC_A from the chip's coprocessor), PN532 frames as host drivers send
them (GetFirmwareVersion, SAMConfiguration, InListPassiveTarget, InDataExchange, GetGeneralStatus), reading the
pages of MIFARE Ultralight and NTAG cards; what the commands the models do not carry out give a driver; and one
such small driver on the real MicroPython, on virtual boards."""

import itertools

import pytest

from tools.vboard import rfid

UID = bytes.fromhex("04a1b2c3d4e5f6")
CLASSIC = bytes.fromhex("c0ffee42")
TEXT = b"multiprise badge" + bytes(range(32))  # user data: 48 bytes from page 4
# the first 4 pages of UID's card, as the datasheets lay them out: UID0-2 and BCC0 (0x88 ^ 04 ^ A1 ^ B2), UID3-6,
# BCC1 (C3 ^ D4 ^ E5 ^ F6), the internal byte 0x48, two lock bytes; then page 3, by kind
HEAD = bytes.fromhex("04a1b29f c3d4e5f6 04480000")
PAGE3 = {"ultralight": "00000000", "ntag213": "e1101200", "ntag215": "e1103e00", "ntag216": "e1106d00"}
LAST = {"ultralight": 0x0F, "ntag213": 0x2C, "ntag215": 0x86, "ntag216": 0xE6}  # the last page's address
VERSION = {"ntag213": "0004040201000f03", "ntag215": "0004040201001103", "ntag216": "0004040201001303"}

# MFRC522 registers and commands, by the datasheet's names
COMMAND, COM_IRQ, DIV_IRQ, ERROR, STATUS2, FIFO_DATA, FIFO_LEVEL, CONTROL, BIT_FRAMING = (
    0x01, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D)
MODE, TX_CONTROL, TX_ASK, CRC_HI, CRC_LO, T_MODE, T_PRESCALER, T_RELOAD_HI, T_RELOAD_LO = (
    0x11, 0x14, 0x15, 0x21, 0x22, 0x2A, 0x2B, 0x2C, 0x2D)
IDLE, CALC_CRC, TRANSCEIVE, MF_AUTHENT, SOFT_RESET = 0x0, 0x3, 0xC, 0xE, 0xF
BUS_TIME = 100e-6  # what one register access takes, as the chip's timer sees it


def ultralight(kind="ntag213"):
    return rfid.Ultralight(UID, kind, TEXT)


class RegisterDriver:
    """An MFRC522 driver as third-party ones are written, register by register: over SPI (an address byte
    (reg << 1) & 0x7E, bit 7 set to read, one chip-select per access) or I2C (the register's address, then the
    byte)."""

    def __init__(self, chip, spi):
        self.chip, self.spi = chip, spi

    def __getitem__(self, reg):
        if self.spi:
            self.chip.select(True)
            value = self.chip.transfer(bytes([0x80 | reg << 1, 0]))[1]
            self.chip.select(False)
            return value
        self.chip.write(bytes([reg]))
        return self.chip.read(1)[0]

    def __setitem__(self, reg, value):
        if self.spi:
            self.chip.select(True)
            self.chip.transfer(bytes([reg << 1 & 0x7E, value]))
            self.chip.select(False)
        else:
            self.chip.write(bytes([reg, value]))

    def init(self):
        self[COMMAND] = SOFT_RESET
        self[T_MODE], self[T_PRESCALER] = 0x8D, 0x3E  # TAuto; 0.5 ms a tick
        self[T_RELOAD_HI], self[T_RELOAD_LO] = 0, 30  # 15 ms with no answer: TimerIRq
        self[TX_ASK] = 0x40
        self[MODE] = 0x3D  # CRC preset 0x6363
        self[TX_CONTROL] |= 0x03  # antenna on

    def load(self, data):
        """Stop the command under way, flush the FIFO and put data in it."""
        self[COMMAND] = IDLE
        self[FIFO_LEVEL] = 0x80
        for byte in data:
            self[FIFO_DATA] = byte

    def crc(self, data):
        """CRC_A of data, computed by the chip's coprocessor (CalcCRC), low byte first."""
        self[DIV_IRQ] = 0x04  # CRCIRq cleared
        self.load(data)
        self[COMMAND] = CALC_CRC
        assert any(self[DIV_IRQ] & 0x04 for _ in range(100)), "CalcCRC never ended"
        return bytes([self[CRC_LO], self[CRC_HI]])

    def send(self, command, data, bits=0):
        """Start a command on data (bits: of its last byte, 0 = 8) and wait for its interrupts: ComIrqReg."""
        self[COM_IRQ] = 0x7F  # every interrupt bit cleared
        self.load(data)
        self[BIT_FRAMING] = bits
        self[COMMAND] = command
        if command == TRANSCEIVE:
            self[BIT_FRAMING] = 0x80 | bits  # StartSend
        for _ in range(1000):
            irq = self[COM_IRQ]
            if irq & 0x31:  # RxIRq, IdleIRq, TimerIRq
                return irq
        raise AssertionError("the command never ended")

    def transceive(self, data, bits=0):
        """The card's answer: (bytes, valid bits of the last byte, 0 = 8), or None when none came in time."""
        irq = self.send(TRANSCEIVE, data, bits)
        self[BIT_FRAMING] = bits
        if not irq & 0x20:
            return None
        assert not self[ERROR] & 0x1B  # buffer overflow, collision, parity, protocol
        return bytes(self[FIFO_DATA] for _ in range(self[FIFO_LEVEL])), self[CONTROL] & 0x07

    def select(self):
        """REQA, then anticollision and SELECT at each cascade level: the UID, or None when no card answers."""
        if not self.transceive(b"\x26", 7):
            return None
        uid = b""
        for sel in rfid.SEL:
            part, _ = self.transceive(bytes([sel, 0x20]))
            assert part[0] ^ part[1] ^ part[2] ^ part[3] == part[4]
            frame = bytes([sel, 0x70]) + part
            sak, _ = self.transceive(frame + self.crc(frame))
            assert self.crc(sak[:1]) == sak[1:]
            if not sak[0] & 0x04:
                return uid + part[:4]
            uid += part[1:4]
        raise AssertionError("no UID has more than 3 cascade levels")

    def read(self, page):
        """READ, its CRC_A by the coprocessor: 16 bytes (the answer's CRC_A checked), the code of a 4-bit NAK, or
        None when the card does not answer."""
        frame = bytes([0x30, page])
        answer = self.transceive(frame + self.crc(frame))
        if answer is None:
            return None
        data, bits = answer
        if (len(data), bits) == (1, 4):
            return data[0]
        assert len(data) == 18 and self.crc(data[:16]) == data[16:]
        return data[:16]


def mfrc522(spi, *cards):
    field = rfid.Field()
    ticks = itertools.count()  # the chip's time: BUS_TIME more at each look it takes at it
    chip = rfid.MFRC522(field, clock=lambda: next(ticks) * BUS_TIME)
    for card in cards:
        field.place(card)
    driver = RegisterDriver(chip, spi)
    driver.init()
    return field, driver


buses = pytest.mark.parametrize("spi", [True, False], ids=["spi", "i2c"])


# the cards

@pytest.mark.parametrize("kind", sorted(LAST))
def test_ultralight_and_ntag_memory_as_a_read_gives_it(kind):
    field = rfid.Field()
    card = field.place(ultralight(kind))
    field.power(True)

    def send(data, crc=True):
        answer, _ = field.transceive(rfid.to_bits(data + (rfid.crc_a(data) if crc else b"")))
        return answer

    def activate():
        field.transceive(rfid.to_bits(b"\x26", 7))
        for sel, level in zip(rfid.SEL, card.levels, strict=False):
            send(bytes([sel, 0x70]) + level)
        assert card.state == rfid.ACTIVE

    assert card.atqa == b"\x44\x00" and card.sak == 0x00
    activate()
    head = HEAD + bytes.fromhex(PAGE3[kind])
    assert rfid.to_bytes(send(b"\x30\x00")) == head + rfid.crc_a(head)
    assert rfid.to_bytes(send(b"\x30\x04"))[:16] == TEXT[:16]
    assert rfid.to_bytes(send(bytes([0x30, LAST[kind]])))[4:16] == head[:12]  # past the last page: pages 0, 1, 2
    assert send(bytes([0x30, LAST[kind] + 1])) == [0, 0, 0, 0]  # NAK 0x0, 4 bits: no such page
    assert card.state == rfid.IDLE and send(b"\x30\x00") is None  # back in IDLE: it no longer listens
    activate()
    assert send(b"\x30\x00\x00\x00", crc=False) == [1, 0, 0, 0]  # NAK 0x1: a wrong CRC_A
    activate()
    version = send(b"\x60")
    if kind in VERSION:
        assert rfid.to_bytes(version).hex() == VERSION[kind] + rfid.crc_a(bytes.fromhex(VERSION[kind])).hex()
    else:
        assert version is None and card.state == rfid.IDLE  # the MF0ICU1 does not know it: silent, back to IDLE


def test_an_ultralight_takes_a_7_byte_uid_and_its_user_memory_only():
    with pytest.raises(ValueError):
        rfid.Ultralight(CLASSIC)
    with pytest.raises(ValueError):
        rfid.Ultralight(UID, "ntag213", bytes(145))  # 144 bytes of user memory
    assert len(rfid.Ultralight(UID, "ntag216", bytes(888)).memory) == 231 * 4


# through an MFRC522, register by register

@buses
@pytest.mark.parametrize("kind", sorted(LAST))
def test_a_register_level_driver_reads_ultralight_pages_through_the_mfrc522(spi, kind):
    field, driver = mfrc522(spi, ultralight(kind))
    assert driver.select() == UID
    assert driver.read(0) == HEAD + bytes.fromhex(PAGE3[kind])
    assert driver.read(4) == TEXT[:16] and driver.read(8) == TEXT[16:32]
    assert driver.read(LAST[kind])[4:] == HEAD  # rolls over to page 0
    assert driver.read(LAST[kind] + 1) == 0x0  # NAK: no such page
    assert driver.read(0) is None  # the card went back to IDLE after its NAK: the chip's timer ends the wait
    assert driver.select() == UID and driver.read(0)[:12] == HEAD  # selected again, it reads


@buses
def test_mfrc522_a_classic_card_naks_a_read_and_authentication_fails_as_with_a_card_that_does_not_answer(spi):
    field, driver = mfrc522(spi, CLASSIC)
    assert driver.select() == CLASSIC
    assert driver.read(4) == 0x4  # NAK: not authenticated
    assert driver.select() == CLASSIC
    irq = driver.send(MF_AUTHENT, bytes([0x60, 4]) + b"\xff" * 6 + CLASSIC)  # AUTH with key A, block 4
    assert irq & 0x31 == 0x01  # TimerIRq alone: no answer in time, the command did not end (no IdleIRq)
    assert driver[COMMAND] & 0x0F == MF_AUTHENT and not driver[STATUS2] & 0x08  # still running; MFCrypto1On 0
    assert driver[ERROR] == 0
    driver[COMMAND] = IDLE
    driver[STATUS2] = 0x08  # the host cannot switch Crypto1 on
    assert driver[COMMAND] & 0x0F == IDLE and not driver[STATUS2] & 0x08
    assert field.log[-1][:2] == ((b"\x60\x04" + rfid.crc_a(b"\x60\x04")).hex(), 32)  # what went to the card
    assert driver.select() == CLASSIC  # the card dropped back to IDLE: it answers the next REQA


# through a PN532, frame by frame

def call(chip, code, params=b""):
    """A command as host drivers send it over I2C: the frame, the status byte until 0x01, the ACK frame, the status
    byte again, the answer; returns the answer's data after D5 and the code + 1, or "syntax error"."""
    chip.write(rfid.pn532_frame(bytes([0xD4, code]) + bytes(params)))
    assert chip.read(1) == b"\x01" and chip.read(7)[1:] == rfid.ACK
    assert chip.read(1) == b"\x01"
    frame = chip.read(64)[1:]
    n = frame[3]
    assert frame[:3] == b"\x00\x00\xff" and (n + frame[4]) & 0xFF == 0 and sum(frame[5:6 + n]) & 0xFF == 0
    if frame[5:6 + n] == b"\x7f\x81":
        return "syntax error"
    assert frame[5:7] == bytes([0xD5, code + 1])
    return frame[7:5 + n]


def pn532(*cards):
    field = rfid.Field()
    chip = rfid.PN532(field)
    for card in cards:
        field.place(card)
    assert call(chip, 0x02).hex() == "32010607"  # GetFirmwareVersion: a PN532 v1.6
    assert call(chip, 0x14, b"\x01\x14\x01") == b""  # SAMConfiguration, normal mode
    assert call(chip, 0x32, b"\x05\xff\x01\x01") == b""  # RFConfiguration, one passive activation retry
    return field, chip


def test_pn532_reads_ntag_pages_with_in_data_exchange_and_its_general_status_says_what_it_holds():
    field, chip = pn532(ultralight())
    assert call(chip, 0x04).hex() == "00000000"  # GetGeneralStatus: no error, no external field, no target, SAM 0
    assert call(chip, 0x4A, b"\x01\x00") == bytes.fromhex("01 01 0044 00 07") + UID  # one target: Tg 1, ATQA, SAK
    assert field.on and call(chip, 0x04) == bytes.fromhex("00 00 01 01000000 00")  # its own field is no external field
    assert call(chip, 0x40, b"\x01\x30\x00") == b"\x00" + HEAD + bytes.fromhex(PAGE3["ntag213"])
    assert call(chip, 0x40, b"\x01\x30\x04") == b"\x00" + TEXT[:16]
    assert call(chip, 0x40, b"\x01\x30\x2c")[5:] == HEAD  # rolls over to page 0
    assert call(chip, 0x42, b"\x60").hex() == "00" + VERSION["ntag213"]  # InCommunicateThru: GET_VERSION
    assert call(chip, 0x40, b"\x01\x30\x2d") == b"\x13"  # the card's NAK: an invalid frame
    assert call(chip, 0x40, b"\x01\x30\x00") == b"\x01"  # the card, back in IDLE, is silent: time out
    assert call(chip, 0x04) == bytes.fromhex("01 00 01 01000000 00")  # the latest error; the target still listed
    assert call(chip, 0x40, b"\x02\x30\x00") == b"\x27"  # no target 2
    assert call(chip, 0x52, b"\x00") == b"\x00"  # InRelease
    assert call(chip, 0x04).hex() == "27000000"
    assert call(chip, 0x40, b"\x01\x30\x00") == b"\x27"  # released


def test_pn532_commands_it_does_not_carry_out_fail_with_an_error():
    field, chip = pn532(CLASSIC)
    for code, params in ((0x06, b"\x63\x05"), (0x12, b"\x14"), (0x60, b"\x01\x01\x10"), (0x4A, b"\x01\x03")):
        assert call(chip, code, params) == "syntax error"  # ReadRegister, SetParameters, InAutoPoll, type B
    assert call(chip, 0x40, b"\x01\x30\x04") == b"\x27"  # nothing listed yet
    assert call(chip, 0x4A, b"\x01\x00")[:5] == bytes.fromhex("01 01 0004 08")  # MIFARE Classic 1K
    assert call(chip, 0x40, b"\x01\x30\x04") == b"\x13"  # READ before authentication: the card's NAK
    call(chip, 0x4A, b"\x01\x00")
    assert call(chip, 0x40, b"\x01\x60\x04" + b"\xff" * 6 + CLASSIC) == b"\x01"  # AUTH: no answer modelled


# on the real MicroPython, on virtual boards

BOARD_MFRC522 = """
from machine import SPI, Pin
spi = SPI(1, baudrate=1000000)
cs = Pin(15, Pin.OUT, value=1)
Pin(16, Pin.OUT, value=1)
b = bytearray(2)
def reg(r, v=None):
    cs(0)
    spi.write_readinto(bytes((0x80 | r << 1, 0) if v is None else (r << 1, v)), b)
    cs(1)
    return b[1]
def load(data):
    reg(1, 0); reg(4, 0x7F); reg(5, 0x04); reg(10, 0x80)
    for x in data:
        reg(9, x)
def crc(data):
    load(data); reg(1, 3)
    for _ in range(100):
        if reg(5) & 0x04:
            return bytes((reg(0x22), reg(0x21)))
def transceive(data, bits=0):
    load(data); reg(13, bits); reg(1, 12); reg(13, 0x80 | bits)
    for _ in range(500):
        irq = reg(4)
        if irq & 0x31:
            break
    return bytes(reg(9) for _ in range(reg(10))) if irq & 0x20 else None
reg(1, 15); reg(0x2A, 0x8D); reg(0x2B, 0x3E); reg(0x2D, 30); reg(0x11, 0x3D); reg(0x14, 0x83)
transceive(b"\\x26", 7)
for sel in (0x93, 0x95):
    frame = bytes((sel, 0x70)) + transceive(bytes((sel, 0x20)))
    transceive(frame + crc(frame))
print(transceive(b"\\x30\\x00" + crc(b"\\x30\\x00"))[:16].hex())
"""

BOARD_PN532 = """
from machine import I2C, Pin
i2c = I2C(scl=Pin(5), sda=Pin(4))
def call(cmd):
    body = b"\\xd4" + cmd
    n = len(body)
    i2c.writeto(0x24, bytes((0, 0, 0xFF, n, -n & 0xFF)) + body + bytes((-sum(body) & 0xFF, 0)))
    for size in (7, 64):
        s = bytearray(1)
        for _ in range(100):
            i2c.readfrom_into(0x24, s)
            if s[0]:
                break
        buf = bytearray(size)
        i2c.readfrom_into(0x24, buf)
    return bytes(buf[8:6 + buf[4]])
call(b"\\x14\\x01")
call(b"\\x4a\\x01\\x00")
print(call(b"\\x40\\x01\\x30\\x00").hex())
"""


@pytest.mark.parametrize("kind", ["mfrc522", "pn532"])
def test_a_small_driver_on_micropython_reads_an_ntag_on_a_virtual_board(vboard, kind):
    b = vboard(None, wiring="expander" if kind == "mfrc522" else "seed", reader=kind)
    b.serial.expect(r">>> $", 10, since=0)
    b.field.place(ultralight())
    page0 = (HEAD + bytes.fromhex(PAGE3["ntag213"])).hex()
    assert b.exec(BOARD_MFRC522 if kind == "mfrc522" else BOARD_PN532).split() == [
        page0 if kind == "mfrc522" else "00" + page0]
