"""MFRC522 RFID reader (ISO 14443-A, 13.56 MHz), on SPI or I2C: the UID of the card in the field.

Polling contract (firmware/link.py polls every ~150 ms): read() returns the UID of a card in the field, or None.
Every card read is halted (HLTA) before read() returns; read() wakes halted cards (WUPA), so a card left on the
reader answers every poll with the same UID, and a card that left answers no more. The rule "the same UID again,
without two empty polls in between: no new tap" is the polling task's. read(False) sends REQA instead: only a
card that is not halted, one that came into the field since it was last read, answers.

read() returns None when no card answers, when two cards answer at once (collision), when the card leaves in the
middle of a read or an answer comes damaged: no part of a UID is ever returned, and the chip is ready for the
next poll. It raises OSError when the chip itself does not answer: ENODEV for a missing I2C chip, or an
SPI MISO that nothing drives (0xFF), ETIMEDOUT when the chip never ends a command (MISO stuck low). init()
raises OSError(ENODEV) when VersionReg reads 0x00 or 0xFF: no chip."""

from micropython import const

_COMMAND = const(0x01)
_COM_IRQ = const(0x04)
_ERROR = const(0x06)
_FIFO = const(0x09)
_LEVEL = const(0x0A)
_FRAMING = const(0x0D)
_MODE = const(0x11)
_TX_CONTROL = const(0x14)
_TX_ASK = const(0x15)
_T_MODE = const(0x2A)
_T_PRESCALER = const(0x2B)
_T_RELOAD_HI = const(0x2C)
_T_RELOAD_LO = const(0x2D)
_VERSION = const(0x37)
_IDLE = const(0x00)
_TRANSMIT = const(0x04)
_TRANSCEIVE = const(0x0C)
_SOFT_RESET = const(0x0F)
_POLLS = const(1000)  # register reads before a chip that never ends a command is given up (its timer: 10 ms)


def _crc(b, i, j):
    # CRC_A of b[i:j] (preset 0x6363); 0 over data followed by its own CRC
    c = 0x6363
    while i < j:
        x = b[i] ^ c & 0xFF
        x ^= x << 4 & 0xFF
        c = c >> 8 ^ x << 8 ^ x << 3 ^ x >> 4
        i += 1
    return c


class MFRC522:
    def __init__(self, spi=None, cs=None, i2c=None, addr=0x28, rst=None):
        """SPI: spi (machine.SPI, mode 0) and cs (machine.Pin, high when idle); I2C: i2c and addr. rst: the
        NRSTPD pin, if wired (init() drives it high)."""
        self.spi = spi
        self.cs = cs
        self.i2c = i2c
        self.addr = addr
        self.rst = rst
        self.b = bytearray(2)  # one register access
        self.b1 = memoryview(self.b)[1:]
        self.f = bytearray(9)  # a frame: sent from f[0], answered into f[2:]
        self.uid = bytearray(10)

    def _reg(self, reg, v=-1):
        # write v to the register, or read it (v < 0)
        b = self.b
        if self.spi:
            b[0] = reg << 1 & 0x7E | (0x80 if v < 0 else 0)
            b[1] = 0 if v < 0 else v
            self.cs(0)
            self.spi.write_readinto(b, b)
            self.cs(1)
        elif v < 0:
            self.i2c.readfrom_mem_into(self.addr, reg, self.b1)
        else:
            b[1] = v
            self.i2c.writeto_mem(self.addr, reg, self.b1)
        return b[1]

    def version(self):
        """VersionReg: 0x91, 0x92 (v1, v2); clones say 0x88, 0x89, 0xB2, 0x12... OSError(ENODEV) on 0x00 or 0xFF."""
        v = self._reg(_VERSION)
        if v == 0 or v == 0xFF:
            raise OSError(19)
        return v

    def init(self):
        """Reset the chip and set it up for reading; returns version()."""
        if self.rst and not self.rst():
            from time import sleep

            self.rst.init(self.rst.OUT, value=1)  # out of hard power-down: the oscillator starts
            sleep(0.05)
        v = self.version()
        r = self._reg
        r(_COMMAND, _SOFT_RESET)
        for _ in range(_POLLS):
            if not r(_COMMAND) & 0x10:  # PowerDown: set until the chip is ready
                break
        r(_T_MODE, 0x80)  # TAuto: the timer starts at the end of each transmission, stops when an answer comes
        r(_T_PRESCALER, 0xA9)  # 13.56 MHz / (2 * 169 + 1): 25 us a tick
        r(_T_RELOAD_HI, 0x01)
        r(_T_RELOAD_LO, 0x90)  # 400 ticks: 10 ms with no answer gives TimerIRq (a card answers within 0.1 ms)
        r(_TX_ASK, 0x40)  # 100 % ASK
        r(_MODE, 0x3D)  # CRC preset 0x6363
        r(_TX_CONTROL, r(_TX_CONTROL) | 0x03)  # antenna on
        return v

    def _send(self, n, bits=0, cmd=_TRANSCEIVE):
        # Send f[:n] (bits: of the last byte, 0 = all 8); the count of bytes answered into f[2:], -1 for no answer,
        # -2 for a bad one
        f = self.f
        self._reg(_COMMAND, _IDLE)
        self._reg(_COM_IRQ, 0x7F)  # every interrupt bit cleared
        self._reg(_LEVEL, 0x80)  # FIFO flushed
        for i in range(n):
            self._reg(_FIFO, f[i])
        self._reg(_FRAMING, bits)
        self._reg(_COMMAND, cmd)
        if cmd == _TRANSCEIVE:
            self._reg(_FRAMING, 0x80 | bits)  # StartSend
        for _ in range(_POLLS):
            irq = self._reg(_COM_IRQ)
            if irq & 0x31:  # RxIRq, IdleIRq (Transmit done), TimerIRq (no answer in time)
                break
        else:
            raise OSError(110)
        self._reg(_COMMAND, _IDLE)
        if not irq & 0x20:  # no answer
            return -1
        e = self._reg(_ERROR)
        if e & 0x20:  # a reserved bit: nothing drives MISO
            raise OSError(19)
        if e & 0x1F:  # buffer overflow, collision, CRC, parity or protocol error
            return -2
        n = self._reg(_LEVEL)
        if n > 7:  # more than the longest answer
            return -2
        for i in range(n):
            f[2 + i] = self._reg(_FIFO)
        return n

    def read(self, wake=True):
        """The UID (bytes: 4, 7 or 10) of the card in the field, then halted; None if none (module docstring)."""
        f = self.f
        u = self.uid
        f[0] = 0x52 if wake else 0x26  # WUPA, REQA: 7 bits
        a = self._send(1, 7)  # ATQA: 2 bytes
        if a == -1:
            return None
        n = 0
        sel = 0x93
        while a == 2:
            f[0] = sel
            f[1] = 0x20  # anticollision: the card answers its part of the UID and the BCC
            if self._send(2) != 5 or f[2] ^ f[3] ^ f[4] ^ f[5] ^ f[6]:
                n = 0
                break
            ct = f[2] == 0x88  # the cascade tag: more of the UID at the next level
            for i in range(3 if ct else 2, 6):
                u[n] = f[i]
                n += 1
            f[1] = 0x70  # SELECT that part
            c = _crc(f, 0, 7)
            f[7] = c & 0xFF
            f[8] = c >> 8
            if self._send(9) != 3:  # SAK and its CRC_A
                n = 0
                break
            # SAK bit 0x04: the UID goes on at the next level; it must agree with the cascade tag
            if not f[2] & 0x04:
                if ct:
                    n = 0
                break
            if not ct or sel == 0x97:
                n = 0
                break
            sel += 2
        # HLTA: a card read stays silent until woken or until it leaves the field; one left half-way through
        # goes back to IDLE (or HALT), where the next poll hears it
        f[0] = 0x50
        f[1] = 0
        f[2] = 0x57
        f[3] = 0xCD
        self._send(4, 0, _TRANSMIT)
        return bytes(u[:n]) if n else None
