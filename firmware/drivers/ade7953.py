"""ADE7953 single-phase energy-metering chip on I2C (address 0x38), its current channel A on the strip's feed: rms
voltage and current, active power, power factor, the mains period and the active energy since the last read, in the
chip's counts (meter.py scales them).

A register's number gives its width: 0x0xx 8 bits, 0x1xx 16, 0x2xx 24, sent MSB first after the 16-bit number. At
start the chip gets the setting its datasheet requires after every power-up (0xAD to 0xFE, the key, then 0x30 to
0x120), and LCYCMODE's RSTREAD (its power-up value, written again) makes a read of the energy register clear it.
IRQSTATA's RESET bit, read through RSTIRQSTATA (which clears it), tells a chip that started again on its own (its
energy lost, its setting gone).

I2C carries no checksum, but the chip keeps the data of its last transfer in LAST_RWDATA_24: the energy register,
cleared as it is read, is checked against it, one more read, so that a bit flipped on the bus is never counted as
energy. A value the chip itself holds out of range passes the check: the caller judges the range."""
from micropython import const

_LCYCMODE = const(0x004)
_KEY = const(0x0FE)
_PFA = const(0x10A)
_PERIOD = const(0x10E)
_SETTING = const(0x120)
_AWATT = const(0x212)
_IRMSA = const(0x21A)
_VRMS = const(0x21C)
_AENERGYA = const(0x21E)
_RSTIRQSTATA = const(0x22E)
_LAST_RWDATA24 = const(0x2FF)
_RESET = const(0x100000)


class ADE7953:
    def __init__(self, i2c, addr=0x38):
        self.i2c = i2c
        self.addr = addr
        mv = memoryview(bytearray(3))
        self.mv = (mv[:1], mv[:2], mv)  # a register of 8, 16, 24 bits: read with no allocation

    def _get(self, reg, signed=False):
        n = 1 + (reg >> 8)
        b = self.mv[n - 1]
        self.i2c.readfrom_mem_into(self.addr, reg, b, addrsize=16)
        v = 0
        for x in b:
            v = v << 8 | x
        return v - (1 << 8 * n) if signed and b[0] & 0x80 else v

    def _set(self, reg, v):
        n = 1 + (reg >> 8)
        self.i2c.writeto_mem(self.addr, reg, v.to_bytes(n, "big"), addrsize=16)

    def start(self):
        """Set the chip up (after its power-up, or once it started again); OSError when it does not answer."""
        self._set(_KEY, 0xAD)
        self._set(_SETTING, 0x30)
        self._set(_LCYCMODE, 0x40)
        self._get(_RSTIRQSTATA)  # its start seen

    def read(self, r):
        """Into the list r: rms voltage, rms current, active power, power factor, mains period, active energy since
        the last read, each in the chip's counts. True: a good reading. False: the chip started again since the last
        read (its energy lost: start() it again). None: the energy's transfer failed its check (the reading is not
        to be used, its energy is lost). OSError when it does not answer."""
        if self._get(_RSTIRQSTATA) & _RESET:
            return False
        r[0], r[1], r[2] = self._get(_VRMS), self._get(_IRMSA), self._get(_AWATT, True)
        r[3], r[4] = self._get(_PFA, True), self._get(_PERIOD)
        e = self._get(_AENERGYA)
        if self._get(_LAST_RWDATA24) != e:
            return None
        r[5] = e - 0x1000000 if e & 0x800000 else e
        return True
