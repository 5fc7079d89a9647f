# ESP8266 `os` on the virtual board: the unix port's, with the REPL's duplicate terminals. On the board,
# os.dupterm_notify() moves what the attached streams have into the REPL's input; here it goes in on the serial line.
# Only the names a board has: the unix port's own (getenv, system, VfsPosix...) stay in `uos`.
from uos import (VfsFat, VfsLfs2, chdir, getcwd, ilistdir, listdir, mkdir, mount, remove, rename, rmdir, sep,  # noqa: F401
                 stat, umount, unlink, urandom)
import _wire

_t = [None, None]  # slot 0 (WebREPL's on the board) and 1 (the UART's)


def dupterm(s=None, i=0):
    p = _t[i]
    _t[i] = s
    return p


def dupterm_notify(_):
    b = bytearray(1)
    for s in _t:
        while s and s.readinto(b):
            _wire.go("f keys", (bytes(b),), {})



def sync():  # the board's flushes its FAT filesystems; here every write is already in the host's file
    pass


def uname():
    # An ESP8266's answer; the version is the interpreter's (the board's says which MicroPython it runs).
    import sys
    from collections import namedtuple

    v = sys.implementation.version
    return namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))(
        "esp8266", "esp8266", "2.2.0-dev(9422289)", "v%d.%d.%d" % v[:3], "ESP module with ESP8266")


def statvfs(p):
    # The board's LittleFS as the bench works it out from the board folder (the host's disk is not the board's flash)
    return _wire.go("f statvfs", (p,), {})
