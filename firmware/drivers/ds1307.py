"""DS1307 real-time clock: the DS3231's time registers, with CH (clock halt) as the lost flag."""

from .ds3231 import DS3231


class DS1307(DS3231):
    LOST = 0  # CH is bit 7 of the seconds register; 1 on a fresh chip and the clock stands still
    temperature = None  # no thermometer
