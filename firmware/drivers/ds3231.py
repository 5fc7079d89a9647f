"""DS3231 real-time clock; DS1307 (ds1307.py) reuses its BCD time code."""

from micropython import const

_SECONDS = const(0x00)  # 00-06: seconds, minutes, hours, day, date, month/century, year
_STATUS = const(0x0F)
_MSB_OF_TEMP = const(0x11)
_OSF = const(0x80)


def _bcd(b):
    return (b >> 4) * 10 + (b & 15)


class DS3231:
    LOST = _STATUS  # register whose bit 7 says the time was lost (OSF here, CH on the DS1307)

    def __init__(self, i2c, addr=0x68):
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(7)
        mv = memoryview(self.buf)
        self.b1 = mv[:1]
        self.b2 = mv[:2]

    def datetime(self):
        """(year, month, mday, hour, minute, second, weekday), weekday 0 = Monday."""
        b = self.buf
        self.i2c.readfrom_mem_into(self.addr, _SECONDS, b)
        h = b[2]
        if h & 0x40:  # 12-hour mode: bit 5 is PM, 12 AM is midnight
            h = _bcd(h & 0x1F) % 12 + (12 if h & 0x20 else 0)
        else:
            h = _bcd(h)
        return (2000 + (b[5] >> 7) * 100 + _bcd(b[6]), _bcd(b[5] & 0x1F), _bcd(b[4]),
                h, _bcd(b[1]), _bcd(b[0] & 0x7F), (b[3] - 1) % 7)

    def set_datetime(self, t):
        """Set from (year, month, mday, hour, minute, second, weekday, ...), in 24-hour mode; clears lost()."""
        b = self.buf
        y = t[0] - 2000
        for i, v in enumerate((t[5], t[4], t[3], t[6] + 1, t[2], t[1], y % 100)):
            b[i] = (v // 10) << 4 | v % 10
        b[5] |= y // 100 << 7  # century bit; a DS1307 ignores it
        self.i2c.writeto_mem(self.addr, _SECONDS, b)  # DS1307: CH = 0 with the seconds
        if self.LOST:  # DS3231: clear OSF after the time, keeping the other status bits
            b = self.b1
            self.i2c.readfrom_mem_into(self.addr, _STATUS, b)
            b[0] = b[0] & ~_OSF | 0x03  # 1 keeps A2F/A1F: an alarm that fired meanwhile stays
            self.i2c.writeto_mem(self.addr, _STATUS, b)

    def lost(self):
        """True when the time is not to be trusted: OSF (DS3231) or CH (DS1307) is set."""
        self.i2c.readfrom_mem_into(self.addr, self.LOST, self.b1)
        return self.b1[0] >> 7 == 1

    def temperature(self):
        """The chip's thermometer, in degrees C (0.25 C steps, updated every 64 s)."""
        b = self.b2
        self.i2c.readfrom_mem_into(self.addr, _MSB_OF_TEMP, b)
        return b[0] - (b[0] & 0x80) * 2 + (b[1] >> 6) * 0.25  # MSB is two's complement
