"""RFID on the virtual board: the RF field with ISO 14443-A cards in it, and the two reader chips at register
level, an MFRC522 (SPI or I2C) and a PN532 (I2C).

A frame in the field is a list of bits in the order they travel: each byte least significant bit first, as
ISO 14443-3 sends them; a REQA is 7 bits, a bit-oriented anticollision frame ends in the middle of a byte, an ACK
or NAK is 4 bits. Parity bits and timings below a frame are not modelled, collisions are (a bit two cards answer
differently). Cards: any ISO 14443-A card (Card: activation, HLTA; a MIFARE Classic answers READ before
authentication with a NAK) and MIFARE Ultralight / NTAG21x cards with their memory (Ultralight: READ, GET_VERSION).
"""

import threading
import time
from collections import deque

from .chips import I2CDevice, Nack

IDLE, READY, ACTIVE, HALT = "IDLE", "READY", "ACTIVE", "HALT"
REQA, WUPA = 0x26, 0x52
CASCADE_TAG = 0x88
SEL = (0x93, 0x95, 0x97)  # the SELECT / ANTICOLLISION command of cascade levels 1, 2, 3
READ, GET_VERSION = 0x30, 0x60  # commands to a selected MIFARE Ultralight / NTAG card
NAK_INVALID, NAK_CRC, NAK_CLASSIC = 0x0, 0x1, 0x4  # 4-bit NAKs: invalid argument, parity or CRC error (NTAG21x);
# a MIFARE Classic's "invalid operation" while its buffer holds nothing (MF1S50)


def crc_a(data):
    """ISO 14443-3 CRC_A of data: 2 bytes, low byte first (preset 0x6363, reflected x^16 + x^12 + x^5 + 1)."""
    return crc(data, 0x6363)


def crc(data, preset):
    c = preset
    for b in data:
        b ^= c & 0xFF
        b ^= (b << 4) & 0xFF
        c = (c >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return bytes((c & 0xFF, c >> 8))


def to_bits(data, nbits=None):
    bits = [(byte >> i) & 1 for byte in data for i in range(8)]
    return bits if nbits is None else bits[:nbits]


def to_bytes(bits):
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        out[i // 8] |= bit << (i % 8)
    return bytes(out)


HLTA = to_bits(b"\x50\x00" + crc_a(b"\x50\x00"))


class Card:
    """An ISO 14443-A card (PICC) with a UID of 4, 7 or 10 bytes, and its states: IDLE -REQA/WUPA-> READY
    -SELECT of its last cascade level-> ACTIVE -HLTA-> HALT, which only WUPA leaves. A frame it does not expect
    in READY or ACTIVE sends it back to IDLE, or to HALT when a WUPA woke it from there (READY*, ACTIVE*), and the
    card stays silent; in ACTIVE, command() answers the frames a card of its kind knows. A MIFARE Classic (SAK bit
    0x08) answers READ with NAK 0x4, as it does before an authentication (MF1S50; authentication and Crypto1 are
    not modelled: it stays silent to AUTH, as a card that does not answer)."""

    def __init__(self, uid, sak=None, atqa=None):
        uid = bytes(uid)
        if len(uid) not in (4, 7, 10):
            raise ValueError("a UID has 4, 7 or 10 bytes, not %d" % len(uid))
        n = len(uid) // 3  # cascade levels: 1, 2, 3
        parts = [bytes([CASCADE_TAG]) + uid[3 * i:3 * i + 3] for i in range(n - 1)] + [uid[3 * (n - 1):]]
        if parts[-1][0] == CASCADE_TAG:
            raise ValueError("UID byte %d may not be the cascade tag 0x88" % (3 * (n - 1)))
        self.uid = uid
        self.levels = [p + bytes([p[0] ^ p[1] ^ p[2] ^ p[3]]) for p in parts]  # CLn: 4 bytes and their BCC
        self.atqa = bytes(atqa) if atqa is not None else bytes(((n - 1) << 6 | 0x04, 0x00))  # as sent: LSB first
        self.sak = (0x08 if n == 1 else 0x00) if sak is None else sak
        if self.sak & 0x04:
            raise ValueError("SAK bit 0x04 says the UID is not complete")
        self.state, self.woken, self.level = IDLE, False, 0

    def __repr__(self):
        return "Card(%s, %s)" % (self.uid.hex(), self.state)

    def power_off(self):
        """The field went away: the card has no power; it comes back IDLE."""
        self.state, self.woken, self.level = IDLE, False, 0

    def handle(self, bits):
        """The card's answer to a frame (bits), or None for silence; its state moves as the standard says."""
        n = len(bits)
        if n == 7:
            cmd = to_bytes(bits)[0]
            if cmd == REQA and self.state == IDLE or cmd == WUPA and self.state in (IDLE, HALT):
                self.woken = self.state == HALT
                self.state, self.level = READY, 0
                return to_bits(self.atqa)
            return self._error()
        if self.state == READY and n >= 16:
            head = to_bytes(bits[:16])
            if head[0] != SEL[self.level]:
                return self._error()
            nvb = head[1]
            if nvb == 0x70:  # SELECT: the whole CLn and its BCC, then CRC_A
                data = to_bytes(bits)
                if n != 72 or crc_a(data[:7]) != data[7:]:
                    return self._error()
                if data[2:7] != self.levels[self.level]:
                    return None  # another card is selected: this one stays READY, silent
                self.level += 1
                if self.level < len(self.levels):
                    sak = 0x04  # cascade bit: the UID goes on at the next level
                else:
                    self.state, sak = ACTIVE, self.sak
                return to_bits(bytes([sak]) + crc_a(bytes([sak])))
            known = (nvb >> 4) * 8 + (nvb & 0x0F) - 16  # UID bits the reader sends after SEL and NVB
            if 0x20 <= nvb < 0x70 and nvb & 0x0F < 8 and n == 16 + known:
                mine = to_bits(self.levels[self.level])
                if bits[16:] != mine[:known]:
                    return None  # the reader chose another card's bits: silent, still READY
                return mine[known:]
            return self._error()
        if self.state == ACTIVE:
            if bits == HLTA:
                self.state = HALT
                return None
            return self.command(bits)
        return self._error()

    def command(self, bits):
        """The answer to a frame (not HLTA) once the card is selected, or None; the state moves as for _error()."""
        data = to_bytes(bits)
        if self.sak & 0x08 and len(bits) == 32 and data[0] == READ and crc_a(data[:2]) == data[2:]:
            return self._nak(NAK_CLASSIC)
        return self._error()

    def _error(self):
        if self.state in (READY, ACTIVE):
            self.state = HALT if self.woken else IDLE
        return None

    def _nak(self, code):
        """A 4-bit NAK; the card goes back to IDLE (or HALT) after it."""
        self._error()
        return to_bits(bytes([code]), 4)


# NTAG21x's last 5 pages as a READ gives them from the factory: dynamic lock bytes (0x000000, RFUI 0xBD), CFG0
# (MIRROR 0x04, AUTH0 0xFF: no page needs the password), CFG1 (ACCESS 0x00), PWD and PACK (read as zeros)
NTAG_CONFIG = bytes.fromhex("000000bd 040000ff 00050000 00000000 00000000")
# Ultralight kinds: pages, GET_VERSION's answer (None: not understood), page 3 (capability container), last pages
ULTRALIGHTS = {
    "ultralight": (16, None, b"\x00\x00\x00\x00", b""),  # MF0ICU1: page 3 is OTP, blank from the factory
    "ntag213": (45, bytes.fromhex("0004040201000f03"), b"\xe1\x10\x12\x00", NTAG_CONFIG),
    "ntag215": (135, bytes.fromhex("0004040201001103"), b"\xe1\x10\x3e\x00", NTAG_CONFIG),
    "ntag216": (231, bytes.fromhex("0004040201001303"), b"\xe1\x10\x6d\x00", NTAG_CONFIG),
}


class Ultralight(Card):
    """A MIFARE Ultralight (MF0ICU1, 16 pages) or NTAG213/215/216 (45, 135, 231 pages): a 7-byte UID, ATQA 0x0044,
    SAK 0x00, and its memory in pages of 4 bytes, as the datasheets lay them out: page 0 holds UID0-2 and BCC0
    (0x88 ^ UID0 ^ UID1 ^ UID2), page 1 UID3-6, page 2 BCC1 (UID3 ^ .. ^ UID6), an internal byte (0x48) and the two
    lock bytes (0: nothing locked), page 3 the capability container (NTAG) or OTP bytes (Ultralight), then the
    user pages (`data`, zeros after it), then on an NTAG the dynamic lock bytes and the configuration pages with
    their factory values (no mirror, AUTH0 0xFF: no password), the password and PACK read as zeros.

    Answered once selected: READ (0x30, page, CRC_A) -> the 4 pages from there, 16 bytes and CRC_A, rolling over
    to page 0 past the last page; an address past the last page -> NAK 0x0; a frame whose CRC_A is wrong -> NAK
    0x1; GET_VERSION (0x60, NTAG only) -> its 8 bytes. After a NAK the card is back in IDLE (or HALT). Any other
    command (WRITE, FAST_READ, PWD_AUTH...: not modelled) is met with silence, the card back in IDLE (or HALT)
    as ISO 14443-3 has it for a frame it does not expect (unverified for those commands: a real card carries
    them out)."""

    def __init__(self, uid, kind="ntag213", data=b""):
        super().__init__(uid, sak=0x00, atqa=b"\x44\x00")
        if len(self.uid) != 7:
            raise ValueError("an Ultralight or NTAG card has a 7-byte UID, not %d bytes" % len(self.uid))
        pages, self.version, cc, config = ULTRALIGHTS[kind]
        user = 4 * pages - 16 - len(config)
        if len(data) > user:
            raise ValueError("%s holds %d bytes of user data, not %d" % (kind, user, len(data)))
        cl1, cl2 = self.levels
        self.kind = kind
        self.memory = cl1[1:5] + cl2[:4] + cl2[4:5] + b"\x48\x00\x00" + cc + bytes(data).ljust(user, b"\x00") + config

    def __repr__(self):
        return "Ultralight(%s, %s, %s)" % (self.uid.hex(), self.kind, self.state)

    def command(self, bits):
        data = to_bytes(bits)
        if len(bits) % 8 or len(data) < 3:
            return self._error()
        if crc_a(data[:-2]) != data[-2:]:
            return self._nak(NAK_CRC)
        cmd, pages = data[:-2], len(self.memory) // 4
        if cmd[0] == READ and len(cmd) == 2:
            if cmd[1] >= pages:
                return self._nak(NAK_INVALID)
            out = b"".join(self.memory[4 * ((cmd[1] + i) % pages):][:4] for i in range(4))
            return to_bits(out + crc_a(out))
        if cmd[0] == GET_VERSION and len(cmd) == 1 and self.version:
            return to_bits(self.version + crc_a(self.version))
        return self._error()


class Field:
    """The reader's RF field and the cards in it. `lock` guards it (the bench passes its own)."""

    def __init__(self, lock=None):
        self.lock = lock or threading.RLock()
        self.cards = []
        self.on = False
        self.log = deque(maxlen=200)  # (frame sent, answer): the bits, as hex of to_bytes, with bit counts
        self._leave = None
        self._flip = None

    def place(self, uid, sak=None, atqa=None):
        """A card comes into the field: Card(uid, sak, atqa), or uid itself when it is a card already made
        (Ultralight(...)); a card with that UID already there is replaced. Returns the card."""
        card = uid if isinstance(uid, Card) else Card(uid, sak, atqa)
        with self.lock:
            self.cards = [c for c in self.cards if c.uid != card.uid] + [card]
        return card

    def remove(self, uid=None):
        """The card with this UID leaves the field, or every card."""
        with self.lock:
            self.cards = [c for c in self.cards if uid is not None and c.uid != bytes(uid)]

    def remove_after(self, frames, cut=0):
        """The cards in the field answer `frames` more frames, then leave in the middle of the next answer,
        after its first `cut` bits (0: before it)."""
        with self.lock:
            self._leave = (frames, cut)

    def flip(self, frames, bit):
        """RF noise: in the answer that comes after `frames` more answers, bit `bit` (from 0) is flipped."""
        with self.lock:
            self._flip = (frames, bit)

    def uids(self):
        with self.lock:
            return [c.uid for c in self.cards]

    def power(self, on):
        """The reader switches its field on or off; the cards lose their power (and their state) with it."""
        with self.lock:
            if not on:
                for c in self.cards:
                    c.power_off()
            self.on = bool(on)

    def transceive(self, bits):
        """Send a frame into the field: (the bits that come back or None, index of the first bit where the
        answers of two cards collide or None). Answers are ORed where cards collide."""
        with self.lock:
            if not self.on:
                return None, None
            answers = [a for a in (c.handle(bits) for c in self.cards) if a is not None]
            if answers and self._leave:
                left, cut = self._leave
                if left:
                    self._leave = (left - 1, cut)
                else:
                    answers = [a[:cut] for a in answers if cut]
                    self.cards, self._leave = [], None
            if answers and self._flip:
                left, bit = self._flip
                self._flip = (left - 1, bit) if left else None
                if not left:
                    answers = [a[:bit] + [a[bit] ^ 1] + a[bit + 1:] if bit < len(a) else a for a in answers]
            answer, coll = None, None
            for a in answers:
                if answer is None:
                    answer = list(a)
                    continue
                for i, bit in enumerate(a):
                    if i >= len(answer):
                        answer.append(bit)
                    elif answer[i] != bit:
                        coll = i if coll is None else min(coll, i)
                        answer[i] = 1
            self.log.append((to_bytes(bits).hex(), len(bits), answer and to_bytes(answer).hex(),
                             answer and len(answer)))
            return answer or None, coll


# MFRC522 registers and bits (HARDWARE.md; the datasheet's names)
COMMAND, COM_IEN, DIV_IEN, COM_IRQ, DIV_IRQ, ERROR, STATUS1, STATUS2 = range(0x01, 0x09)
FIFO_DATA, FIFO_LEVEL, WATER_LEVEL, CONTROL, BIT_FRAMING, COLL = range(0x09, 0x0F)
MODE, TX_MODE, RX_MODE, TX_CONTROL, TX_ASK = range(0x11, 0x16)
CRC_RESULT_HI, CRC_RESULT_LO = 0x21, 0x22
T_MODE, T_PRESCALER, T_RELOAD_HI, T_RELOAD_LO, T_COUNTER_HI, T_COUNTER_LO = range(0x2A, 0x30)
VERSION = 0x37
C_IDLE, C_MEM, C_RANDOM, C_CALC_CRC, C_TRANSMIT, C_NO_CHANGE, C_RECEIVE, C_TRANSCEIVE, C_AUTHENT, C_SOFT_RESET = (
    0x0, 0x1, 0x2, 0x3, 0x4, 0x7, 0x8, 0xC, 0xE, 0xF)
TX_IRQ, RX_IRQ, IDLE_IRQ, HI_ALERT_IRQ, LO_ALERT_IRQ, ERR_IRQ, TIMER_IRQ = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
CRC_IRQ = 0x04
BUFFER_OVFL, COLL_ERR = 0x10, 0x08
RESET_VALUES = {COMMAND: 0x20, COM_IEN: 0x80, COM_IRQ: 0x14, STATUS1: 0x21, WATER_LEVEL: 0x08, CONTROL: 0x10,
                COLL: 0xA0, MODE: 0x3F, TX_CONTROL: 0x80, 0x16: 0x10, 0x17: 0x84, 0x18: 0x84, 0x19: 0x4D,
                CRC_RESULT_HI: 0xFF, CRC_RESULT_LO: 0xFF, 0x24: 0x26, 0x26: 0x48, 0x27: 0x88, 0x28: 0x20,
                0x29: 0x20}
CRC_PRESETS = (0x0000, 0x6363, 0xA671, 0xFFFF)  # ModeReg bits 1..0
CLOCK_HZ = 13.56e6


class MFRC522(I2CDevice):
    """The MFRC522 at register level, on SPI (select() on CS edges, transfer() while selected) or I2C (addr).

    Modelled: the 64-byte FIFO (FIFODataReg, FIFOLevelReg and its flush bit), CommandReg (Idle, CalcCRC,
    Transmit, Receive, Transceive, SoftReset; Mem, GenerateRandomID and the reserved codes end at once with
    IdleIRq; MFAuthent sends the card its AUTH command, then hears nothing, Crypto1 not being modelled: it fails
    as with a card that does not answer, TimerIRq, no IdleIRq, MFCrypto1On stays 0), BitFramingReg (StartSend,
    TxLastBits, RxAlign), ControlReg (RxLastBits, TStartNow, TStopNow), ComIrqReg/DivIrqReg (write bit 7 = 1
    sets the marked bits, 0 clears them), ErrorReg, CollReg (CollPos of the first collision, ValuesAfterColl),
    ModeReg's CRC preset, Status1Reg, TxControlReg's antenna bits (the field is on while bit 0 or 1 is set), the
    timer (TModeReg TAuto and TAutoRestart, TPrescaler, TReload, TCounterVal, TimerIRq when no card answers in
    time: it starts at the end of a transmission and stops when an answer comes), CRCResultReg, VersionReg. A
    card's 4-bit ACK or NAK arrives as one byte with RxLastBits 4. TxModeReg and RxModeReg are kept but not acted
    on: frames go out as the FIFO holds them (the host adds CRC_A, or has the chip compute it with CalcCRC), and
    answers come in whole, CRC_A included; a driver that sets TxCRCEn and RxCRCEn instead is not served (its
    frames reach the card without CRC_A: an Ultralight NAKs them 0x1, others stay silent).
    The NRSTPD pin (reset_pin) holds the chip in hard power-down while low; a rising edge resets it.

    Faults: `version` (clones say 0x88, 0x89, 0xB2, 0x12), `dead`: None when the bus works, else the byte MISO
    reads (0xFF: nothing drives it, 0x00: stuck low); an I2C chip that is dead gives no acknowledge.
    `clock` is the time base of the chip's timer (seconds)."""

    def __init__(self, field, version=0x92, addr=0x28, clock=time.monotonic):
        self.field = field
        self.version = version
        self.addr = addr
        self.clock = clock
        self.dead = None
        self._powered = True
        self._nrst = True
        self._cs = False
        self._spi = None
        self._reset()

    # the buses

    def select(self, low):
        """The SPI chip-select line went low (True: a transaction starts) or high (it ends)."""
        self._cs = bool(low)
        self._spi = None

    def transfer(self, out):
        """Bytes clocked in on MOSI while selected; returns what MISO carried. Byte 0 is the address
        ((reg << 1) & 0x7E, bit 7 = read); for a read each next byte is the next address to read (0 ends), for a
        write every next byte goes to the same register (the FIFO takes a burst that way)."""
        if self.dead is not None:
            for byte in out:  # MOSI still reaches the chip
                self._spi_byte(byte)
            return bytes([self.dead]) * len(out)
        if not (self._cs and self._running()):
            return b"\xff" * len(out)  # not selected, or in power-down: MISO floats high
        return bytes(self._spi_byte(byte) for byte in out)

    def _spi_byte(self, byte):
        if not (self._cs and self._running()):
            return 0xFF
        if self._spi is None:  # the address byte
            self._spi = byte
            self._next = self._get(byte >> 1 & 0x3F) if byte & 0x80 else 0
            return 0x00
        if self._spi & 0x80:
            value = self._next
            self._next = self._get(byte >> 1 & 0x3F) if byte & 0x80 else 0
            return value
        self._set(self._spi >> 1 & 0x3F, byte)
        return 0x00

    def write(self, data):
        """One I2C write: the register address, then bytes all written to that register."""
        self._check()
        if data:
            self._pointer = data[0] & 0x3F
            for byte in data[1:]:
                self._set(self._pointer, byte)

    def read(self, n):
        """One I2C read: n bytes, all from the register last addressed (no auto-increment)."""
        self._check()
        return bytes(self._get(self._pointer) for _ in range(n))

    def _check(self):
        if self.dead is not None or not self._running():
            raise Nack(self.addr)

    def power(self, on):
        if on and not self._powered:
            self._powered = True
            self._reset()
        elif not on:
            self._powered = False
            self.field.power(False)

    def reset_pin(self, level):
        """NRSTPD: low holds the chip in hard power-down (field off, no answer); a rising edge resets it."""
        if level and not self._nrst:
            self._nrst = True
            self._reset()
        elif not level:
            self._nrst = False
            self.field.power(False)

    def _running(self):
        return self._powered and self._nrst

    # test helpers

    def register(self, reg):
        """A register's content as a read would give it now (a FIFODataReg read takes a byte out)."""
        with self.field.lock:
            return self._get(reg)

    def timer_period(self):
        """Seconds from the end of a transmission to TimerIRq, as TModeReg, TPrescalerReg and TReloadReg say."""
        r = self.regs
        prescaler = (r[T_MODE] & 0x0F) << 8 | r[T_PRESCALER]
        return (2 * prescaler + 1) * ((r[T_RELOAD_HI] << 8 | r[T_RELOAD_LO]) + 1) / CLOCK_HZ

    # inside

    def _reset(self):
        self.regs = bytearray(64)
        for reg, value in RESET_VALUES.items():
            self.regs[reg] = value
        self.fifo = bytearray()
        self.command = C_IDLE
        self._crc = None  # the CRC coprocessor's state while CalcCRC runs
        self._timer = None  # when the timer started counting, while it runs
        self._pointer = 0
        self._spi = None
        self._antenna()

    def _antenna(self):
        r = self.regs
        self.field.power(self._running() and not r[COMMAND] & 0x10 and bool(r[TX_CONTROL] & 0x03))

    def _tick(self):
        """Bring the timer up to now: TimerIRq when it reached zero."""
        if self._timer is None:
            return
        period = self.timer_period()
        elapsed = self.clock() - self._timer
        if elapsed >= period:
            self.regs[COM_IRQ] |= TIMER_IRQ
            if self.regs[T_MODE] & 0x10 and period > 0:  # TAutoRestart
                self._timer += period * (elapsed // period)
            else:
                self._timer = None

    def _get(self, reg):
        self._tick()
        r = self.regs
        if reg == FIFO_DATA:
            value = self.fifo.pop(0) if self.fifo else 0
            self._levels()
            return value
        if reg == FIFO_LEVEL:
            return len(self.fifo)
        if reg == COMMAND:
            return r[COMMAND] & 0x30 | self.command
        if reg == STATUS1:
            level, water = len(self.fifo), r[WATER_LEVEL] & 0x3F
            return (r[STATUS1] & 0x60 | (0x08 if self._timer is not None else 0)  # CRCOk, CRCReady; TRunning
                    | (0x02 if 64 - level <= water else 0) | (0x01 if level <= water else 0)  # HiAlert, LoAlert
                    | (0x10 if r[COM_IRQ] & r[COM_IEN] & 0x7F or r[DIV_IRQ] & r[DIV_IEN] & 0x14 else 0))  # IRq
        if reg in (T_COUNTER_HI, T_COUNTER_LO):
            value = 0
            if self._timer is not None:
                left = 1 - (self.clock() - self._timer) / self.timer_period()
                value = max(0, min(0xFFFF, round(left * (r[T_RELOAD_HI] << 8 | r[T_RELOAD_LO]))))
            return value >> 8 if reg == T_COUNTER_HI else value & 0xFF
        if reg == VERSION:
            return self.version
        return r[reg]

    def _set(self, reg, v):
        self._tick()
        r = self.regs
        if reg == COMMAND:
            r[COMMAND] = v & 0x30
            self._antenna()  # PowerDown (bit 4) switches the analog part off
            if v & 0x0F != C_NO_CHANGE:
                self._start(v & 0x0F)
        elif reg in (COM_IRQ, DIV_IRQ):
            mask = v & (0x7F if reg == COM_IRQ else 0x14)
            r[reg] = r[reg] | mask if v & 0x80 else r[reg] & ~mask
        elif reg == FIFO_DATA:
            self._push(bytes([v]))
            if self._crc is not None:
                self._calc_crc()
        elif reg == FIFO_LEVEL:
            if v & 0x80:
                self.fifo.clear()
                r[ERROR] &= ~BUFFER_OVFL
                self._levels()
        elif reg == CONTROL:
            if v & 0x80:  # TStopNow
                self._timer = None
            if v & 0x40:  # TStartNow
                self._timer = self.clock()
        elif reg == BIT_FRAMING:
            r[BIT_FRAMING] = v
            if v & 0x80 and self.command == C_TRANSCEIVE:
                self._transceive()
        elif reg == COLL:
            r[COLL] = r[COLL] & 0x7F | v & 0x80
        elif reg == TX_CONTROL:
            r[TX_CONTROL] = v
            self._antenna()
        elif reg in (ERROR, STATUS1, CRC_RESULT_HI, CRC_RESULT_LO, T_COUNTER_HI, T_COUNTER_LO, VERSION):
            pass  # read-only
        elif reg == STATUS2:
            r[STATUS2] = v & 0xC0 | r[STATUS2] & v & 0x08  # TempSensClear, I2CForceHS; MFCrypto1On: cleared only
        else:
            r[reg] = v

    def _push(self, data):
        for byte in data:
            if len(self.fifo) >= 64:
                self.regs[ERROR] |= BUFFER_OVFL
                self.regs[COM_IRQ] |= ERR_IRQ
                break
            self.fifo.append(byte)
        self._levels()

    def _levels(self):
        level, water = len(self.fifo), self.regs[WATER_LEVEL] & 0x3F
        if level <= water:
            self.regs[COM_IRQ] |= LO_ALERT_IRQ
        if 64 - level <= water:
            self.regs[COM_IRQ] |= HI_ALERT_IRQ

    def _start(self, cmd):
        r = self.regs
        self._crc = None
        self.command = C_IDLE
        if cmd == C_IDLE:
            return
        if cmd == C_SOFT_RESET:
            self._reset()
            return
        if cmd == C_CALC_CRC:
            self.command = C_CALC_CRC
            self._crc = CRC_PRESETS[r[MODE] & 0x03]
            self._calc_crc()
        elif cmd == C_TRANSMIT:
            self._send()
            r[COM_IRQ] |= IDLE_IRQ
        elif cmd in (C_RECEIVE, C_TRANSCEIVE):
            self.command = cmd
            if cmd == C_TRANSCEIVE and r[BIT_FRAMING] & 0x80:
                self._transceive()
        elif cmd == C_AUTHENT:
            self.command = C_AUTHENT
            self._authent()
        else:  # Mem, GenerateRandomID and reserved codes: nothing to model, the command ends at once
            r[COM_IRQ] |= IDLE_IRQ

    def _calc_crc(self):
        """CalcCRC takes the FIFO's bytes as they come, until another command is started."""
        data, self.fifo = bytes(self.fifo), bytearray()
        self._levels()
        value = int.from_bytes(crc(data, self._crc), "little")
        self._crc = value
        self.regs[CRC_RESULT_HI], self.regs[CRC_RESULT_LO] = value >> 8, value & 0xFF
        self.regs[DIV_IRQ] |= CRC_IRQ
        self.regs[STATUS1] = self.regs[STATUS1] & ~0x40 | 0x20 | (0x40 if value == 0 else 0)  # CRCReady, CRCOk

    def _authent(self):
        """MFAuthent takes 12 bytes from the FIFO (AUTH code, block, key, UID) and sends the first two with their
        CRC_A; the card's challenge never comes here (cards do not model Crypto1), so, as when a card does not
        answer, the command does not end by itself: the timer (TAuto) runs out, TimerIRq, until the host writes
        Idle. TxIRq and RxIRq are blocked while it runs; MFCrypto1On stays 0."""
        r = self.regs
        r[ERROR] &= 0x40
        data, self.fifo = bytes(self.fifo), bytearray()
        self._levels()
        if len(data) >= 2 and self.field.on:
            self.field.transceive(to_bits(data[:2] + crc_a(data[:2])))
        if r[T_MODE] & 0x80:
            self._timer = self.clock()

    def _send(self):
        """Transmit the FIFO into the field (TxLastBits of the last byte); return the answer and its collision."""
        r = self.regs
        r[ERROR] &= 0x40  # TempErr stays; the others are the new command's
        r[CONTROL] &= ~0x07
        r[COLL] = r[COLL] & 0x80 | 0x20
        data, self.fifo = bytes(self.fifo), bytearray()
        self._levels()
        last = r[BIT_FRAMING] & 0x07
        bits = to_bits(data, len(data) * 8 - (8 - last if last and data else 0))
        answer, coll = self.field.transceive(bits) if self.field.on else (None, None)
        r[COM_IRQ] |= TX_IRQ
        if r[T_MODE] & 0x80:  # TAuto: the timer starts at the end of the transmission
            self._timer = self.clock()
        return answer, coll

    def _transceive(self):
        r = self.regs
        answer, coll = self._send()
        if not answer:
            return  # the timer runs out, unless the host gives up first
        self._timer = None  # an answer stops the timer
        align = r[BIT_FRAMING] >> 4 & 0x07
        bits = [0] * align + answer
        if coll is not None:
            r[ERROR] |= COLL_ERR
            pos = align + coll + 1
            if pos <= 32:
                r[COLL] = r[COLL] & 0x80 | pos & 0x1F
            if not r[COLL] & 0x80:  # ValuesAfterColl = 0: the bits received after a collision are cleared
                bits[align + coll + 1:] = [0] * (len(bits) - align - coll - 1)
        r[CONTROL] = r[CONTROL] & ~0x07 | len(bits) % 8
        self._push(to_bytes(bits))
        r[COM_IRQ] |= RX_IRQ | (ERR_IRQ if r[ERROR] & 0x1F else 0)


# PN532 frames
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"  # the syntax error frame: an error at the application level
# status bytes (UM0701-02, error codes): the card did not answer, CRC_A wrong, an RF frame not as the protocol
# wants it (a 4-bit NAK where data was due), no such target (or not in a state for it)
TIMEOUT, CRC_ERROR, INVALID_FRAME, NOT_ACCEPTABLE = 0x01, 0x02, 0x13, 0x27


def pn532_frame(body):
    """A normal information frame around body (TFI, command code, data)."""
    n = len(body)
    return bytes([0x00, 0x00, 0xFF, n, -n & 0xFF]) + bytes(body) + bytes([-sum(body) & 0xFF, 0x00])


class PN532(I2CDevice):
    """The PN532 on I2C: every read starts with the status byte (0x01: a frame is ready, then the frame from its
    start; 0x00: busy, then zeros). A read of more than the status byte takes the frame away: the host sends a
    NACK frame to have the last answer sent again. A command frame that checks (LEN + LCS = 0, TFI + data + DCS
    = 0) is acknowledged (ACK frame), then answered; an unknown command, a TFI other than 0xD4 or wrong
    parameters get the syntax error frame after the ACK. A frame whose checksums fail is dropped without an ACK
    (unverified: the host times out waiting for it). An ACK frame from the host aborts the command under way; a
    command frame that comes while one is under way is dropped, unacknowledged (unverified).

    Commands: GetFirmwareVersion (0x02), SAMConfiguration (0x14, needed first: until then the chip is in its
    low-battery start-up mode and refuses to list targets, unverified), RFConfiguration (0x32: item 0x01
    switches the RF field off and on, item 0x05 sets MxRtyPassiveActivation), InListPassiveTarget (0x4A, 106 kbps
    type A, one or two targets; it switches the field on, sends REQA (unverified: a card halted by the host
    stays silent), resolves collisions bit by bit and selects one card; with MxRtyPassiveActivation 0xFF, the
    power-up value, it tries until a card comes, else that many times more), InRelease (0x52) and InDeselect
    (0x44), which halt a listed card (HLTA), InDataExchange (0x40: Tg, then the card command; the chip adds the
    CRC_A and takes it off the answer: status 0x00 and the card's data, 0x01 when the card does not answer, 0x02
    for a wrong CRC_A, 0x13 for a 4-bit NAK (unverified: what a PN532 was seen to answer for a MIFARE Classic
    READ before authentication), 0x27 for a target that is not listed), InCommunicateThru (0x42: the
    same to whatever card is selected, no Tg) and GetGeneralStatus (0x04: Err, the latest error status, kept
    until a reset (unverified: whether a success clears it); Field, an external field, none here (the chip's
    own field does not count); NbTg and per listed target Tg, BrRx, BrTx (0x00: 106 kbps) and Type (0x00:
    ISO 14443-A / MIFARE); the SAM status, 0x00 with no SAM (unverified)). Listed targets stay in the chip's
    table until InRelease or the next InListPassiveTarget, even when the field goes off (unverified); a card that
    lost its power with the field then answers nothing (0x01).

    Every other command (ReadRegister, SetParameters, InAutoPoll, InSelect, TgInitAsTarget...) and MIFARE
    commands the cards do not model (AUTH, WRITE: the card is silent, 0x01) fail: a real PN532 would carry them
    out. An unknown command code gets the syntax error frame, as on the chip.

    Faults: `dead` (no acknowledge on the bus), `corrupt` (the next n answers leave with a wrong data
    checksum, as a glitch on the bus would), `firmware` (what GetFirmwareVersion says)."""

    def __init__(self, field, addr=0x24):
        self.field = field
        self.addr = addr
        self.dead = False
        self.corrupt = 0
        self.firmware = (0x32, 0x01, 0x06, 0x07)
        self.commands = []  # the command codes received, in order
        self._powered = True
        self._reset()

    def _reset(self):
        self._out = []  # frames ready to be read: the ACK, then the answer
        self._last = None  # the last answer, sent again on a NACK
        self._waiting = None  # InListPassiveTarget still looking for a card: (max targets)
        self._tries = 0
        self._listed = []  # the cards listed, target numbers from 1
        self.error = 0  # the latest error status, for GetGeneralStatus
        self.sam = False
        self.retries = 0xFF
        self.field.power(False)

    def power(self, on):
        if on and not self._powered:
            self._reset()
        elif not on:
            self.field.power(False)
        self._powered = on

    def _check(self):
        if self.dead or not self._powered:
            raise Nack(self.addr)

    def read(self, n):
        self._check()
        if not self._out and self._waiting is not None:
            self._list(self._waiting)
        if not self._out:
            return bytes(n)
        frame = self._out[0]
        if n > 1:
            self._out.pop(0)
        return (b"\x01" + frame + bytes(max(0, n - 1 - len(frame))))[:n]

    def write(self, data):
        self._check()
        data = bytes(data)
        body = data.lstrip(b"\x00")
        if body[:1] != b"\xff" or len(data) - len(body) < 1:
            return  # no start code: nothing the chip takes for a frame
        if body[:5] == b"\xff\x00\xff\x00" or body == b"\xff\x00\xff":  # an ACK from the host: abort
            self._out, self._waiting = [], None
            return
        if body[:3] == b"\xff\xff\x00":  # NACK: the last answer again
            self._out = [self._last] if self._last else []
            return
        if len(body) < 4 or self._waiting is not None:
            return
        n, lcs = body[1], body[2]
        payload = body[3:3 + n]
        if (n + lcs) & 0xFF or n == 0 or len(body) < 4 + n or (sum(payload) + body[3 + n]) & 0xFF:
            return  # checksums fail: dropped, no ACK
        self._out, self._waiting = [ACK], None
        self.commands.append(payload[1] if n > 1 else None)
        if payload[0] != 0xD4 or n < 2 or not self._command(payload[1], payload[2:]):
            self._answer(ERROR_FRAME)

    def _answer(self, frame):
        if frame != ERROR_FRAME and self.corrupt:
            self.corrupt -= 1
            frame = frame[:-2] + bytes([frame[-2] ^ 0x5A, 0x00])
        self._last = frame
        self._out.append(frame)

    def _reply(self, code, data=b""):
        self._answer(pn532_frame(bytes([0xD5, code + 1]) + bytes(data)))

    def _command(self, code, p):
        """Carry out a command; False for a syntax error."""
        if code == 0x02 and not p:
            self._reply(code, bytes(self.firmware))
        elif code == 0x14 and 1 <= len(p) <= 3 and 1 <= p[0] <= 4:
            self.sam = True
            self._reply(code)
        elif code == 0x32 and p and p[0] == 0x01 and len(p) == 2:
            self.field.power(bool(p[1] & 0x02))
            self._reply(code)
        elif code == 0x32 and p and p[0] == 0x05 and len(p) == 4:
            self.retries = p[3]
            self._reply(code)
        elif code == 0x32 and p and p[0] in (0x02, 0x04, 0x0A, 0x0B, 0x0C, 0x0D):
            self._reply(code)  # timings and analog settings: taken, not modelled
        elif code == 0x4A and len(p) == 2 and p[1] == 0x00 and 1 <= p[0] <= 2 and self.sam:
            self._tries = 0
            self._waiting = p[0]
            self._list(p[0])
        elif code in (0x52, 0x44) and len(p) == 1:
            targets = self._listed if p[0] == 0 else self._listed[p[0] - 1:p[0]]
            for card in targets:
                if card is not None:
                    self.field.transceive(HLTA)
            status = 0x00 if targets else NOT_ACCEPTABLE
            self.error = status or self.error
            if code == 0x52:
                self._listed = []
            self._reply(code, bytes([status]))
        elif code == 0x40 and len(p) >= 2:
            if 1 <= p[0] <= len(self._listed):
                self._exchange(code, p[1:])
            else:
                self.error = NOT_ACCEPTABLE
                self._reply(code, bytes([NOT_ACCEPTABLE]))
        elif code == 0x42 and p:
            self._exchange(code, p)
        elif code == 0x04 and not p:
            targets = b"".join(bytes([tg, 0x00, 0x00, 0x00]) for tg in range(1, len(self._listed) + 1))
            self._reply(code, bytes([self.error, 0x00, len(self._listed)]) + targets + b"\x00")
        else:
            return False
        return True

    def _exchange(self, code, out):
        """Send a command to the card in the field, its CRC_A added; reply the status and the card's data."""
        answer, _ = self.field.transceive(to_bits(out + crc_a(out)))
        data = to_bytes(answer or [])
        if answer is None:
            status = TIMEOUT
        elif len(answer) % 8:
            status = INVALID_FRAME
        elif len(data) < 3 or crc_a(data[:-2]) != data[-2:]:
            status = CRC_ERROR
        else:
            status = 0
        self.error = status or self.error
        self._reply(code, bytes([status]) + (data[:-2] if not status else b""))

    def _list(self, most):
        """One more try of InListPassiveTarget: answers when a card is found or the tries are over."""
        self.field.power(True)
        found = self._activate()
        self._tries += 1
        if found is None and (self.retries == 0xFF or self._tries <= self.retries):
            return  # still looking
        self._waiting = None
        if found is None:
            self._listed = []
            self._reply(0x4A, b"\x00")
            return
        atqa, uid, sak = found
        self._listed = [uid]
        self._reply(0x4A, bytes([1, 1, atqa[1], atqa[0], sak, len(uid)]) + uid)

    def _activate(self):
        """REQA, then anticollision and SELECT at each cascade level: (ATQA, UID, SAK) of one card, or None."""
        field = self.field
        atqa, _ = field.transceive(to_bits(bytes([REQA]), 7))
        if not atqa or len(atqa) != 16:
            return None
        uid = b""
        for sel in SEL:
            known = []  # UID bits settled so far at this level
            while len(known) < 40:
                n = 16 + len(known)
                nvb = (n // 8) << 4 | n % 8
                answer, coll = field.transceive(to_bits(bytes([sel, nvb])) + known)
                if not answer or len(known) + len(answer) != 40 and coll is None:
                    return None
                if coll is None:
                    known += answer
                else:  # take the branch where the colliding bit is 1
                    known += answer[:coll] + [1]
            part = to_bytes(known)
            if part[0] ^ part[1] ^ part[2] ^ part[3] != part[4]:
                return None
            frame = bytes([sel, 0x70]) + part
            answer, _ = field.transceive(to_bits(frame + crc_a(frame)))
            if not answer or len(answer) != 24 or crc_a(to_bytes(answer)[:1]) != to_bytes(answer)[1:]:
                return None
            sak = to_bytes(answer)[0]
            if not sak & 0x04:
                return bytes(to_bytes(atqa)), uid + part[:4], sak
            if part[0] != CASCADE_TAG:
                return None
            uid += part[1:4]
        return None
