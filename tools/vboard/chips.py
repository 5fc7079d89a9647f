"""Register-level models of the chips on the virtual board's I2C bus.

The board's machine.I2C shim hands a model one whole bus transaction per call
(write: START, address+W, bytes, STOP; read: START, address+R, n bytes, STOP).
"""

import calendar
import datetime
import math
import time


class Nack(Exception):
    """No device acknowledged (the shim turns it into OSError ENODEV)."""


class Clock:
    """World time of the bench: runs at real speed, can be set and jumped.

    `source` is the monotonic time base it runs on; tests pass one they step by hand.
    """

    def __init__(self, start=None, source=time.monotonic):
        self._source = source
        self._offset = (time.time() if start is None else start) - source()

    def now(self):
        """Unix seconds, UTC."""
        return self._source() + self._offset

    def set(self, unix_seconds):
        self._offset = unix_seconds - self._source()

    def jump(self, seconds):
        self._offset += seconds


class I2CDevice:
    """A device on the bus, at `addr`."""

    addr = None

    def write(self, data):
        """One transaction: START, addr+W, data..., STOP."""
        raise NotImplementedError

    def read(self, n):
        """One transaction: START, addr+R, n bytes, STOP."""
        raise NotImplementedError

    def power(self, on):
        """The board's 3.3 V is switched off (power cut) or back on."""


class PCF8574(I2CDevice):
    """8-bit quasi-bidirectional I/O expander: a 0 drives the pin low, a 1 releases it to a weak pull-up."""

    def __init__(self, addr=0x20):
        self.addr = addr
        self.latch = 0xFF
        self.writes = []  # every byte latched, in order: the pins' history
        self._pulled_low = 0
        self._powered = True

    def write(self, data):
        self._check()
        for byte in data:  # the outputs follow each byte as it is acknowledged
            self.latch = byte
            self.writes.append(byte)

    def read(self, n):
        self._check()
        return bytes([self.levels()] * n)

    def power(self, on):
        if not on:
            self.latch = 0xFF  # comes back with every pin released
        self._powered = on

    def pull_low(self, pin, low=True):
        """Something outside the chip pulls `pin` low (True) or lets it go (False)."""
        if low:
            self._pulled_low |= 1 << pin
        else:
            self._pulled_low &= ~(1 << pin)

    def levels(self):
        """The pins' real levels: low where the latch drives them low or something outside pulls them low."""
        return self.latch & ~self._pulled_low & 0xFF

    def _check(self):
        if not self._powered:
            raise Nack(self.addr)


# The chips' calendar: year 00-99, every year divisible by 4 a leap year (2100 included).
_DAY = 86400
_CENTURY_DAYS = 36525
_MONTH_START = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _bcd(value):
    return value // 10 << 4 | value % 10


def _unbcd(byte):
    return (byte >> 4) * 10 + (byte & 0x0F)


def _hour(reg):
    if reg & 0x40:  # 12-hour mode: bit 5 is PM, 12 AM is midnight
        return _unbcd(reg & 0x1F) % 12 + (12 if reg & 0x20 else 0)
    return _unbcd(reg & 0x3F)


def _chip_days(century, year, month, date):
    """Days since 2000-01-01 (century bit 0, year 00) on the chip's calendar."""
    month = min(max(month, 1), 12)
    leap_day = year % 4 == 0 and month > 2
    return (century * _CENTURY_DAYS + year * 365 + (year + 3) // 4
            + _MONTH_START[month - 1] + leap_day + date - 1)


def _chip_date(days):
    """(century bit, year 00-99, month, date) for a day count from _chip_days."""
    century, days = divmod(days, _CENTURY_DAYS)
    quad, days = divmod(days, 4 * 365 + 1)
    if days < 366:
        year = 0
    else:
        year, days = divmod(days - 366, 365)
        year += 1
    leap = year == 0
    for month in range(12, 0, -1):
        start = _MONTH_START[month - 1] + (leap and month > 2)
        if days >= start:
            return century & 1, quad * 4 + year, month, days - start + 1


class _RTC(I2CDevice):
    """What the DS3231 and the DS1307 share: BCD time registers 00-06 and a wrapping register pointer.

    The time is a count of seconds on the chip's calendar, `_base` at world instant `_ref`;
    it advances with the bench's Clock unless the oscillator is `_frozen`.
    """

    SIZE = None  # number of registers: the pointer wraps after the last
    CENTURY = None  # month register bit 7 is the century bit (DS3231) or always 0 (DS1307)
    MAX_YEAR = None

    def __init__(self, clock, addr=0x68):
        self.clock = clock
        self.addr = addr
        self.battery = True
        self._powered = True
        self._reset()

    # the bus

    def write(self, data):
        self._check()
        if not data:
            return
        now = self.clock.now()
        regs = self._registers(now)
        pointer = data[0] % self.SIZE
        written = set()
        for byte in data[1:]:
            regs[pointer] = byte
            written.add(pointer)
            pointer = (pointer + 1) % self.SIZE
        self._pointer = pointer
        if written:
            self._store(regs, written, now)

    def read(self, n):
        self._check()
        regs = self._registers(self.clock.now())  # latched at START: the read cannot tear
        start = self._pointer
        self._pointer = (start + n) % self.SIZE
        return bytes(regs[(start + i) % self.SIZE] for i in range(n))

    def power(self, on):
        if not on and self._powered:
            self._lost = not self.battery
        elif on and not self._powered and (self._lost or not self.battery):
            self._reset()
        self._powered = on

    # test helpers

    def set_time(self, when):
        """Set the chip's time from a datetime, as if written in 24-hour mode; the time is trusted again."""
        if not 2000 <= when.year <= self.MAX_YEAR:
            raise ValueError("year out of the chip's range: %d" % when.year)
        century, year = divmod(when.year - 2000, 100)
        now = self.clock.now()
        regs = self._registers(now)
        regs[0:7] = bytes((_bcd(when.second), _bcd(when.minute), _bcd(when.hour), when.isoweekday(),
                           _bcd(when.day), century << 7 | _bcd(when.month), _bcd(year)))
        self._store(regs, set(range(7)), now)

    def time(self):
        """The date and time the chip counts now (naive datetime)."""
        regs = self._registers(self.clock.now())
        return datetime.datetime(2000 + 100 * (regs[5] >> 7) + _unbcd(regs[6]), _unbcd(regs[5] & 0x1F),
                                 _unbcd(regs[4]), _hour(regs[2]), _unbcd(regs[1]), _unbcd(regs[0] & 0x7F))

    def set(self, unix_seconds):
        """Set the chip's time to a Unix time (UTC), to the fraction of a second; trusted again, like set_time."""
        whole = math.floor(unix_seconds)
        self.set_time(datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=whole))
        self._base += unix_seconds - whole

    def unix(self):
        """The chip's time now as a Unix time (whole seconds, as the registers say)."""
        return calendar.timegm(self.time().timetuple())

    def lose(self):
        """The backup battery ran flat while the board was off: the chip is as new (2000-01-01 00:00:00, OSF set
        on a DS3231, CH set on a DS1307: halted) and its registers are back to their power-up values."""
        self._reset()

    def state(self):
        """What the battery keeps, as plain values (None: nothing, no battery): the time as an offset from the
        world's clock (or where it stands still), the weekday count, and the storage registers."""
        if self._lost or not self.battery:
            return None
        now = self.clock.now()
        return {"chip": type(self).__name__, "offset": None if self._frozen else self._seconds(now) - now,
                "stopped": self._seconds(now) if self._frozen else None, "h12": self._h12,
                "weekday": [self._weekday, self._weekday_day], "registers": self._regs.hex()}

    def restore(self, state):
        """Take back what state() gave (a ValueError, KeyError or TypeError when it is not that)."""
        regs = bytearray.fromhex(state["registers"])
        if state.get("chip") != type(self).__name__ or len(regs) != self.SIZE:
            raise ValueError("not the state of a %s" % type(self).__name__)
        now = self.clock.now()
        self._frozen = state["offset"] is None
        self._base = float(state["stopped"] if self._frozen else state["offset"] + now)
        self._ref = now
        self._h12 = bool(state["h12"])
        self._weekday, self._weekday_day = (int(x) for x in state["weekday"])
        self._regs = regs
        self._pointer = 0
        self._lost = False

    # inside

    def _reset(self):
        """The state of a chip that just got power for the first time: 2000-01-01 00:00:00, day 1."""
        self._pointer = 0
        self._regs = bytearray(self.SIZE)  # the registers that are plain storage
        self._h12 = False
        self._frozen = False
        self._base = 0.0
        self._ref = self.clock.now()
        self._weekday = 1
        self._weekday_day = 0  # the weekday register held _weekday on this chip day
        self._lost = False

    def _check(self):
        if not self._powered:
            raise Nack(self.addr)

    def _seconds(self, now):
        return self._base if self._frozen else self._base + (now - self._ref)

    def _freeze(self, frozen, now):
        self._base = self._seconds(now)
        self._ref = now
        self._frozen = frozen

    def _registers(self, now):
        """Every register's content at world instant `now`."""
        regs = bytearray(self._regs)
        whole = math.floor(self._seconds(now))
        days, seconds = divmod(whole, _DAY)
        century, year, month, date = _chip_date(days)
        hour, seconds = divmod(seconds, 3600)
        minute, second = divmod(seconds, 60)
        if self._h12:
            hours = 0x40 | (0x20 if hour >= 12 else 0) | _bcd(hour % 12 or 12)
        else:
            hours = _bcd(hour)
        weekday = self._weekday
        if days != self._weekday_day:  # counts on from whatever was written, 1..7
            weekday = (weekday - 1 + days - self._weekday_day) % 7 + 1
        regs[0:7] = bytes((_bcd(second), _bcd(minute), hours, weekday, _bcd(date),
                           (century << 7 & self.CENTURY) | _bcd(month), _bcd(year)))
        return regs

    def _store(self, regs, written, now):
        """Take in a write transaction: `regs` holds every register after it, `written` the addresses written."""
        if written & {0, 1, 2, 3, 4, 5, 6}:
            self._set_time(regs, 0 in written, now)

    def _set_time(self, regs, seconds_written, now):
        """Re-derive the time from registers 00-06; writing the seconds resets the sub-second divider."""
        current = self._seconds(now)
        fraction = 0.0 if seconds_written else current - math.floor(current)
        self._h12 = bool(regs[2] & 0x40)
        days = _chip_days((regs[5] & self.CENTURY) >> 7, _unbcd(regs[6]), _unbcd(regs[5] & 0x1F),
                          _unbcd(regs[4] & 0x3F))
        self._base = (days * _DAY + _hour(regs[2]) * 3600 + _unbcd(regs[1] & 0x7F) * 60
                      + _unbcd(regs[0] & 0x7F) + fraction)
        self._ref = now
        self._weekday = regs[3] & 0x07
        self._weekday_day = days


class DS3231(_RTC):
    """DS3231 temperature-compensated RTC: OSF flag, century bit, thermometer."""

    SIZE = 0x13
    CENTURY = 0x80
    MAX_YEAR = 2199
    CONTROL, STATUS, AGING, TEMP_MSB, TEMP_LSB = 0x0E, 0x0F, 0x10, 0x11, 0x12
    OSF, EN32KHZ, BSY, A2F, A1F = 0x80, 0x08, 0x04, 0x02, 0x01

    def __init__(self, clock, addr=0x68):
        self.temperature = 25.0  # degrees C, what the chip's thermometer reads
        super().__init__(clock, addr)

    def set_time(self, when):
        super().set_time(when)
        self._regs[self.STATUS] &= ~self.OSF

    def time_lost(self):
        """What the firmware reads as a lost time: OSF set."""
        return bool(self._regs[self.STATUS] & self.OSF)

    def stop_oscillator(self):
        """The oscillator stops: OSF is set and the time stands still until the time is written."""
        self._regs[self.STATUS] |= self.OSF
        self._freeze(True, self.clock.now())

    def _reset(self):
        super()._reset()
        self._regs[self.CONTROL] = 0x1C
        self._regs[self.STATUS] = self.OSF | self.EN32KHZ

    def _registers(self, now):
        regs = super()._registers(now)
        quarters = min(max(math.floor(self.temperature * 4 + 0.5), -512), 511)
        regs[self.TEMP_MSB] = quarters >> 2 & 0xFF
        regs[self.TEMP_LSB] = (quarters & 3) << 6
        return regs

    def _store(self, regs, written, now):
        super()._store(regs, written, now)
        if written & {0, 1, 2, 3, 4, 5, 6} and self._frozen:
            self._freeze(False, now)
        for reg in written:
            if 7 <= reg <= self.AGING and reg != self.STATUS:
                self._regs[reg] = regs[reg]
        if self.STATUS in written:
            # OSF, A2F, A1F can only be cleared (written 0); EN32kHz is plain; BSY is read-only
            flags = self.OSF | self.A2F | self.A1F
            old, new = self._regs[self.STATUS], regs[self.STATUS]
            self._regs[self.STATUS] = (old & new & flags) | (new & self.EN32KHZ) | (old & self.BSY)


class DS1307(_RTC):
    """DS1307 RTC: CH (clock halt, seconds bit 7) stops the clock; 56 bytes of battery-backed RAM."""

    SIZE = 0x40
    CENTURY = 0x00
    MAX_YEAR = 2099
    CONTROL = 0x07
    CH = 0x80

    def time_lost(self):
        """What the firmware reads as a lost time: CH set (the clock halted)."""
        return self._frozen

    def stop_oscillator(self):
        """CH is set: the clock stands still until the seconds register is written with CH 0."""
        self._freeze(True, self.clock.now())

    def _reset(self):
        super()._reset()
        self._frozen = True  # CH is 1 on a fresh chip
        self._regs[self.CONTROL] = 0x03  # RS1 RS0 = 1, OUT = SQWE = 0 (unverified)

    def _registers(self, now):
        regs = super()._registers(now)
        if self._frozen:
            regs[0] |= self.CH
        return regs

    def _store(self, regs, written, now):
        super()._store(regs, written, now)
        if 0 in written:
            self._freeze(bool(regs[0] & self.CH), now)
        for reg in written:
            if reg >= self.CONTROL:
                self._regs[reg] = regs[reg]
