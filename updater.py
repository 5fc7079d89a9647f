# Over-the-air updates, at the first instant of boot, before any of the app is imported.
# push writes the new version under stage/ and the file stage/ready last; here it goes in place by two
# directory renames (atomic on LittleFS): lib -> lib.prev, stage/lib -> lib. A version that has not
# reached "ready" after TRIES starts is swapped back. update.json says which version runs and how;
# update.try exists while a new version is on trial (boot.py loads this module only then, or when stage/ is there).
# push also stages deploy.json, the manifest of what will be in place (so the next USB deploy copies nothing it
# brought), and deploy.prev.json, the manifest that holds after a rollback. While files move, there is no
# deploy.json: a manifest that claims files not in place would make deploy skip them, none makes it copy them all.
import json
import machine
import os

TRIES = 2  # failed starts of a new version before it is rolled back (safe mode comes at 3)
STATE = "update.json"
TRYING = "update.try"
MANIFEST = "deploy.json"
PREV = "deploy.prev.json"


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


def _failed_starts():
    m = machine.RTC().memory()  # the record of firmware.boot_count: b"mp" + app starts that did not stay up
    return m[2] if len(m) > 2 and m[:2] == b"mp" else 0


def _apply():
    # Every step can be cut by the power: the intent is written first and each step is repeated safely.
    with open("stage/ready") as f:
        version = f.read().strip()
    s = _state()
    old = s.get("previous") if s.get("state") == "trying" and s.get("version") == version else s.get("version")
    old = old or "unknown"
    _save({"version": version, "previous": old, "state": "trying"})
    open(TRYING, "w").close()
    _rmtree(MANIFEST)
    _rmtree(PREV)  # an older one would describe an older version
    if _exists("lib"):  # not yet moved aside (after a cut between the renames, lib.prev is the old version)
        _rmtree("lib.prev")
        os.rename("lib", "lib.prev")
    os.rename("stage/lib", "lib")
    for name in ("boot.py", "main.py", "updater.mpy", PREV, MANIFEST):  # the manifest last
        _move("stage/" + name, name)
    _rmtree("stage")
    machine.RTC().memory(b"mp\0")
    print("update: %s installed (was %s); it must reach ready within %d starts" % (version, old, TRIES))


def _rollback(s):
    _rmtree(MANIFEST)
    _rmtree("lib.bad")
    os.rename("lib", "lib.bad")
    os.rename("lib.prev", "lib")
    _move(PREV, MANIFEST)
    _save({"version": s.get("previous", "unknown"), "previous": s.get("version"), "state": "rolled back"})
    os.remove(TRYING)
    machine.RTC().memory(b"mp\0")
    print("update: %s failed to start %d times: rolled back to %s" % (s.get("version"), TRIES, s.get("previous")))


def at_boot():
    if _exists("stage/ready") and _exists("stage/lib"):
        _apply()
    elif not _exists("lib") and _exists("lib.prev"):  # lost in the middle of a rollback
        os.rename("lib.prev", "lib")
        _move(PREV, MANIFEST)
    elif _exists("stage"):  # a push cut before its end, or an update whose clean-up was cut
        _rmtree("stage")
    s = _state()
    if s.get("state") == "trying" and _failed_starts() >= TRIES and _exists("lib.prev"):
        _rollback(s)


at_boot()
