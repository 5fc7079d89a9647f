# Over-the-air updates, at the first instant of boot, before any of the app is imported.
# push writes the new version under stage/ and the file stage/ready last; here it goes in place by two
# directory renames (atomic on LittleFS): lib -> lib.prev, stage/lib -> lib. A version that has not
# reached "ready" after _TRIES starts is swapped back. update.json says which version runs and how;
# update.try exists while a new version is on trial (boot.py loads this module only then, or when stage/ is there).
# push also stages deploy.json, the manifest of what will be in place (so the next USB deploy copies nothing it
# brought), and deploy.prev.json, the manifest that holds after a rollback. While files move, there is no
# deploy.json: a manifest that claims files not in place would make deploy skip them, none makes it copy them all.
# A board that runs the firmware from its ROMFS partition gets stage/rom.img instead of stage/lib: the partition's
# image is copied to rom.prev, then the new one written into the partition; update.json says "writing" (or
# "rolling back") while the partition holds neither, and a boot that finds it so writes the whole image again.
import hashlib
import json
import machine
import os
import time
import vfs
from micropython import const

_TRIES = const(2)  # failed starts of a new version before it is rolled back (safe mode comes at 3)
STATE = "update.json"
_TRYING = const("update.try")
_MANIFEST = const("deploy.json")
_PREV = const("deploy.prev.json")
_IMG = const("stage/rom.img")  # the new ROMFS image, as push staged it
_ROM_PREV = const("rom.prev")  # the image the partition held before, kept for a rollback (until the next push)
_CHUNK = const(2048)  # bytes read, hashed and written at a time


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _move(a, b):
    if _exists(a):
        os.rename(a, b)


def _rmtree(p):
    if not _exists(p):
        return
    if os.stat(p)[0] & 0x4000:
        for e in os.ilistdir(p):
            _rmtree(p + "/" + e[0])
        os.rmdir(p)
    else:
        os.remove(p)


def _state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save(s):
    with open(STATE + ".tmp", "w") as f:
        json.dump(s, f)
    os.rename(STATE + ".tmp", STATE)


def _running(s):
    """The version in place: update.json's, else the one the last deploy wrote in its manifest."""
    if s.get("version"):
        return s["version"]
    try:
        with open(_MANIFEST) as f:
            return json.load(f).get("version") or "unknown"
    except (OSError, ValueError):
        return "unknown"


def _failed_starts():
    m = machine.RTC().memory()  # the record of firmware.boot_count: b"mp" + app starts that did not stay up
    return m[2] if len(m) > 2 and m[:2] == b"mp" else 0


def _apply():
    # Every step can be cut by the power: the intent is written first and each step is repeated safely.
    with open("stage/ready") as f:
        version = f.read().strip()
    s = _state()
    old = s.get("previous") if s.get("state") == "trying" and s.get("version") == version else _running(s)
    _save({"version": version, "previous": old, "state": "trying"})
    open(_TRYING, "w").close()
    _rmtree(_MANIFEST)
    _rmtree(_PREV)  # an older one would describe an older version
    if _exists("lib"):  # not yet moved aside (after a cut between the renames, lib.prev is the old version)
        _rmtree("lib.prev")
        os.rename("lib", "lib.prev")
    os.rename("stage/lib", "lib")
    for name in ("boot.py", "main.py", "updater.mpy", _PREV, _MANIFEST):  # the manifest last
        _move("stage/" + name, name)
    _rmtree("stage")
    machine.RTC().memory(b"mp\0")
    print("update: %s installed (was %s); it must reach ready within %d starts" % (version, old, _TRIES))


def _rollback(s):
    _rmtree(_MANIFEST)
    _rmtree("lib.bad")
    os.rename("lib", "lib.bad")
    os.rename("lib.prev", "lib")
    _move(_PREV, _MANIFEST)
    _save({"version": s.get("previous", "unknown"), "previous": s.get("version"), "state": "rolled back"})
    os.remove(_TRYING)
    machine.RTC().memory(b"mp\0")
    print("update: %s failed to start %d times: rolled back to %s" % (s.get("version"), _TRIES, s.get("previous")))


def _sha(path, n):
    """The SHA-256 (hex) of the first n bytes of a file, or of the ROMFS partition (path None), _CHUNK at a time."""
    h = hashlib.sha256()
    if path:
        buf = bytearray(_CHUNK)
        with open(path, "rb") as f:
            while n > 0:
                k = f.readinto(buf)
                if not k:
                    break
                h.update(memoryview(buf)[:min(k, n)])
                n -= k
    else:
        seg = vfs.rom_ioctl(2, 0)
        for o in range(0, n, _CHUNK):
            h.update(seg[o:min(o + _CHUNK, n)])
    return "".join("%02x" % b for b in h.digest())


def _image_bytes():
    """How much of the partition its ROMFS image uses (its header says: magic, then the length as a varint); 0
    when it holds none."""
    seg = vfs.rom_ioctl(2, 0)
    if bytes(seg[:3]) != b"\xd2\xcd\x31":
        return 0
    n, i = 0, 3
    while True:
        b = seg[i]
        i += 1
        n = n << 7 | b & 127
        if b < 128:
            return n + i


def _write(path, n, sha):
    """Write the n bytes of the image in path into the partition as the port does (erase, then write in order),
    read it back, and mount it at /rom again, where the app's modules are imported from."""
    import sys

    t = time.ticks_ms()
    try:
        vfs.umount("/rom")
    except OSError:  # not mounted: the partition held no image at start-up
        pass
    if vfs.rom_ioctl(3, 0, n) < 0:
        raise OSError("update: the ROMFS partition cannot be erased")
    buf = bytearray(_CHUNK)
    with open(path, "rb") as f:
        for o in range(0, n, _CHUNK):
            k = f.readinto(buf)
            while k & 3:  # the flash is written 4 bytes at a time: the image's end is padded as erased flash
                buf[k] = 255
                k += 1
            if vfs.rom_ioctl(4, 0, o, memoryview(buf)[:k]):
                raise OSError("update: the ROMFS partition cannot be written")
    if _sha(None, n) != sha:
        raise OSError("update: the ROMFS partition reads back wrong")
    vfs.mount(vfs.VfsRom(vfs.rom_ioctl(2, 0)), "/rom")
    if "/rom" not in sys.path:  # the port puts them there at start-up only when the partition held an image
        i = sys.path.index(".frozen") + 1
        sys.path[i:i] = ["/rom", "/rom/lib"]
    print("update: ROMFS image of %d bytes written in %d ms" % (n, time.ticks_diff(time.ticks_ms(), t)))


def _apply_rom(s):
    # The partition is copied to rom.prev while it is whole, then update.json says "writing" before the first erase:
    # from then on a boot writes the staged image again, whatever the partition holds, and never copies it.
    with open("stage/ready") as f:
        version = f.read().strip()
    with open("stage/rom.json") as f:
        meta = json.load(f)
    n, sha = meta["bytes"], meta["sha256"]
    if n > len(vfs.rom_ioctl(2, 0)) or _sha(_IMG, n) != sha:  # never write an image that did not arrive whole
        print("update: the staged image of %s is damaged: not installed" % version)
        _rmtree("stage")
        return
    if s.get("state") == "writing" or s.get("state") == "trying" and s.get("version") == version:
        s = {"version": version, "previous": s.get("previous"), "state": "writing", "rom": s.get("rom")}
    else:
        m = _image_bytes()
        _rmtree(_ROM_PREV)  # the flash keeps one: the version before this one's
        if m:
            seg = vfs.rom_ioctl(2, 0)
            with open(_ROM_PREV + ".tmp", "wb") as f:
                for o in range(0, m, _CHUNK):
                    f.write(seg[o:min(o + _CHUNK, m)])
            os.rename(_ROM_PREV + ".tmp", _ROM_PREV)
        s = {"version": version, "previous": _running(s), "state": "writing",
             "rom": _sha(_ROM_PREV, m) if m else None}
    _save(s)
    _rmtree(_MANIFEST)
    _rmtree(_PREV)
    if _sha(None, n) != sha:  # after a cut, the write may have been whole
        _write(_IMG, n, sha)
    s["state"] = "trying"
    _save(s)
    open(_TRYING, "w").close()
    os.remove(_IMG)  # from here a cut leaves stage/ without it: the next boot clears it, as after a /lib update
    for name in ("boot.py", "main.py", "updater.mpy", _PREV, _MANIFEST):  # the manifest last
        _move("stage/" + name, name)
    _rmtree("stage")
    machine.RTC().memory(b"mp\0")
    print("update: %s installed (was %s); it must reach ready within %d starts" % (version, s["previous"], _TRIES))


def _rollback_rom(s):
    # "rolling back" is written first: a cut while rom.prev goes back into the partition brings this back at boot.
    n = os.stat(_ROM_PREV)[6]
    if _sha(_ROM_PREV, n) != s["rom"]:
        print("update: rom.prev is damaged: no rollback")
        return
    s["state"] = "rolling back"
    _save(s)
    _rmtree(_MANIFEST)
    _write(_ROM_PREV, n, s["rom"])
    _move(_PREV, _MANIFEST)
    _save({"version": s.get("previous", "unknown"), "previous": s.get("version"), "state": "rolled back"})
    _rmtree(_TRYING)
    machine.RTC().memory(b"mp\0")
    print("update: %s failed to start %d times: rolled back to %s" % (s.get("version"), _TRIES, s.get("previous")))


def at_boot():
    s = _state()
    if s.get("state") == "rolling back":  # cut while the previous image was written back
        _rollback_rom(s)
    elif _exists("stage/ready") and _exists(_IMG):
        _apply_rom(s)
    elif _exists("stage/ready") and _exists("stage/lib"):
        _apply()
    elif not _exists("lib") and _exists("lib.prev"):  # lost in the middle of a rollback
        os.rename("lib.prev", "lib")
        _move(_PREV, _MANIFEST)
    elif _exists("stage"):  # a push cut before its end, or an update whose clean-up was cut
        _rmtree("stage")
    s = _state()
    if s.get("state") == "trying" and _failed_starts() >= _TRIES:
        if s.get("rom") and _exists(_ROM_PREV):
            _rollback_rom(s)
        elif not s.get("rom") and _exists("lib.prev"):
            _rollback(s)


at_boot()
