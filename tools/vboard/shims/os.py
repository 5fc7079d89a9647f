# ESP8266 `os` on the virtual board: the unix port's, with the REPL's duplicate terminals. On the board,
# os.dupterm_notify() moves what the attached streams have into the REPL's input; here it goes in on the serial line.
from uos import *  # noqa: F403 (the ESP8266 os API, re-exported)
from _wire import go

_t = [None, None]  # slot 0 (WebREPL's on the board) and 1 (the UART's)


def dupterm(s=None, i=0):
    p = _t[i]
    _t[i] = s
    return p


def dupterm_notify(_):
    b = bytearray(1)
    for s in _t:
        while s and s.readinto(b):
            go("f keys", (bytes(b),), {})



def uname():
    # An ESP8266's answer; the version is the interpreter's (the board's says which MicroPython it runs).
    import sys
    from collections import namedtuple

    v = sys.implementation.version
    return namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))(
        "esp8266", "esp8266", "2.2.0-dev(9422289)", "v%d.%d.%d" % v[:3], "ESP module with ESP8266")


def statvfs(p):
    # The board's LittleFS as the bench works it out from the board folder (the host's disk is not the board's flash)
    return go("f statvfs", (p,), {})
