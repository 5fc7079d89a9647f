"""An update uploaded from the page (POST /api/update, docs/web.md): the file `multiprise bundle` builds, written into
stage/ as it comes, as push stages it; once whole, stage/ready, the answer, and the app restarts (a soft reset: the
outlets keep their state), and updater.py puts the new version in place at boot, on trial, rolled back if it never
gets ready. Loaded while an upload runs, by webapi.py (its start) and webconn.py (its steps).

The file is a line "MPU1 VERSION", then each file as a line "KIND PATH BYTES SHA256" and its bytes, then "END". KIND
says whose it is: all, lib (a board that runs the firmware from /lib) or rom (one that runs it from its ROMFS
partition); the board writes its own and reads past the others. A path outside the update's files, a file whose
SHA-256 is not the one said, a line too long, a file that ends before its bytes or "END": the upload is refused
(400), stage/ removed, nothing installed."""
import hashlib
import os
import time
from binascii import hexlify

from micropython import const

from firmware import webconn

_SPARE = const(16384)  # bytes of the flash left free beyond the update (LittleFS writes copies of its metadata)
# a connection's slots, as webconn.py has them
_SOCK = const(0)
_STATE = const(1)
_BUF = const(2)
_N = const(3)
_DUE = const(4)

# the upload: [its connection, bytes of the body still to come, the version (None before the first line), the open
# file (None: read past), its bytes still to come, their SHA-256 so far, the SHA-256 said, whether the end came,
# whether the board runs the firmware from its ROMFS partition]
up = None


def _rmtree(p):
    try:
        for e in os.ilistdir(p):
            _rmtree(p + "/" + e[0])
        os.rmdir(p)
    except OSError:
        try:
            os.remove(p)
        except OSError:
            pass


def start(c, r):
    """POST /api/update from a session, its head read: refused when another upload runs or the flash has no room for
    it (the body's length, the copy of the running ROMFS image the updater keeps, counted as the partition's size, and
    16 KB to spare); else stage/ is made afresh and the body is taken at each step of the web task."""
    global up
    if up:
        return webconn.refused(c, 503, "another update is being uploaded")
    s = os.statvfs("/")
    need = r[2] + _SPARE
    try:  # the firmware runs from the ROMFS partition: its image is the board's part of the update
        os.stat("/rom/lib/firmware")
        rom = True
        import vfs

        need += len(vfs.rom_ioctl(2, 0))
    except OSError:
        rom = False
    if need > s[0] * s[3]:
        return webconn.refused(c, 413, "the board's flash has %d KB free, this update needs %d KB" % (
            s[0] * s[3] // 1024, need // 1024))
    if c[_N] > r[2]:  # more than the body came with the head: another request after it
        return webconn.refused(c, 400, "the update has bytes after its end")
    _rmtree("stage")
    os.mkdir("stage")
    up = [c, r[2] - c[_N], None, None, 0, None, None, False, rom]  # (the body's first bytes came with the head)
    c[_STATE] = 6
    c[_DUE] = time.ticks_add(time.ticks_ms(), 5000)


def step(c, now):
    """What has come of the body, written (or read past), for 10 ms at most; the answer once it is all there."""
    buf = c[_BUF]
    while time.ticks_diff(time.ticks_ms(), now) < 10:
        n = c[_N]
        if up[1] and n < len(buf):
            k = c[_SOCK].readinto(memoryview(buf)[n:n + min(len(buf) - n, up[1])])
            if k == 0:  # the client is gone: the upload is cut
                return webconn.close(c)
            if k:
                up[1] -= k
                c[_N] = n = n + k
                c[_DUE] = time.ticks_add(now, 5000)
        if time.ticks_diff(now, c[_DUE]) > 0:  # nothing came for 5 s
            return _refused(c, 408, "the upload stopped")
        if not n:
            return
        k = _read(memoryview(buf)[:n])
        if type(k) is str:
            return _refused(c, 400, k)
        buf[:n - k] = buf[k:n]
        c[_N] = n - k
        if up[7]:  # the whole update is in stage/: ready written last, the answer, then the app restarts (ended)
            if up[1] or c[_N]:
                return _refused(c, 400, "the update has bytes after its end")
            with open("stage/ready", "w") as f:
                f.write(up[2])
            import gc

            gc.collect()  # (the free heap as it is, not what the garbage since the last collection leaves)
            return webconn.send(c, 200, '{"ok":true,"version":"%s","answer":"installed at the restart, now","heap":%d}'
                                % (up[2], gc.mem_free()))
        if not k and n == len(buf):
            return _refused(c, 400, "a line of the update is too long")
        if not up[1] and (not k or not c[_N]):  # all of the body is taken, and no END
            return _refused(c, 400, "the update ends before its end")
        if not k:
            return


def _read(mv):
    """Bytes of the body taken: a file's bytes, or a whole line; 0 when a line is not whole yet; a str: why the
    upload is refused."""
    if up[4]:  # a file's bytes
        k = min(len(mv), up[4])
        if up[3]:
            up[3].write(mv[:k])
        up[5].update(mv[:k])
        up[4] -= k
        return _check() or k
    i = bytes(mv).find(b"\n")
    if i < 0:
        return 0
    w = bytes(mv[:i]).split(b" ")
    if up[2] is None:
        if len(w) != 2 or w[0] != b"MPU1" or not 0 < len(w[1]) < 40 or [1 for x in w[1] if not 32 < x < 127]:
            return "not an update of this firmware (multiprise bundle makes it)"
        up[2] = w[1].decode()
    elif w == [b"END"]:
        up[7] = True
    else:
        if len(w) != 4 or w[0] not in (b"all", b"lib", b"rom") or not w[2].isdigit() or len(w[2]) > 7 or \
                len(w[3]) != 64:
            return "a line of the update is not KIND PATH BYTES SHA256"
        if [1 for x in w[1] if not (48 <= x <= 57 or 65 <= x <= 90 or 97 <= x <= 122 or x in b"_./-")]:
            return "the update has a file it may not write"
        p = w[1]
        if b".." in p or not (p[:4] == b"lib/" and (p[-4:] == b".mpy" or p[-3:] == b".gz") or p in (
                b"boot.py", b"main.py", b"updater.mpy", b"deploy.json", b"rom.img", b"rom.json")):
            return "the update has a file it may not write: %s" % p.decode()
        p = p.decode()
        up[4], up[5], up[6] = int(w[2]), hashlib.sha256(), w[3]
        if w[0] == b"all" or (w[0] == b"rom") == up[8]:
            d = "stage"
            for x in p.split("/")[:-1]:
                d += "/" + x
                try:
                    os.mkdir(d)
                except OSError:  # there already
                    pass
            up[3] = open("stage/" + p, "wb")
        if not up[4]:  # an empty file: whole already
            return _check() or i + 1
    return i + 1


def _check():
    """A file whose last byte came: closed, and its SHA-256 checked (why it is refused, or None)."""
    if up[4]:
        return None
    if up[3]:
        up[3].close()
        up[3] = None
    if hexlify(up[5].digest()) != up[6]:
        return "a file of the update is damaged (its SHA-256 differs)"
    return None


def _refused(c, code, why):
    global up
    if up[3]:
        up[3].close()
    _rmtree("stage")
    up = None
    webconn.refused(c, code, why)


def ended(c):
    """Its connection closed: a whole update restarts the app (updater.py installs it at boot); one cut short is
    removed."""
    global up
    if not up or up[0] is not c:
        return
    if up[7]:
        raise SystemExit  # as the console's reboot: a soft reset, the outlets keep their state
    if up[3]:
        up[3].close()
    _rmtree("stage")
    up = None
