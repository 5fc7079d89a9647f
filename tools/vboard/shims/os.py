# ESP8266 `os` on the virtual board: the unix port's, with the REPL's duplicate terminals. On the board,
# os.dupterm_notify() moves what the attached streams have into the REPL's input; here it goes in on the serial line.
# Only the names a board has: the unix port's own (getenv, system, VfsPosix...) stay in `uos`.
from uos import (VfsFat, VfsLfs2, chdir, getcwd, listdir, mkdir, mount, remove, rename, rmdir, sep,  # noqa: F401
                 umount, unlink, urandom)
from uos import getenv, ilistdir as _ilistdir, stat as _stat
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



def stat(p):
    # As LittleFS answers (extmod/vfs_lfsx.c): the type only, no inode, device, links or owner; the time the
    # file was last written, counted from 2000 as the board's clock counts (here the host's time of the write).
    s = _stat(p)
    t = max(0, s[8] - 946684800)  # the unix port counts from 1970
    if not s[1]:  # the ROMFS partition's, or LittleFS's (Bench(..., flash="littlefs")): as on the board, but the time
        return s[:7] + (t, t, t) if s[8] else s
    d = s[0] & 0x4000  # a folder: its mode is only that (no permission bits), its size 0
    return (d or 0x8000, 0, 0, 0, 0, 0, 0 if d else s[6], t, t, t)


def ilistdir(p="."):
    # LittleFS's entries are (name, type, 0, size); the host folder's have no size.
    for e in _ilistdir(p):
        yield e if len(e) > 3 else (e[0], e[1], 0, stat(p.rstrip("/") + "/" + e[0])[6] if e[1] == 0x8000 else 0)


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


if getenv("VBOARD_FLASH"):  # the flash is LittleFS itself (shims/_flash.py): its own figures
    statvfs = __import__("uos").statvfs
del getenv
