# ESP8266 `network` on the virtual board: the radio is the bench's.
from _wire import Hw

STA_IF, AP_IF = 0, 1
STAT_IDLE, STAT_CONNECTING, STAT_WRONG_PASSWORD, STAT_NO_AP_FOUND, STAT_CONNECT_FAIL, STAT_GOT_IP = 0, 1, 2, 3, 4, 5


_if = [Hw("WLAN", (i,), {}, True) for i in (STA_IF, AP_IF)]  # in ROM on the ESP8266: no heap for the firmware


def WLAN(i=STA_IF):
    return _if[i]
