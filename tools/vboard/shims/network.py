# ESP8266 `network` on the virtual board: the radio is the bench's. The constants' values are the SDK's
# (user_interface.h), as ports/esp8266/modnetwork_globals.h and network_wlan.c give them.
import _wire

STA_IF, AP_IF = 0, 1
STAT_IDLE, STAT_CONNECTING, STAT_WRONG_PASSWORD, STAT_NO_AP_FOUND, STAT_CONNECT_FAIL, STAT_GOT_IP = 0, 1, 2, 3, 4, 5
MODE_11B, MODE_11G, MODE_11N = 1, 2, 3
AUTH_OPEN, AUTH_WEP, AUTH_WPA_PSK, AUTH_WPA2_PSK, AUTH_WPA_WPA2_PSK = 0, 1, 2, 3, 4


def country(*a):  # extmod/modnetwork.c: in the chip's RAM (the bench's), kept at a soft reboot
    return _wire.go("f country", a, {})


def hostname(*a):  # the same; the access point's DHCP hears it at connect()
    return _wire.go("f hostname", a, {})


class WLAN(_wire.Hw):
    IF_STA, IF_AP = 0, 1
    SEC_OPEN, SEC_WEP, SEC_WPA, SEC_WPA2, SEC_WPA_WPA2 = 0, 1, 2, 3, 4
    PM_NONE, PM_PERFORMANCE, PM_POWERSAVE = 0, 2, 1

    def __new__(cls, i=STA_IF):  # two objects in ROM on the ESP8266: no heap for the firmware
        return _if[i]

    def __init__(self, i=STA_IF):
        pass


_if = []
for _i in (STA_IF, AP_IF):
    _if.append(object.__new__(WLAN))
    _wire.Hw.__init__(_if[-1], "WLAN", (_i,), {}, True)
del _i
