"""PN532 NFC reader on I2C: the UID of the ISO 14443-A card in the field, with the same read() as the MFRC522.

Polling contract (firmware/link.py polls every ~150 ms): read() returns the UID of a card in the field, or None.
After a card is read the RF field is switched off, which resets the card: the next read() finds it again while
it stays, so a card left on the reader answers every poll with the same UID, and a card that left answers no
more (the `wake` argument changes nothing here). The rule "the same UID again, without two empty polls in
between: no new tap" is the polling task's.

read() returns None when no card answers, when the card leaves in the middle of a read, or when an answer comes
garbled (bad checksum): no part of a UID is ever returned, and the chip is ready for the next poll. It raises
OSError when the chip itself does not answer: ENODEV (no acknowledge on the bus), ETIMEDOUT (no ACK frame or
answer in time), EIO (a wrong ACK frame; an error frame to firmware_version() or sam_config())."""

from micropython import const

_POLLS = const(300)  # status reads (about 0.3 ms each at 100 kHz) before an answer is given up
# Command frames are written whole: 00 00 FF LEN LCS D4 CMD params DCS 00 (LEN + LCS = 0, D4 + CMD + params + DCS
# = 0), as literals (no buffer to build them in, no name to keep for them)


class PN532:
    def __init__(self, i2c, addr=0x24):
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(64)  # the status byte and a frame
        mv = memoryview(self.buf)
        self.b1 = mv[:1]
        self.b7 = mv[:7]  # status and ACK frame
        self.b16 = mv[:16]  # status and a short answer
        self.n = 0  # the data length of the last answer

    def _ready(self):
        # True once the status byte says a frame is ready, False after _POLLS reads
        for _ in range(_POLLS):
            self.i2c.readfrom_into(self.addr, self.b1)
            if self.b1[0] & 1:
                return True
        return False

    def _cmd(self, frame, into, wait=False):
        # Send a command frame, read its ACK, then its answer into `into`: the index in buf of the answer's data
        # (after D5 and the code), its length in self.n; -1 for a garbled or error answer, or, with wait, for no
        # answer in time (the command is aborted)
        i2c = self.i2c
        b = self.buf
        i2c.writeto(self.addr, frame)
        if not self._ready():
            raise OSError(110)
        i2c.readfrom_into(self.addr, self.b7)
        if b[3] != 0xFF or b[4] or b[5] != 0xFF:  # not 00 00 FF 00 FF 00
            raise OSError(5)
        if not self._ready():
            if not wait:
                raise OSError(110)
            i2c.writeto(self.addr, b"\x00\x00\xff\x00\xff\x00")  # an ACK frame: abort
            return -1
        i2c.readfrom_into(self.addr, into)
        i = 1
        while i < 6 and b[i] == 0:  # preamble and start code
            i += 1
        n = b[i + 1]
        if b[i] != 0xFF or (n + b[i + 2]) & 0xFF or n < 2 or i + 4 + n > len(into) or b[i + 3] != 0xD5 \
                or b[i + 4] != frame[6] + 1:
            return -1
        s = 0
        for k in range(i + 3, i + 4 + n):  # TFI, data and DCS add up to 0
            s += b[k]
        if s & 0xFF:
            return -1
        self.n = n - 2
        return i + 5

    def firmware_version(self):
        """(IC, version, revision, support): (0x32, 1, 6, 7) for a PN532 v1.6."""
        p = self._cmd(b"\x00\x00\xff\x02\xfe\xd4\x02\x2a\x00", self.b16)  # GetFirmwareVersion
        if p < 0 or self.n < 4:
            raise OSError(5)
        b = self.buf
        return b[p], b[p + 1], b[p + 2], b[p + 3]

    def sam_config(self):
        """SAMConfiguration, normal mode (no SAM): the chip leaves its start-up low-power mode."""
        if self._cmd(b"\x00\x00\xff\x05\xfb\xd4\x14\x01\x14\x01\x02\x00", self.b16) < 0:  # IRQ pin used
            raise OSError(5)

    def init(self):
        """Check the chip and set it up for reading; returns firmware_version()."""
        try:
            v = self.firmware_version()
        except OSError:  # the first frame may only wake the chip up
            v = self.firmware_version()
        self.sam_config()
        # RFConfiguration MaxRetries, 1 passive activation retry: InListPassiveTarget answers at once with no card
        self._cmd(b"\x00\x00\xff\x06\xfa\xd4\x32\x05\xff\x01\x01\xf4\x00", self.b16)
        return v

    def read(self, wake=True):
        """The UID (bytes: 4, 7 or 10) of the card in the field, or None (module docstring)."""
        p = self._cmd(b"\x00\x00\xff\x04\xfc\xd4\x4a\x01\x00\xe1\x00", self.buf, True)  # InListPassiveTarget 1, 106A
        b = self.buf
        uid = None
        if p > 0 and self.n >= 6 and b[p] == 1:  # one target: Tg, SENS_RES (2), SEL_RES, NFCID1 length, NFCID1
            k = b[p + 5]
            if (k == 4 or k == 7 or k == 10) and 6 + k <= self.n:
                uid = bytes(b[p + 6:p + 6 + k])
        if p < 0 or b[p]:
            # RFConfiguration, RF field off: the card loses its power, the next read() finds it afresh
            self._cmd(b"\x00\x00\xff\x04\xfc\xd4\x32\x01\x00\xf9\x00", self.b16)
        return uid
