"""The application: one asyncio loop with a task per concern, and a watchdog over them."""
import gc
import json
import os
import sys
import time

import machine

import firmware
from firmware.log import log

STATE = "state.json"
HEALTHY_AFTER_S = 60

cfg = None  # the validated configuration
outlets = None  # the arbiter
bus = None  # the I2C bus, or None
saved = None  # the state as last written
wdt = None
tasks = {}
stats = {"state_writes": 0, "heap_min": 0, "ready_ms": 0, "t0": 0, "version": None}


def setup(starting=False):
    """Bring the board up from its configuration (bringup.py, dropped afterwards). Starting the app, the outlets
    take their power-on behaviour; for the REPL helpers (safe mode too) they are left off."""
    return _once("setup", starting)


def _once(name, *a):
    """Run bringup.<name>(*a): code that runs once (at start, at stop) does not stay on the heap."""
    from firmware import bringup

    try:
        return getattr(bringup, name)(*a)
    finally:
        firmware.drop("bringup")
        gc.collect()


def outlet(s):
    """The index of outlet number s (text, from 1), or ValueError."""
    n = int(s)
    if not 0 < n <= len(outlets):
        raise ValueError("no outlet %d" % n)
    return n - 1


def handle(g, cmd, args, usage, *drop):
    """Run the command function _<cmd> of a command module (globals g); a mistake in the arguments is answered
    with the usage; the modules it loaded are dropped."""
    try:
        return g["_" + cmd](args)
    except (ValueError, IndexError) as e:
        return "error: %s; usage: %s" % (e.args[0] if e.args else "bad arguments", usage)
    finally:
        firmware.drop(*drop)


def load(path, default=None):
    """A JSON file from flash, or default when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, obj):
    """Replace a JSON file atomically: a temp file renamed over the old one (power-loss safe on LittleFS)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


def save_state():
    """Write the state if it changed since the last write (atomic replace)."""
    global saved
    from firmware import clock

    snap = {"want": [1 if w else 0 for w in outlets.want]}
    if [t for t in clock.timers if t]:
        snap["timers"] = [t and t[:] for t in clock.timers]
    if snap != saved:
        save(STATE, snap)
        saved = snap
        stats["state_writes"] += 1


async def _saver():
    import asyncio

    while True:
        await asyncio.sleep(cfg["save_interval_s"])
        try:
            save_state()
        except OSError as e:  # flash full or failing: the outlets keep working, the log says why
            log("state: cannot write state.json (%r)" % e)


async def _watchdog():
    """Feed the hardware watchdog only while the loop runs and every task is alive."""
    import asyncio

    t0 = time.ticks_ms()
    healthy = False
    tick = 0
    while True:
        dead = [name for name, t in tasks.items() if t.done()]
        if dead:
            log("app: task %s stopped: the watchdog will reset the board" % ", ".join(dead))
            return
        wdt.feed()
        if not healthy and time.ticks_diff(time.ticks_ms(), t0) > HEALTHY_AFTER_S * 1000:
            healthy = True
            firmware.boot_count(0)
        if tick % 10 == 0:  # a quiet point to collect, and to see the heap as it really is
            gc.collect()
            free = gc.mem_free()
            stats["heap_min"] = min(stats["heap_min"] or free, free)
        tick += 1
        await asyncio.sleep(1)


def _died(loop, ctx):
    """The loop's exception handler: a task that raised is done, and the watchdog notices it."""
    t = ctx.get("future")
    log("app: task %s died: %r" % (([n for n in tasks if tasks[n] is t] or ["?"])[0], ctx.get("exception")))


def _confirm_update():
    """A pushed version that reaches ready is kept (updater.py rolls back one that does not); status says which runs."""
    s = load("update.json")
    if not s:
        return
    if s.get("state") == "trying":
        s["state"] = "ok"
        save("update.json", s)
        os.remove("update.try")
        log("update: %s runs; %s kept for a rollback" % (s["version"], s["previous"]))
    rolled = s.get("state") == "rolled back"
    stats["version"] = s["version"] + (" (rolled back from %s)" % s["previous"] if rolled else "")


def _report(i, on, why):
    log("outlet %d %s (%s)" % (i + 1, "on" if on else "off", why))


async def _main(t0):
    global wdt
    import asyncio

    from firmware import clock, console, wifi

    wdt = machine.WDT()  # armed before the board says it is ready
    outlets.listeners.append(_report)
    outlets.listeners.append(clock.on_switch)
    asyncio.get_event_loop().set_exception_handler(_died)
    for name, coro in (("outlets", outlets.run()), ("saver", _saver()), ("console", console.run()),
                       ("wifi", wifi.keep(cfg["wifi"])), ("clock", clock.keep())):
        tasks[name] = asyncio.create_task(coro)
    await asyncio.sleep_ms(0)  # every task takes its first step (and its memory) before we say ready
    stats["ready_ms"] = time.ticks_diff(time.ticks_ms(), t0)
    gc.collect()
    stats["heap_min"] = gc.mem_free()
    log("app: ready in %d ms, %d bytes free; type help on this console" % (stats["ready_ms"], gc.mem_free()))
    _confirm_update()
    await _watchdog()
    while True:  # a task died: stop feeding and let the watchdog reset the board
        await asyncio.sleep(1)


def run():
    stats["t0"] = t0 = time.ticks_ms()
    from firmware import VERSION

    n = firmware.boot_count(firmware.boot_count() + 1)
    log("multiprise %s, reset cause %d, boot %d in a row" % (VERSION, machine.reset_cause(), n))
    try:
        if not setup(True):  # first, while the heap is still in one piece
            return
        import asyncio

        asyncio.run(_main(t0))
    except KeyboardInterrupt:
        stop()
        log("app: stopped by Ctrl-C; outlets keep their state. REPL helpers: from firmware.repl import *")
    except Exception as e:
        sys.print_exception(e)
        log("app: crashed (%r): resetting" % e)
        time.sleep(1)
        machine.reset()


def stop():
    """A person took over at the REPL: release the watchdog, count this boot as fine, apply changes at once,
    and give the loop's memory to the REPL (its compiler needs it)."""
    if wdt:
        wdt.deinit()
    firmware.boot_count(0)
    tasks.clear()
    o = outlets
    if o:
        o.wake = None
        o.listeners.clear()
        o.settle()
        save_state()
    for name in [m for m in sys.modules if m.startswith("asyncio")]:
        del sys.modules[name]
    clock = sys.modules.get("firmware.clock")
    if clock:  # what it knows of the time outlives it (clock.py takes it back when loaded again)
        firmware.time = (clock.trust, clock.why, clock.synced)
    firmware.drop("console", "wifi", "commands", "clock")  # the REPL helpers load what they use again
    gc.collect()
